"""Li et al. 2018, stage 2: adds the importance-map network (trimmed binary code), initialised from stage 1.

  python -m jcomp.main --config=configs/li2018_stage2.py:init=workdirs/li_s1,bpp=0.5 --workdir=workdirs/li_s2

The importance network reads the encoder features and gives p in [0, 1] per position, quantized to
`importance_levels` levels; the first ceil(level * K / levels) of the K bit-planes are kept
(`models/importance.py::li_mask`). The rate term is Li et al.'s content-weighted one: beta times the number
of kept bits per symbol above a threshold t = bpp * 64 / K (`bpp` counts kept bits per pixel before entropy
coding; the context model codes them in fewer), at a 10x lower learning rate than stage 1.
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="imagenet", size="compact", init="", bpp="0.5")
  c = config_lib.from_file(f"li2018_stage1.py:data={a.data},size={a.size}", __file__)
  c.model.importance = "li"
  c.init_from = a.init
  c.loss.beta = 2000.0
  c.loss.target_bits_per_symbol = float(a.bpp) * 64 / c.model.num_channels
  c.optim.ae_lr /= 10
  return c
