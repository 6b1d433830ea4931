"""The `progressive` entropy coder of binary codes (SPEC §4) on synthetic codes; ~1 min on 2 CPU cores.

  python -m jcomp.main --config=configs/progressive_synthetic.py --workdir=workdirs/progressive
  python -m jcomp.data.synthetic_codes --count=16 --out=codes/test     # held-out samples (seeds 0..15)
  python -m jcomp.progressive_infer --workdir=workdirs/progressive --code=codes/test

Codes are 32x32x(4 layers x 4 bits) from `jcomp.data.synthetic_codes`, drawn in memory. To train on binary
codes of a binarized jcomp model (Li et al. config) instead, save each image's symbols (h, w, K) as .npz
(key `codes`) into a folder and pass `--config.progressive.data.source=FOLDER`, with
`--config.progressive.layer_depth` and `layer_count` such that K = layers x layer_depth.
"""

import ml_collections

from jcomp import config_lib


def get_config(arg=None):
  del arg
  c = config_lib.base()
  c.system = "progressive"
  p = c.progressive = ml_collections.ConfigDict()
  # --- model (jcomp.models.progressive); these fields identify a workdir's model ---
  p.layer_depth = 4             # K, bits per layer
  p.layer_count = 4             # N, max layers the model supports
  p.coded_layer_count = 0       # code only the first layers (0 = all layers of the code)
  p.features = 8                # F, channels per bit-plane of the masked convs (and of the 2D convs)
  p.cond_layers = 2             # unmasked 2D convs over previous layers
  p.num_residual_units = 1      # pairs of masked 3D convs (mask B) after the first (mask A)
  p.kernel_size = 3             # spatial kernel s (odd)
  p.dtype = "float32"
  # --- optimization (jcomp.progressive_train) ---
  p.lr = 3e-3                   # Adam, cosine-decayed to lr * lr_final_fraction over num_train_steps
  p.lr_final_fraction = 0.05
  p.grad_clip = 1.0
  # --- data (jcomp.progressive_train) ---
  p.data = ml_collections.ConfigDict()
  p.data.source = "synthetic"   # 'synthetic' (jcomp.data.synthetic_codes, in memory) or a folder of .npz
  p.data.height = 32            # training code size (synthetic size, or crop of folder codes)
  p.data.width = 32
  p.data.layers = 4             # synthetic codes: layers N of the generated codes
  p.data.num_eval = 16          # held-out codes: synthetic seeds 0..num_eval-1, or a folder's last files
  c.batch_size = 8
  c.num_train_steps = 200
  c.log_every_steps = 25
  c.eval_every_steps = 100
  c.checkpoint_every_steps = 100
  return c
