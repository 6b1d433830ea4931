"""Mentzer et al. 2018, operating point 'med' (K=32, t=1.2 bits/symbol, ~0.6 bpp): the paper's model B.

  python -m jcomp.main --config=configs/med.py --workdir=workdirs/med
  python -m jcomp.main --config=configs/med.py:data=PATH/imagenet-sample-256 --workdir=workdirs/med

Paper (1 GPU, 6 ImageNet epochs, ~24 h): Kodak 0.677 bpp, MS-SSIM 0.987. Paper-size network (9.7 M params,
~90 GFLOP per 160x160 crop per step). Data: ImageNet by default; `data=` takes synthetic|imagenet|tfds:NAME|a folder.
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="imagenet", rate="med")
  c = config_lib.operating_point(config_lib.base(), a.rate)
  return config_lib.set_data(c, a.data)
