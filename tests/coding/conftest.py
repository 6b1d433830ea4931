"""Fixtures of the coding tests: a tiny random Mentzer model (K = 4, trimmed) saved as a model directory, its
codec, and a real file of it on a small image."""

from __future__ import annotations

import numpy as np
import pytest

from jcomp import config_lib, zoo
from jcomp.coding.codec import Codec
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import random_variables


def tiny_codec_config(seed: int = 0):
  """The smallest Mentzer model: 4 latent channels, 8 features, one residual block."""
  c = config_lib.base()
  c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 4, 8, 1, 1
  c.model.upsample, c.model.context.features, c.crop_size = "subpixel", 8, 32
  c.seed = seed
  return c


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
  config = tiny_codec_config()
  path = str(tmp_path_factory.mktemp("tiny_model"))
  zoo.save(config, random_variables(config, 0), path, dtype="float32")
  return path


@pytest.fixture(scope="session")
def tiny_codec(tiny_model_dir) -> Codec:
  return Codec.load(tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_file(tiny_codec) -> tuple[np.ndarray, bytes]:
  """(image (20, 28, 3) uint8, its .jcomp bytes): not a multiple of the stride, so padding is exercised."""
  image = synthetic_image(11, 20, 28)
  return image, tiny_codec.compress(image).data
