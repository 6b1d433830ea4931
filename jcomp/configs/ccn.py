"""The compact autoencoder (configs/compact.py) with a CCN context model (Li et al. 2019) instead of the 3D one.

  python -m jcomp.main --config=configs/ccn.py:bpp=0.5,data=PATH/imagenet-sample-256 --workdir=workdirs/ccn050

CCN (jcomp/models/ccn.py): grouped masked 5x5 convolutions, 3 blocks per code channel, one residual unit.
Code 0 has a raster-causal spatial context; codes 1 .. K-1 are sub-blocks, each decoded at once given the
earlier channels (jcomp/coding/subblock.py): 316 sequential steps for a Kodak latent (K = 32, 64 x 96)
instead of the 3D model's 346, and about two parallel passes of work. `--config.model.context.spatial_codes=0`
gives K = 32 steps (code 0 then has no context, a learned marginal).
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="imagenet", bpp="0.5")
  c = config_lib.set_data(config_lib.base(), a.data)
  c.model.num_blocks, c.model.units_per_block = 2, 2  # as configs/compact.py
  c.model.dtype = "bfloat16"
  c.loss.target_bits_per_symbol = float(a.bpp) * 64 / c.model.num_channels
  c.model.context.name = "ccn"
  c.model.context.kernel_size = (1, 5, 5)  # CCN reads the spatial (kh, kw) = the last two
  c.model.context.group = 3                # blocks per code channel in the hidden layers
  c.model.context.spatial_codes = 1        # leading codes with a raster-causal spatial context (0 or 1)
  return c
