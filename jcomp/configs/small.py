"""The small family: Mentzer et al.'s system narrowed for a 2-core CPU (and cheap GPU sweeps).

  python -m jcomp.main --config=configs/small.py:rate=med,data=PATH/imagenet-sample-256 --workdir=workdirs/small_med

n = 64 instead of 128, 1 residual block of 2 units instead of 5 of 3, K = 16 (low/med) or 32 (high), sub-pixel
upsampling: ~0.6 M parameters and ~8 GFLOP per 160x160 crop per step against the paper-size ~90 GFLOP (about
11x cheaper per image; `benchmarks/train_throughput.py` measures img/s for both). Rates as the paper's
operating points, in bpp: t is scaled so that bpp = t K / 64 matches low/med/high (0.2 / 0.6 / 1.0 bpp).
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="synthetic", rate="med")
  return config_lib.small_family(config_lib.set_data(config_lib.base(), a.data), a.rate)
