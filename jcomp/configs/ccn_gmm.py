"""configs/ccn.py with a Gaussian mixture head (Li et al. 2019): per code, 3 components (mean, scale, weight)
discretised over the quantizer's bins (jcomp/models/gmm.py) instead of L logits.

  python -m jcomp.main --config=configs/ccn_gmm.py:bpp=0.5,data=PATH/imagenet-sample-256 --workdir=workdirs/gmm050

Training loss: the bits of the discretised mixture (log masses of the centers' bins, outer bins to +-inf).
Bitstreams: the sub-block decoder (jcomp/coding/subblock.py) turns the mixture into integer tables inside its
jitted steps (`probabilities.gmm_to_freqs_jax`), so `jcomp compress / decompress` work as for configs/ccn.py.
"""

from jcomp import config_lib


def get_config(arg=None):
  c = config_lib.from_file(f"ccn.py:{arg or ''}", __file__)
  c.model.context.name = "ccn_gmm"
  c.model.context.num_components = 3  # M Gaussians per code (3M outputs per code in the last layer)
  return c
