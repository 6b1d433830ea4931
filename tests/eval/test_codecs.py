"""Tests for jcomp.eval.codecs: every available classical codec round-trips over its sweep."""

import sys

import numpy as np
import pytest

from jcomp.eval import codecs


def smooth_image(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
  """A smooth random uint8 (h, w, 3) image: bilinearly upsampled coarse noise plus a little grain."""
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, size=(h // 8 + 2, w // 8 + 2, 3))
  ys = np.linspace(0, coarse.shape[0] - 1.001, h)
  xs = np.linspace(0, coarse.shape[1] - 1.001, w)
  y0, x0 = ys.astype(int), xs.astype(int)
  fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
  img = ((1 - fy) * (1 - fx) * coarse[y0][:, x0] + (1 - fy) * fx * coarse[y0][:, x0 + 1]
         + fy * (1 - fx) * coarse[y0 + 1][:, x0] + fy * fx * coarse[y0 + 1][:, x0 + 1])
  img += rng.normal(0, 4, size=img.shape)
  return np.clip(img, 0, 255).astype(np.uint8)


def _codec_or_skip(name: str) -> codecs.ImageCodec:
  try:
    return codecs.get_codec(name)
  except codecs.CodecUnavailableError as e:
    pytest.skip(str(e))


@pytest.mark.parametrize("name", codecs.CODEC_NAMES)
def test_sweep_round_trips_and_rate_grows_with_quality(name):
  codec = _codec_or_skip(name)
  img = smooth_image(96, 128)
  sizes, errors = [], []
  for q in codec.qualities:
    data = codec.encode(img, q)
    out = codec.decode(data)
    assert isinstance(data, bytes)
    assert out.shape == img.shape and out.dtype == np.uint8
    sizes.append(len(data))
    errors.append(np.mean((out.astype(float) - img) ** 2))
  # Small images make each step's size change small; allow a few bytes of jitter per step.
  assert all(b >= a - 16 for a, b in zip(sizes, sizes[1:])), sizes
  assert sizes[-1] > 2 * sizes[0], sizes
  assert errors[-1] < errors[0], errors


def test_settings_are_named_by_quality_or_target_rate():
  assert codecs.get_codec("jpeg420").setting(50) == "q50"
  assert codecs.get_codec("jpeg2000").setting(0.25) == "0.25bpp"


def test_jpeg_subsampling_modes_differ():
  img = smooth_image()
  a = codecs.get_codec("jpeg420").encode(img, 90)
  b = codecs.get_codec("jpeg444").encode(img, 90)
  assert len(b) > len(a)


def test_unknown_codec_is_a_value_error_listing_the_choices():
  with pytest.raises(ValueError, match="jpeg420.*webp"):
    codecs.get_codec("jpeg9000")


def test_available_codecs_skips_unavailable_with_a_one_line_notice(capsys, monkeypatch):
  monkeypatch.setattr(codecs, "_check", lambda name: "not installed (fake)" if name == "webp" else None)
  names = [c.name for c in codecs.available_codecs(["jpeg420", "webp"])]
  assert names == ["jpeg420"]
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "webp" in err[0] and "not installed" in err[0]


def test_encode_rejects_non_uint8_rgb():
  with pytest.raises(ValueError, match="uint8"):
    codecs.get_codec("jpeg420").encode(np.zeros((8, 8, 3), np.float32), 50)


def test_jpeg_xl_without_the_codecs_extra_is_skipped_with_the_install_command(monkeypatch, capsys):
  monkeypatch.setitem(sys.modules, "pillow_jxl", None)  # as if the plugin were not installed: import fails
  codecs._check.cache_clear()
  try:
    assert [c.name for c in codecs.available_codecs(["jpeg420", "jxl"])] == ["jpeg420"]
    err = capsys.readouterr().err
    assert "'jxl' is unavailable here: not installed (pillow_jxl; pip install 'jcomp[codecs]')" in err
  finally:
    codecs._check.cache_clear()
