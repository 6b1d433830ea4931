"""The codec end to end on the tiny config with random weights: real files, exact decoding, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from jcomp.coding import bitstream
from jcomp.coding.codec import Codec, CodecError, kept_mask
from jcomp.coding.mask_counts import decode_counts, encode_counts
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import random_variables
from tests.coding.conftest import tiny_codec_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def model_dir(tiny_model_dir):
  return tiny_model_dir


@pytest.fixture(scope="session")
def codec(model_dir):
  return Codec.load(model_dir)


@pytest.fixture(scope="session")
def image():
  return synthetic_image(3, 44, 60)  # not a multiple of 8: exercises padding


def test_compressed_file_decodes_in_another_process_to_the_model_reconstruction(codec, model_dir, image,
                                                                                 tmp_path):
  src = tmp_path / "in.png"
  Image.fromarray(image).save(src)
  env = dict(os.environ, PYTHONPATH=REPO)
  run = lambda *a: subprocess.run([sys.executable, "-m", "jcomp", *a], capture_output=True, text=True,
                                  env=env, timeout=300)
  r = run("compress", f"--model={model_dir}", str(src), "-o", str(tmp_path / "x.jcomp"), "-v")
  assert r.returncode == 0, r.stderr
  assert "bpp" in r.stdout
  r = run("decompress", str(tmp_path / "x.jcomp"), f"--model={model_dir}", "-o", str(tmp_path / "out.png"))
  assert r.returncode == 0, r.stderr
  decoded = np.asarray(Image.open(tmp_path / "out.png"))
  assert decoded.shape == image.shape
  np.testing.assert_array_equal(decoded, codec.reconstruct(image))
  # Refuses to overwrite without --force.
  r = run("decompress", str(tmp_path / "x.jcomp"), f"--model={model_dir}", "-o", str(tmp_path / "out.png"))
  assert r.returncode == 1 and "exists" in r.stderr and "Traceback" not in r.stderr


def test_decoded_symbols_equal_encoded_symbols(codec, image):
  result = codec.compress(image)
  header, symbols, _ = codec.decompress_symbols(result.data)
  np.testing.assert_array_equal(symbols, codec.analyze(image)["symbols"])
  assert (header.image_height, header.image_width) == image.shape[:2]
  assert result.bpp_real * image.shape[0] * image.shape[1] >= result.bits_ideal


def test_compress_estimate_equals_the_parallel_pass_cross_entropy(codec, image):
  result = codec.compress(image)
  a = codec.analyze(image)
  kept = kept_mask(a["counts"], a["symbols"].shape[0])
  parallel = codec.estimate_bits(a["symbols"], kept) / (image.shape[0] * image.shape[1])
  np.testing.assert_allclose(result.bpp_est, parallel, rtol=1e-4)


def test_file_of_another_model_is_rejected(codec, image, tmp_path):
  config = tiny_codec_config(seed=1)
  other = Codec(config, random_variables(config, 1))
  with pytest.raises(CodecError, match="written by model"):
    codec.decompress(other.compress(image).data)


def test_corrupt_files_give_clear_errors_never_crashes(codec, image):
  data = codec.compress(image).data
  rng = np.random.default_rng(0)
  t = time.time()
  for i in range(300):
    b = bytearray(data)
    kind = i % 3
    if kind == 0:
      b = b[:rng.integers(0, len(b))]
    elif kind == 1:
      for _ in range(rng.integers(1, 4)):
        j = rng.integers(0, len(b))
        b[j] ^= 1 << int(rng.integers(0, 8))
    else:
      b[5 + rng.integers(0, len(b) - 5):] = rng.integers(0, 256, 0, np.uint8).tobytes()
      b = b + rng.integers(0, 256, rng.integers(1, 8), np.uint8).tobytes()
    try:
      out = codec.decompress(bytes(b))
      assert out.shape == image.shape  # an undetected corruption still yields a valid image
    except (bitstream.FormatError, CodecError):
      pass
  assert time.time() - t < 120


def test_cli_reports_corrupt_file_in_one_line(model_dir, tmp_path):
  bad = tmp_path / "bad.jcomp"
  bad.write_bytes(b"JCMP\x07" + b"\x00" * 40)
  r = subprocess.run([sys.executable, "-m", "jcomp", "decompress", str(bad), f"--model={model_dir}"],
                     capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
  assert r.returncode == 1
  assert r.stderr.strip().startswith("error:") and "version" in r.stderr and "Traceback" not in r.stderr


def test_grayscale_and_rgba_are_converted_with_a_warning(codec):
  gray = synthetic_image(5, 16, 16)[..., 0]
  with pytest.warns(UserWarning, match="grayscale"):
    a = codec.analyze(gray)
  rgba = np.concatenate([synthetic_image(5, 16, 16), np.full((16, 16, 1), 255, np.uint8)], -1)
  with pytest.warns(UserWarning, match="alpha"):
    codec.analyze(rgba)
  assert a["symbols"].shape == (4, 2, 2)


def _mentzer_with_partial_mask(seed: int = 0) -> Codec:
  """Random tiny Mentzer model whose importance map keeps some channels and drops others, with centers whose
  zero symbol Q(0) (the nearest center to 0, carried by masked latents) is not index 0."""
  config = tiny_codec_config(seed)
  v = random_variables(config, seed)
  v["params"]["autoencoder"]["quant"]["centers"] = np.array([1.5, -0.05, -1.0, 2.0, -2.0, 0.7], np.float32)
  return Codec(config, v)


def test_masked_latents_decode_as_in_training_when_q0_is_not_symbol_0():
  codec = _mentzer_with_partial_mask()
  image = synthetic_image(7, 48, 64)
  a = codec.analyze(image)
  K = a["symbols"].shape[0]
  assert codec.masked_symbol == 1
  masked = ~kept_mask(a["counts"], K)
  assert masked.any() and (~masked).any()
  np.testing.assert_array_equal(a["symbols"][masked], codec.masked_symbol)
  # Decoder input = centers[symbols] equals the training forward pass's values at every position.
  np.testing.assert_array_equal(codec.centers[a["symbols"]].transpose(1, 2, 0), a["values"])
  r = codec.compress(image)
  assert r.coded_symbols == int((~masked).sum()) and r.mask_bytes > 0
  np.testing.assert_array_equal(codec.decompress_symbols(r.data)[1], a["symbols"])
  np.testing.assert_array_equal(codec.decompress(r.data), codec.reconstruct(image))


@pytest.mark.parametrize("counts", [np.array([[3, 0, 4], [4, 4, 1]]), np.full((5, 7), 4), np.zeros((1, 1), int)])
def test_mask_counts_round_trip(counts):
  data = encode_counts(counts)
  np.testing.assert_array_equal(decode_counts(data, 4, counts.shape), counts)
  if len(np.unique(counts)) == 1:
    assert len(data) <= 3 + 6  # the table and the coder's state: 0 bits a position


def test_corrupt_mask_counts_raise_codec_error():
  counts = np.random.default_rng(0).integers(0, 5, (6, 9))
  data = encode_counts(counts)
  rng = np.random.default_rng(1)
  bad = [b"", b"\x00", b"\x09" + data[1:], data[:-2], data + b"\x00\x00", data[:1] + b"\x05" + data[2:]]
  for _ in range(200):
    b = bytearray(data)
    b[rng.integers(0, len(b))] ^= 1 << int(rng.integers(0, 8))
    bad.append(bytes(b))
  for b in bad:
    try:
      out = decode_counts(b, 4, counts.shape)
      assert out.shape == counts.shape and out.min() >= 0 and out.max() <= 4
    except CodecError:
      pass
  with pytest.raises(CodecError):
    decode_counts(data, 3, counts.shape)  # a count above K
