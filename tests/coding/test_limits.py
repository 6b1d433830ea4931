"""The pixel limit (`jcomp.limits`) and the header-against-model checks (`jcomp.coding.header_check`)."""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import pytest

from jcomp import limits
from jcomp.coding import bitstream, header_check
from jcomp.coding.codec import STRIDE

K = 32
MODEL = dict(system="mentzer2018", num_channels=K, stride=8)


def _header(height=512, width=765, **fields) -> bitstream.Header:
  """A header consistent with MODEL for a height x width image, minimal padding; `fields` override."""
  h, w = -(-height // 8), -(-width // 8)
  values = dict(model_id=bytes(16), system="mentzer2018", image_height=height, image_width=width,
                pad_bottom=8 * h - height, pad_right=8 * w - width, latent_shape=(K, h, w))
  values.update(fields)
  return bitstream.Header(**values)


@pytest.fixture(autouse=True)
def no_env_limit(monkeypatch):
  monkeypatch.delenv(limits.ENV_VAR, raising=False)


def test_the_limit_is_the_argument_else_the_environment_else_the_default(monkeypatch):
  assert limits.resolve() == limits.DEFAULT_MAX_PIXELS == 1 << 26
  assert limits.resolve(1000) == 1000 and limits.resolve(0) == limits.NO_LIMIT
  monkeypatch.setenv(limits.ENV_VAR, "12_000")
  assert limits.resolve() == 12000 and limits.resolve(5) == 5


@pytest.mark.parametrize("value", [-1, 2.5, "100", True])
def test_a_limit_that_is_not_a_non_negative_int_is_refused(value):
  with pytest.raises(limits.LimitError, match="non-negative integer"):
    limits.resolve(value)


def test_a_bad_environment_value_is_refused_in_one_line(monkeypatch):
  monkeypatch.setenv(limits.ENV_VAR, "lots")
  with pytest.raises(limits.LimitError, match=f"^{limits.ENV_VAR} must be a non-negative integer.*'lots'"):
    limits.check_pixels(1, 1)


def test_check_pixels_allows_the_limit_and_refuses_one_pixel_more():
  limits.check_pixels(100, 100, 10_000)
  with pytest.raises(limits.LimitError) as e:
    limits.check_pixels(100, 101, 10_000)
  assert str(e.value).startswith("image of 101 x 100 = 10,100 pixels exceeds the limit of 10,000")
  assert "\n" not in str(e.value)
  limits.check_pixels(1 << 40, 1 << 40, limits.NO_LIMIT)


def test_check_pixels_is_exact_where_64_bit_products_wrap():
  h, w = 274177, 67280421310721  # h * w = 2**64 + 1: 1 in uint64
  assert np.prod(np.array([h, w], np.uint64)) == 1
  with pytest.raises(limits.LimitError, match="18,446,744,073,709,551,617 pixels"):
    limits.check_pixels(h, w, 10)
  with pytest.raises(limits.LimitError):
    limits.check_pixels((1 << 64) - 1, (1 << 64) - 1)


def test_check_array_reads_only_the_shape():
  big = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (50_000, 50_000, 3), (0, 0, 0))  # no memory
  with pytest.raises(limits.LimitError, match="50000 x 50000"):
    limits.check_array(big)
  limits.check_array(np.zeros((4, 4, 3), np.uint8), 16)
  limits.check_array(np.zeros(5, np.uint8), 1)  # not an image: left to the caller


def test_a_consistent_header_passes_and_gives_the_latent_shape():
  assert header_check.check_header(_header(), **MODEL) == (K, 64, 96)
  assert header_check.check_header(_header(1, 1), **MODEL) == (K, 1, 1)
  assert STRIDE == MODEL["stride"]  # the codec's stride, which the cases here assume


@pytest.mark.parametrize("fields, message", [
    (dict(system="li2018"), "file is for system 'li2018', this model is 'mentzer2018'"),
    (dict(latent_shape=(K, 64)), "latent shape has 2 dims, expected 3"),
    (dict(latent_shape=()), "latent shape has 0 dims"),
    (dict(latent_shape=((1 << 64) - 1,) * 16), "latent shape has 16 dims"),
    (dict(latent_shape=(K + 1, 64, 96)), f"latent has {K + 1} channels, this model has {K}"),
    (dict(latent_shape=(0, 64, 96)), f"latent has 0 channels, this model has {K}"),
    (dict(pad_bottom=8, latent_shape=(K, 65, 96)), r"padding \(8, 3\) must be less than the stride 8"),
    (dict(pad_right=(1 << 64) - 1), "must be less than the stride"),
    (dict(latent_shape=(K, 64, 95)), "latent 64 x 95 does not match the padded image 512 x 768"),
    (dict(latent_shape=(K, 0, 0)), "latent 0 x 0 does not match"),
    (dict(latent_shape=(K, 1 << 40, 1 << 40)), "does not match the padded image 512 x 768"),
])
def test_a_header_that_disagrees_with_the_model_is_refused_in_one_line(fields, message):
  with pytest.raises(header_check.HeaderError, match=message) as e:
    header_check.check_header(_header(**fields), **MODEL)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("height, width", [(8193, 8192), (8, 16777216), (100_000, 100_000),
                                           ((1 << 64) - 1, (1 << 64) - 1)])
