"""The `progressive` entropy coder of binary codes (SPEC §4) on synthetic codes; ~1 min on 2 CPU cores.

  python -m jcomp.main --config=configs/progressive_synthetic.py --workdir=workdirs/progressive
  jcomp synthetic-codes --count=16 --out=codes/test            # held-out samples (seeds 0..15)
  jcomp code --model=workdirs/progressive codes/test           # real coding, bit-exact check, ratios

Codes are 32x32x(4 layers x 4 bits) from `jcomp.data.synthetic_codes`, drawn in memory (the data source
'synthetic_codes'). To train on binary codes of a binarized jcomp model (Li et al. config) instead, save each
image's symbols (h, w, K) as .npz (key `codes`) into a folder and pass `--config.data.source=codes:FOLDER`,
with `--config.model.context.layer_depth` and `layer_count` such that K = layers x layer_depth.
"""

from jcomp import config_lib


def get_config(arg=None):
  del arg
  c = config_lib.base()
  c.system = "progressive"
  # --- data: codes (height, width, layers, bits per layer); the first 16 held-out seeds evaluate ---
  c.data.source, c.data.train_split, c.data.eval_split = "synthetic_codes", "train", "test"
  c.data.code_shape = (32, 32, 4, 4)
  c.data.num_eval_images, c.data.eval_crop_size = 16, 32
  c.crop_size, c.batch_size = 32, 8
  # --- model: the context model alone (jcomp.models.progressive); these fields identify a workdir's model ---
  m = c.model
  m.num_centers = 2             # bits
  m.context.name = "progressive"
  m.context.layer_depth = 4     # K, bits per layer
  m.context.layer_count = 4     # N, max layers the model supports
  m.context.coded_layer_count = 0  # code only the first layers (0 = all layers of the code)
  m.context.features = 8        # F, channels per bit-plane of the masked convs (and of the 2D convs)
  m.context.cond_layers = 2     # unmasked 2D convs over previous layers
  m.context.num_residual_units = 1  # pairs of masked convs (mask B) after the first (mask A)
  m.context.kernel_size = (1, 3, 3)  # spatial kernel s = the last entry (odd)
  # --- optimization: Adam, cosine-decayed to lr x 0.05 over num_train_steps ---
  c.optim.context_lr, c.optim.schedule, c.optim.lr_decay, c.optim.grad_clip = 3e-3, "cosine", 0.05, 1.0
  c.num_train_steps = 200
  c.log_every_steps = 25
  c.eval_every_steps = 100
  c.checkpoint_every_steps = 100
  return c
