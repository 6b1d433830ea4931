"""The tiny config for tests: a few thousand parameters, 32x32 crops, synthetic images; compiles in seconds.

  python -m jcomp.main --config=configs/tiny.py --workdir=workdirs/tiny --config.num_train_steps=20
"""

from jcomp import config_lib


def get_config(arg=None):
  a = config_lib.parse_arg(arg, data="synthetic")
  c = config_lib.set_data(config_lib.base(), a.data)
  c.model.num_channels, c.loss.target_bits_per_symbol = 4, 1.0
  c.model.features, c.model.num_blocks, c.model.units_per_block = 8, 1, 1
  c.model.upsample = "subpixel"
  c.model.context.features = 8
  c.crop_size, c.batch_size = 32, 4
  c.data.num_eval_images, c.data.eval_crop_size = 4, 32
  c.num_train_steps, c.log_every_steps, c.eval_every_steps, c.checkpoint_every_steps = 20, 5, 10, 10
  c.optim.ae_lr, c.optim.context_lr = 1e-3, 1e-3
  return c
