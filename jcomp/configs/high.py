"""Mentzer et al. 2018, operating point 'high' (K=64, t=1.0 bits/symbol, ~1.0 bpp): the paper's model C.

  python -m jcomp.main --config=configs/high.py --workdir=workdirs/high
  python -m jcomp.main --config=configs/high.py:data=PATH/imagenet-sample-256 --workdir=workdirs/high

Paper (1 GPU, 6 ImageNet epochs, ~24 h): Kodak 1.051 bpp, MS-SSIM 0.992. Paper-size network (9.7 M params,
~90 GFLOP per 160x160 crop per step). Data: ImageNet by default; `data=` takes synthetic|imagenet|tfds:NAME|a folder.
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="imagenet", rate="high")
  c = config_lib.operating_point(config_lib.base(), a.rate)
  return config_lib.set_data(c, a.data)
