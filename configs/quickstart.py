"""The README's first command: the small 'med' model on the embedded procedural images, ~10 min on 2 CPU cores.

  python -m jcomp.main --config=configs/quickstart.py --workdir=workdirs/quickstart

Leaves checkpoints, config.json and TensorBoard events in the workdir; `jcomp compress --model=workdirs/quickstart
IMAGE` then codes real images with it (it has only seen procedural images: expect a poor rate-distortion).
"""

from configs import small


def get_config(arg=None):
  c = small.get_config("rate=med,data=synthetic")
  c.crop_size, c.batch_size = 128, 8
  c.num_train_steps, c.log_every_steps, c.eval_every_steps, c.checkpoint_every_steps = 400, 25, 200, 200
  c.optim.lr_decay_steps = 300
  return c