def test_a_header_over_the_pixel_limit_is_refused_before_anything_else_is_read(height, width):
  t = time.perf_counter()
  with pytest.raises(limits.LimitError, match=f"decoded image of {width} x {height}"):
    header_check.check_header(_header(height, width, pad_bottom=0, pad_right=0), **MODEL)
  assert time.perf_counter() - t < 0.1


def test_latent_that_overflows_64_bits_is_refused_not_wrapped():
  h, w = 274177, 67280421310721
  header = _header(8 * h, 8 * w, latent_shape=(K, h, w))
  with pytest.raises(limits.LimitError):
    header_check.check_header(header, **MODEL)
  with pytest.raises(header_check.HeaderError, match="untiled latent of .* = 18,446,744,073,709,551,617 positions"):
    header_check.check_header(header, **MODEL, max_pixels=limits.NO_LIMIT)  # consistent, but must be tiled
  tiled = dataclasses.replace(header, extras={"tile": 256})
  assert header_check.check_header(tiled, **MODEL, max_pixels=limits.NO_LIMIT) == (K, h, w)
  with pytest.raises(header_check.HeaderError, match="does not match"):
    header_check.check_header(_header(8, 8, latent_shape=(K, h, w)), **MODEL, max_pixels=0)


def test_the_limit_comes_from_the_argument_or_the_environment(monkeypatch):
  header = _header(64, 64)
  header_check.check_header(header, **MODEL, max_pixels=4096)
  with pytest.raises(limits.LimitError):
    header_check.check_header(header, **MODEL, max_pixels=4095)
  monkeypatch.setenv(limits.ENV_VAR, "4095")
  with pytest.raises(limits.LimitError, match="limit of 4,095"):
    header_check.check_header(header, **MODEL)


def test_the_codec_refuses_files_and_images_over_its_limit(tiny_codec, tiny_file, monkeypatch):
  image, data = tiny_file
  pixels = image.shape[0] * image.shape[1]
  codec = copy.copy(tiny_codec)  # the fixture is shared: limit a copy, as the CLI does
  codec.max_pixels = pixels - 1
  with pytest.raises(limits.LimitError, match="decoded image of 28 x 20"):
    codec.decompress(data)
  with pytest.raises(limits.LimitError, match="image of 28 x 20"):
    codec.compress(image)
  codec.max_pixels = pixels
  assert codec.decompress(data).shape == image.shape
  monkeypatch.setenv(limits.ENV_VAR, str(pixels - 1))
  with pytest.raises(limits.LimitError):
    tiny_codec.decompress(data)


def test_the_codec_checks_the_header_against_its_model(tiny_codec, tiny_file):
  header, payloads = bitstream.unpack(tiny_file[1])
  for fields, error in [(dict(system="other"), header_check.HeaderError),
                        (dict(latent_shape=(5, 3, 4)), header_check.HeaderError),
                        (dict(pad_bottom=12, latent_shape=(4, 4, 4)), header_check.HeaderError),
                        (dict(image_height=16384, image_width=16384, latent_shape=(4, 2048, 2048)),
                         limits.LimitError)]:
    with pytest.raises(error):
      tiny_codec.decompress(bitstream.pack(dataclasses.replace(header, **fields), payloads))


@pytest.mark.parametrize("height, width, tile, message", [
    (512, 768, 32, None), (512, 768, 95, None), (16, 4096, 256, None), (2896, 2896, None, None),
    (2904, 2904, None, r"untiled latent of 363 x 363 = 131,769 positions exceeds 131,072 \(a file this large is"),
    (512, 768, 31, r"tile 31 must be in \[32, 256\] latents"),
    (512, 768, 257, r"tile 257 must be in \[32, 256\]"), (512, 768, -1, "tile -1 must be"),
    (512, 768, (1 << 63) - 1, "tile 9223372036854775807 must be"),
    (512, 768, 96, "tile 96 for a latent of 64 x 96: a latent of at most the tile a side is untiled"),
    (256, 256, 32, "tile 32 for a latent of 32 x 32"),
])
def test_the_tiling_is_checked_with_the_header(height, width, tile, message):
  header = _header(height, width, extras={} if tile is None else {"tile": tile})
  if message is None:
    assert header_check.check_header(header, **MODEL)[1:] == (-(-height // 8), -(-width // 8))
  else:
    with pytest.raises(header_check.HeaderError, match=f"^{message}") as e:
      header_check.check_header(header, **MODEL)
    assert "\n" not in str(e.value)
