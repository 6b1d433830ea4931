"""The shipped models load by name and round-trip an image through the current file format; their cards name
the commands of their recipes (configs/zoo.py)."""

import os

import numpy as np
import pytest

from jcomp import zoo
from jcomp.coding.codec import Codec
from jcomp.data.synthetic_images import synthetic_image


def test_at_least_four_rates_from_0_15_to_1_bpp_are_shipped_with_cards():
  names = zoo.names()
  rates = sorted(zoo.card(n)["kodak_bpp"] for n in names)
  assert len(names) >= 4 and rates[0] < 0.2 and rates[-1] > 0.95, rates  # Kodak bpp, issue 5: ~0.15-1.0
  for name in names:
    card = zoo.card(name)
    assert card["name"] == name and 0 < card["kodak_bpp"] < 2 and 0.5 < card["kodak_ms_ssim"] < 1
    assert card["imagenettest"]["n"] == 100 and card["train_steps"] > 0 and card["images_seen"] > 0
    size = os.path.getsize(os.path.join(zoo.ZOO_DIR, name, zoo.WEIGHTS_FILE))
    assert size <= 20e6, f"{name}: {size / 1e6:.1f} MB"


@pytest.mark.parametrize("name", zoo.names())
def test_shipped_model_round_trips_an_image_exactly(name):
  codec = Codec.load(name)
  image = synthetic_image(5, 40, 56)  # not a multiple of 8: padding is removed on decode
  r = codec.compress(image)
  decoded = codec.decompress(r.data)
  assert decoded.shape == image.shape
  np.testing.assert_array_equal(decoded, codec.reconstruct(image))
  assert r.bpp_real >= r.bpp_est > 0
  card = zoo.card(name)
  assert codec.float_id.hex() == card["model_id"], "card.json is stale: re-measure the model"
  assert r.data[4] == 4 and codec.model_id.hex() == card["portable_model_id"], (
      "the integer context model changed: re-run jcomp quantize-context")


@pytest.mark.parametrize("name", zoo.names())
def test_card_names_the_commands_of_the_models_recipe(name):
  from configs import zoo as recipes  # pylint: disable=g-import-not-at-top
  commands = recipes.commands(name)
  assert zoo.card(name)["recipe"] == commands, "card.json is stale: copy configs/zoo.py's commands(name)"
  with open(os.path.join(zoo.ZOO_DIR, name, "card.md")) as f:
    card_md = f.read()
  assert all(c in card_md for c in commands), "card.md does not list the recipe's commands"
