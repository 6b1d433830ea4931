"""The shipped models load by name and round-trip an image through the current file format."""

import numpy as np
import pytest

from jcomp import zoo
from jcomp.coding.codec import Codec
from jcomp.data.synthetic_images import synthetic_image


def test_at_least_two_models_are_shipped_with_cards():
  names = zoo.names()
  assert len(names) >= 2
  for name in names:
    card = zoo.card(name)
    assert card["name"] == name and 0 < card["kodak_bpp"] < 2 and 0.5 < card["kodak_ms_ssim"] < 1


@pytest.mark.parametrize("name", zoo.names())
def test_shipped_model_round_trips_an_image_exactly(name):
  codec = Codec.load(name)
  image = synthetic_image(5, 40, 56)  # not a multiple of 8: padding is removed on decode
  r = codec.compress(image)
  decoded = codec.decompress(r.data)
  assert decoded.shape == image.shape
  np.testing.assert_array_equal(decoded, codec.reconstruct(image))
  assert r.bpp_real >= r.bpp_est > 0
