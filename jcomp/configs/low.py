"""Mentzer et al. 2018, operating point 'low' (K=32, t=0.4 bits/symbol, ~0.2 bpp): the paper's model A.

  python -m jcomp.main --config=configs/low.py --workdir=workdirs/low
  python -m jcomp.main --config=configs/low.py:data=PATH/imagenet-sample-256 --workdir=workdirs/low

Paper (1 GPU, 6 ImageNet epochs, ~24 h): Kodak 0.370 bpp, MS-SSIM 0.975. Paper-size network (9.7 M params,
~90 GFLOP per 160x160 crop per step). Data: ImageNet by default; `data=` takes synthetic|imagenet|tfds:NAME|a folder.
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="imagenet", rate="low")
  c = config_lib.operating_point(config_lib.base(), a.rate)
  return config_lib.set_data(c, a.data)
