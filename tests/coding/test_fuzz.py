"""Hostile `.jcomp` files: crafted headers and seeded mutants of a real file, in process and through the CLI.

Every file either is refused with a one-line error of the codec's error types or decodes to the shape its
header declares, within a time and memory bound; the decompression bombs are refused by `jcomp decompress`
in a subprocess in under 5 s and 1 GiB.
"""

from __future__ import annotations

import contextlib
import random
import resource
import signal
import sys
import time

import numpy as np
import pytest

from jcomp import limits
from jcomp.coding import bitstream, fuzz, header_check
from jcomp.coding.codec import CodecError
from tests.conftest import subprocess_env

DECODE_ERRORS = (bitstream.FormatError, CodecError, header_check.HeaderError, limits.LimitError)
DECODED = "decoded"
# What each crafted file must give with a trimmed model and the default limit.
EXPECTED = {
    "bomb 4096x4096 untiled, counts 0": header_check.HeaderError,  # within the pixel limit: must be tiled
    "bomb 16384x16384, counts 0": limits.LimitError,
    "bomb 16384x16384 tiled, counts 0": limits.LimitError,
    "bomb 100000x100000, counts 0": limits.LimitError,
    "wide 8x16777216": limits.LimitError,
    "latent h*w = 2**64+1": limits.LimitError,
    "every field 2**64-1": limits.LimitError,
    "16x16 image, latent 2**40 x 2**40": header_check.HeaderError,
    "latent rank 16 of 2**64-1": header_check.HeaderError,
    "latent rank 0": header_check.HeaderError,
    "latent (K, 0, 0)": header_check.HeaderError,
    "latent K+1 channels": header_check.HeaderError,
    "padding = stride": header_check.HeaderError,
    "padding 2**64-1": header_check.HeaderError,
    "other system": header_check.HeaderError,
    "counts K+1": CodecError,
    "count occurrences 2**64-1": CodecError,
    "count table of 2**64-1 entries": CodecError,
    "counts K, no symbols coded": CodecError,
    "one payload": header_check.HeaderError,
    "three payloads": header_check.HeaderError,
    "payload length 2**64-1": bitstream.FormatError,
    "payload count 2**63": bitstream.FormatError,
    "extras at the extremes, 16x16 counts 0": DECODED,
    "16x16 counts 0 (valid)": DECODED,
    "tile below the minimum": header_check.HeaderError,
    "tile 2**63-1": header_check.HeaderError,
    "tile -1": header_check.HeaderError,
    "tile on an untiled latent": header_check.HeaderError,
    "tiled, a payload short": header_check.HeaderError,
    "tiled, a payload more": header_check.HeaderError,
    "tiled 16x800 counts 0 (valid)": DECODED,
    "tiled 16x800 counts K, no symbols coded": CodecError,
}
CLI_BOMBS = [("bomb 16384x16384, counts 0", False), ("wide 8x16777216", True), ("latent h*w = 2**64+1", True)]
GiB = 1 << 30


@pytest.fixture(scope="module")
def crafted(tiny_codec, tiny_file) -> dict[str, bytes]:
  template, _ = bitstream.unpack(tiny_file[1])
  return fuzz.crafted_files(template, tiny_codec.config.model.num_channels)


@pytest.fixture(autouse=True)
def no_env_limit(monkeypatch):
  monkeypatch.delenv(limits.ENV_VAR, raising=False)


@contextlib.contextmanager
def _deadline(seconds: float):
  """Raises TimeoutError in the block after `seconds` (a hang in Python code, e.g. a decoder loop)."""
  def expire(*_):
    raise TimeoutError(f"no result after {seconds} s")
  old = signal.signal(signal.SIGALRM, expire)
  signal.setitimer(signal.ITIMER_REAL, seconds)
  try:
    yield
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


def _max_rss() -> int:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _outcome(codec, data: bytes) -> str | type:
  """DECODED (asserting the declared shape) or the error class (asserting a one-line message)."""
  try:
    image = codec.decompress(data)
  except DECODE_ERRORS as e:
    assert str(e) and "\n" not in str(e), repr(e)
    return type(e)
  header, _ = bitstream.unpack(data)
  assert image.shape == (header.image_height, header.image_width, 3) and image.dtype == np.uint8
  return DECODED


def test_the_crafted_files_cover_the_expected_cases(crafted):
  assert set(crafted) == set(EXPECTED)
  assert len(crafted["bomb 16384x16384, counts 0"]) <= 80


def test_crafted_files_are_refused_with_their_error_or_decode_to_their_shape(tiny_codec, crafted):
  rss = _max_rss()
  for name, data in crafted.items():
    t = time.perf_counter()
    with _deadline(60):
      outcome = _outcome(tiny_codec, data)
    dt = time.perf_counter() - t
    assert outcome is EXPECTED[name], (name, outcome)
    if outcome in (limits.LimitError, header_check.HeaderError, bitstream.FormatError):
      assert dt < 0.5, (name, dt)  # refused from the header alone (a CodecError may run the decoder first)
  assert _max_rss() - rss < GiB


