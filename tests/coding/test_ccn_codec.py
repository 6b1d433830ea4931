"""The CCN context models (logits and GMM heads) through the codec. (The sub-block coder against the serial
reference: tests/models/test_context_contract.py; the mixture's bin masses: tests/models/test_gmm.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from jcomp import config_lib

from jcomp.coding.codec import Codec
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import random_variables


def _tiny_ccn_config(spatial_codes: int = 1, name: str = "ccn"):
  c = config_lib.base()
  c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 4, 8, 1, 1
  c.model.upsample, c.crop_size = "subpixel", 32
  c.model.context.name, c.model.context.kernel_size = name, (1, 3, 3)
  c.model.context.group, c.model.context.spatial_codes = 2, spatial_codes
  if name == "ccn_gmm":
    c.model.context.num_components = 2
  return c


@pytest.fixture(scope="module")
def codec():
  config = _tiny_ccn_config()
  return Codec(config, random_variables(config))


@pytest.fixture(scope="module")
def gmm_codec():
  config = _tiny_ccn_config(name="ccn_gmm")
  return Codec(config, random_variables(config))


@pytest.mark.parametrize("name", ["ccn", "ccn_gmm"])
def test_tiny_ccn_model_round_trips_through_the_codec(codec, gmm_codec, name):
  codec = gmm_codec if name == "ccn_gmm" else codec
  image = synthetic_image(3, 44, 60)  # not a multiple of 8: exercises padding
  result = codec.compress(image)
  header, symbols, _ = codec.decompress_symbols(result.data)
  np.testing.assert_array_equal(symbols, codec.analyze(image)["symbols"])
  np.testing.assert_array_equal(codec.decompress(result.data), codec.reconstruct(image))
  assert result.bpp_real * image.shape[0] * image.shape[1] >= result.bits_ideal
