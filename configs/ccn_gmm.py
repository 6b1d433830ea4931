"""configs/ccn.py with a Gaussian mixture head (Li et al. 2019): per code, 3 components (mean, scale, weight)
discretised over the quantizer's bins (jcomp/models/gmm.py) instead of L logits.

  python -m jcomp.main --config=configs/ccn_gmm.py:bpp=0.5,data=PATH/imagenet-sample-256 --workdir=workdirs/gmm050

Training loss: the bits of the discretised mixture (log masses of the centers' bins, outer bins to +-inf).
Bitstreams: the sub-block decoder (jcomp/coding/subblock.py) turns the mixture into integer tables inside its
jitted steps (`probabilities.gmm_to_freqs_jax`), so `jcomp compress / decompress` work as for configs/ccn.py.
"""

import importlib.util
import os


def get_config(arg=None):
  spec = importlib.util.spec_from_file_location(
      "ccn", os.path.join(os.path.dirname(os.path.abspath(__file__)), "ccn.py"))
  ccn = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(ccn)
  c = ccn.get_config(arg)
  c.model.context.name = "ccn_gmm"
  c.model.context.num_components = 3  # M Gaussians per code (3M outputs per code in the last layer)
  return c