@pytest.mark.parametrize("name, with_model", CLI_BOMBS)
def test_jcomp_decompress_refuses_the_bombs_in_one_line_fast_and_small(name, with_model, crafted, tiny_model_dir,
                                                                       tmp_path):
  path = tmp_path / "bomb.jcomp"
  path.write_bytes(crafted[name])
  cmd = [sys.executable, "-m", "jcomp", "decompress", str(path), "-o", str(tmp_path / "out.png")]
  env = subprocess_env()
  env.pop(limits.ENV_VAR, None)
  r = fuzz.run_measured(cmd + [f"--model={tiny_model_dir}"] * with_model, timeout_s=60, env=env)
  assert r.returncode == 1, r
  assert r.stderr.startswith("error: decoded image of ") and r.stderr.count("\n") == 1, r.stderr
  assert f"exceeds the limit of {limits.DEFAULT_MAX_PIXELS:,}" in r.stderr
  # CPU time, not wall time: this 2-core machine ran at a load of up to 10 (wall up to 9 s, most of it the
  # import of JAX for the compilation cache; the refusal itself takes milliseconds, before any model loads).
  assert r.cpu_s < 5 and r.wall_s < 30 and r.max_rss_mb < 1024, r
  assert not (tmp_path / "out.png").exists()


def test_jcomp_decompress_refuses_a_header_that_does_not_fit_the_model_in_one_line(crafted, tiny_model_dir,
                                                                                   tmp_path):
  path = tmp_path / "k.jcomp"
  path.write_bytes(crafted["latent K+1 channels"])
  r = fuzz.run_measured([sys.executable, "-m", "jcomp", "decompress", str(path), f"--model={tiny_model_dir}",
                         "-o", str(tmp_path / "out.png")], timeout_s=120, env=subprocess_env())
  assert r.returncode == 1 and r.stderr == "error: latent has 5 channels, this model has 4\n", r
  assert r.max_rss_mb < 1024, r  # the time is JAX's import and the model's load: the check takes < 1 ms


def test_the_limit_can_be_set_on_the_command_line_and_in_the_environment(tiny_file, tmp_path):
  path = tmp_path / "x.jcomp"
  path.write_bytes(tiny_file[1])
  cmd = [sys.executable, "-m", "jcomp", "decompress", str(path), "-o", str(tmp_path / "out.png")]
  for extra, env in [(["--max-pixels=559"], {}), (["--max-pixels=-1"], {limits.ENV_VAR: "559"})]:
    r = fuzz.run_measured(cmd + extra, timeout_s=60, env=subprocess_env(**env))
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r
    assert ("28 x 20 = 560 pixels exceeds the limit of 559" if not env else "max_pixels must be a non-negative "
            "integer (0: no limit), got -1") in r.stderr, r  # the flag wins over the environment


def test_seeded_mutants_of_a_real_file_are_refused_or_decode_to_their_shape(tiny_codec, tiny_file):
  _, data = tiny_file
  rng = random.Random(0)
  outcomes: dict[str, int] = {}
  rss, start, slowest = _max_rss(), time.perf_counter(), 0.0
  for _ in range(500):
    kind, mutant = fuzz.mutate(data, rng)
    t = time.perf_counter()
    with _deadline(30):
      outcome = _outcome(tiny_codec, mutant)
    slowest = max(slowest, time.perf_counter() - t)
    key = outcome if outcome == DECODED else outcome.__name__
    outcomes[key] = outcomes.get(key, 0) + 1
  assert time.perf_counter() - start < 60, outcomes
  assert _max_rss() - rss < GiB
  # The resealed half reaches past the CRC: the codec's own checks and the coder refuse some.
  assert outcomes.get("FormatError", 0) > 100 and outcomes.get("CodecError", 0) + outcomes.get(
      "HeaderError", 0) >= 10, outcomes


def test_mutate_is_seeded_and_reseal_makes_a_valid_container(tiny_file):
  _, data = tiny_file
  a = [fuzz.mutate(data, random.Random(7)) for _ in range(2)]
  assert a[0] == a[1]
  kinds = {fuzz.mutate(data, random.Random(i))[0] for i in range(200)}
  assert {k.removesuffix("+crc") for k in kinds} == set(fuzz.MUTATIONS) and any(k.endswith("+crc") for k in kinds)
  header, payloads = bitstream.unpack(fuzz.reseal(data[:-4] + b"\0\0\0\0"))  # a broken CRC, resealed
  assert (header, payloads) == bitstream.unpack(data)
