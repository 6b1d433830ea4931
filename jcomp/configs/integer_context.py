"""The integer context model of a trained model (issue: portable bitstreams; `jcomp.models.integer`).

  jcomp quantize-context --config=configs/integer_context.py:model=mentzer2018-compact-0.30

Post-training quantization with the autoencoder frozen: the context model's activations are calibrated on the
latents of `num_images` training images (center crops), weights are rounded per output channel, and the result
is written as `integer_context.npz` beside the model's weights (`out`, default the model's own directory), which
makes the codec write format-4 files whose symbols decode on any backend. 12-bit weights and activations with
int32 accumulators and 1/64-nat logits cost +0.01 % to +0.1 % rate on Kodak for the shipped models (their
cards; `benchmarks/integer_rate.py` measures it), within the 1 % budget, so no quantization-aware fine-tuning.
"""

import ml_collections

from jcomp import config_lib

DATA = "../shared/data/imagenet-sample-256"  # the zoo's training images (their first 90 % are the train split)


def get_config(arg=None):
  a = config_lib.parse_arg(arg, model="mentzer2018-compact-0.30", data=DATA)
  c = ml_collections.ConfigDict()
  c.model = a.model          # zoo name, model directory or workdir
  c.data = a.data            # calibration images: a folder/glob, 'synthetic' or tfds:NAME (config_lib.set_data)
  c.num_images = 16          # calibration images (training split), center-cropped
  c.crop_size = 256
  c.weight_bits = 12         # signed, per output channel
  c.activation_bits = 12     # signed, per layer (ReLU outputs use the positive half)
  c.logit_bits = 6           # logits in units of 2**-6 nat
  c.out = ""                 # directory for integer_context.npz ('' = the model's own directory)
  return c
