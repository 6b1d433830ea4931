"""The README's first command: the small 'med' model on the embedded procedural images, < 15 min on 2 CPU cores.

  python -m jcomp.main --config=configs/quickstart.py --workdir=workdirs/quickstart

Leaves checkpoints, config.json and TensorBoard events in the workdir; `jcomp compress --model=workdirs/quickstart
IMAGE` then codes real images with it (it has only seen procedural images: expect a poor rate-distortion).
"""

from jcomp import config_lib


def get_config(arg=None):
  del arg
  c = config_lib.small_family(config_lib.set_data(config_lib.base(), "synthetic"), "med")
  c.crop_size, c.batch_size = 128, 8
  c.num_train_steps, c.log_every_steps, c.eval_every_steps, c.checkpoint_every_steps = 300, 25, 150, 150
  c.optim.lr_decay_steps = 250
  return c
