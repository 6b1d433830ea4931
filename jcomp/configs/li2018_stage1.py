"""Li et al. 2018 (content-weighted compression), stage 1: binarized code, no importance map.

  python -m jcomp.main --config=configs/li2018_stage1.py:data=PATH/imagenet-sample-256 --workdir=workdirs/li_s1
  python -m jcomp.main --config=configs/li2018_stage2.py:data=...,init=workdirs/li_s1 --workdir=workdirs/li_s2

Sizes (`size=`): `compact` (n = 128, 2 blocks of 2 units, K = 64 bits), `small` (the CPU family of
configs/small.py: n = 64, 1 block of 2 units, sub-pixel upsampling, K = 32 bits, 8 importance levels of 4
bits each, 128x128 crops, batch 8), `tiny` (tests).

The shared autoencoder, a sigmoid + 0.5-threshold binarizer with straight-through gradient
(`models/quantizer.py::Binarizer`), and the shared 3D masked context model over the bits (L = 2). Stage 1
trains for distortion and coding cost with all K bits kept.
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="imagenet", size="compact")
  c = config_lib.set_data(config_lib.base(), a.data)
  c.system = "li2018"
  c.model.quantizer, c.model.num_centers, c.model.importance = "binarizer", 2, "none"
  c.model.num_channels = 64
  c.loss.target_bits_per_symbol = 0.0  # stage 1: the rate term only shapes the context model's bits
  c.loss.beta = 0.0
  if a.size == "compact":
    c.model.num_blocks, c.model.units_per_block = 2, 2
  elif a.size == "small":
    c.model.num_channels, c.model.importance_levels = 32, 8
    c.model.features, c.model.num_blocks, c.model.units_per_block = 64, 1, 2
    c.model.upsample, c.crop_size, c.batch_size = "subpixel", 128, 8
  elif a.size == "tiny":
    c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 8, 8, 1, 1
    c.model.upsample, c.model.context.features, c.crop_size, c.batch_size = "subpixel", 8, 32, 4
    c.data.num_eval_images, c.data.eval_crop_size = 4, 32
  else:
    raise ValueError(f"unknown size {a.size!r}; choose 'compact', 'small' or 'tiny'")
  return c
