"""Fine-tunes a shipped compact model (or any compact workdir) to another rate, on a CPU-size budget.

  python -m jcomp.main --config=configs/compact_finetune.py:init=mentzer2018-compact-0.90,bpp=0.5,scale=0.1,data=PATH/imagenet-sample-256 --workdir=workdirs/ft050

The shipped 0.30 and 0.90 models' importance maps saturated during training (logits 12-111 on Kodak, so the
sigmoid's gradient is ~0 and all K channels are kept): their rate could then move only through the context
model's input, and 80-step fine-tunes toward another rate did not move it. `scale` multiplies the importance
logit (`model.importance_scale`) so the map starts in its active range, where the rate term reaches it
(0.1 keeps ~94 % of the 0.90 model's channels at first, 0.005 ~56 % of the 0.30 model's; measure the start
with `jcomp eval` on a few images). beta = 5000 as the shipped runs; both networks at `lr` with a 50-step
linear warmup (a fresh Adam at full LR on trained weights wrecked quality), x0.1 at 3/4 of `steps`; batch 8
of 128x128 crops and float32 convolutions (~8 s a step on 2 CPU cores).
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="imagenet", init="mentzer2018-compact-0.30", bpp="0.17", scale="0.005",
                           steps="300", lr="1.5e-4")
  c = config_lib.from_file(f"compact.py:bpp={a.bpp},data={a.data}", __file__)
  c.init_from = a.init
  c.model.importance_scale = float(a.scale)
  c.model.dtype = "float32"
  c.batch_size, c.crop_size = 8, 128
  c.loss.beta = 5000.0
  c.optim.ae_lr = c.optim.context_lr = float(a.lr)
  c.optim.warmup_steps = 50
  c.num_train_steps = int(a.steps)
  c.optim.lr_decay_steps = max(c.num_train_steps * 3 // 4, 1)
  c.log_every_steps, c.checkpoint_every_steps, c.keep_checkpoints = 10, 25, 2
  c.eval_every_steps = c.num_train_steps
  c.data.num_eval_images = 8
  return c
