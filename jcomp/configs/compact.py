"""Mentzer et al. 2018 at reduced depth, for a small compute budget (one GPU for minutes, not a day).

  python -m jcomp.main --config=configs/compact.py:bpp=0.5,data=PATH/imagenet-sample-256 --workdir=workdirs/c050
  python -m jcomp.main --config=configs/compact.py:bpp=1.2,channels=64,data=... --config.init_from=NAME_K32

The paper's autoencoder (n = 128, K = 32, L = 6, the same 3D context model) with 2 residual blocks of 2 units
instead of 5 of 3: ~3.4 M parameters and ~26 GFLOP per 160x160 crop per step instead of ~90, which buys
3.5x more steps for the same compute. `bpp` sets the target t = bpp * 64 / K (bits per symbol). bfloat16
convolutions (set `--config.model.dtype=float32` on CPU if preferred). The shipped zoo models are this config;
their recipes, stage by stage, are `configs/zoo.py`.
`channels` sets K: 64 for rates near 1 bpp and above (the reference code's high point; with K = 32 and L = 6
a rate is at most 32 log2(6) / 64 = 1.29 bpp); `centers` sets L (11 refines a 6-center model: midpoints).
`init_from` a smaller model grows it (`jcomp.models.surgery`).
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="imagenet", bpp="0.5", channels="32", centers="6")
  c = config_lib.set_data(config_lib.base(), a.data)
  c.model.num_channels, c.model.num_centers = int(a.channels), int(a.centers)
  c.model.num_blocks, c.model.units_per_block = 2, 2
  c.model.dtype = "bfloat16"
  c.loss.target_bits_per_symbol = float(a.bpp) * 64 / c.model.num_channels
  return c
