"""Tests of the rANS entropy coder: round trips, chunked decoding, size, and robustness to corrupt data."""

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jcomp.coding import coder, probabilities


def _sample(rng: np.random.Generator, freqs: np.ndarray) -> np.ndarray:
  """Draws one symbol per row of integer tables (N, L) -> (N,) int64."""
  cdf = np.cumsum(freqs, axis=1)
  u = rng.integers(0, cdf[:, -1:], size=(freqs.shape[0], 1))
  return (cdf <= u).sum(axis=1)


def _tables(rng: np.random.Generator, n: int, num_symbols: int, scale: float, precision: int = 16):
  logits = rng.normal(size=(n, num_symbols)) * rng.uniform(0, scale, size=(n, 1))
  return probabilities.logits_to_freqs(logits.astype(np.float32), precision)


def _decode_in_chunks(data: bytes, freqs: np.ndarray, cuts, precision: int = 16) -> np.ndarray:
  decoder = coder.Decoder(data, precision)
  bounds = [0, *sorted(cuts), freqs.shape[0]]
  out = [decoder.decode(freqs[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
  decoder.finish()
  return np.concatenate(out) if out else np.zeros((0,), np.int32)


@given(
    n=st.integers(0, 2000),
    num_symbols=st.integers(2, 256),
    scale=st.sampled_from([0.0, 1.0, 5.0, 50.0]),
    precision_slack=st.integers(0, 8),
    forced_fraction=st.sampled_from([0.0, 0.1, 1.0]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_round_trip_recovers_symbols_for_any_chunk_split(
    n, num_symbols, scale, precision_slack, forced_fraction, seed, data):
  precision = min(16, math.ceil(math.log2(num_symbols)) + precision_slack)
  rng = np.random.default_rng(seed)
  freqs = _tables(rng, n, num_symbols, scale, precision)
  symbols = _sample(rng, freqs)
  forced = rng.uniform(size=n) < forced_fraction  # The least likely symbol costs the most: code it too.
  symbols[forced] = np.argmin(freqs[forced], axis=1)
  encoded = coder.encode(symbols, freqs, precision)
  cuts = data.draw(st.lists(st.integers(0, n), max_size=20))
  decoded = _decode_in_chunks(encoded, freqs, cuts, precision)
  assert decoded.dtype == np.int32
  np.testing.assert_array_equal(decoded, symbols)


def test_chunked_and_whole_decoding_agree_on_a_long_sequence():
  rng = np.random.default_rng(0)
  freqs = _tables(rng, 5000, 6, 6.0)
  symbols = _sample(rng, freqs)
  encoded = coder.encode(symbols, freqs)
  whole = _decode_in_chunks(encoded, freqs, [])
  chunked = _decode_in_chunks(encoded, freqs, range(0, 5000, 17))
  np.testing.assert_array_equal(whole, symbols)
  np.testing.assert_array_equal(chunked, symbols)


@pytest.mark.parametrize("num_symbols", [2, 6, 256])
def test_deterministic_distribution_codes_its_sure_symbol_almost_free(num_symbols):
  freqs = np.ones((3000, num_symbols), np.int64)
  freqs[:, 1] = 2**16 - (num_symbols - 1)
  symbols = np.ones(3000, np.int64)
  encoded = coder.encode(symbols, freqs)
  assert len(encoded) <= 6
  np.testing.assert_array_equal(_decode_in_chunks(encoded, freqs, [1000]), symbols)
  symbols[::100] = 0  # Frequency-1 symbols under the same tables: 16 bits each.
  encoded = coder.encode(symbols, freqs)
  assert len(encoded) * 8 <= probabilities.ideal_bits(freqs, symbols) + 64
  np.testing.assert_array_equal(_decode_in_chunks(encoded, freqs, [1000]), symbols)


def test_empty_input_gives_a_tiny_stream_that_decodes_to_nothing():
  encoded = coder.encode(np.zeros((0,), np.int64), np.zeros((0, 4), np.int64))
  assert 0 < len(encoded) <= 8
  decoder = coder.Decoder(encoded)
  assert decoder.decode(np.zeros((0, 4), np.int64)).shape == (0,)
  decoder.finish()


def test_encoding_is_bit_exact_against_a_golden_stream():
  freqs = np.array([[1, 2, 13], [8, 4, 4], [14, 1, 1]] * 8)
  symbols = np.array([2, 1, 0, 0, 0, 1, 1, 2, 2, 0, 1, 0] * 2)
  encoded = coder.encode(symbols, freqs, precision=4)
  assert encoded.hex() == "0a562fd4363f8936f2a0"
  np.testing.assert_array_equal(_decode_in_chunks(encoded, freqs, [5], precision=4), symbols)


def test_size_is_within_a_tenth_of_a_percent_of_the_ideal_code_length():
  rng = np.random.default_rng(1)
  freqs = _tables(rng, 196_608, 6, 6.0)  # One Kodak image's symbol volume.
  symbols = _sample(rng, freqs)
  encoded = coder.encode(symbols, freqs)
  ideal = probabilities.ideal_bits(freqs, symbols)
  assert 20_000 * 8 < ideal < 40_000 * 8  # A realistic payload of ~30 KB.
  assert len(encoded) * 8 <= ideal * 1.001 + 64
  assert len(encoded) <= ideal / 8 + 5  # In fact about the 4 flushed state bytes (+ rounding).


def test_decoding_past_the_end_or_leaving_bytes_raises_coder_error():
  rng = np.random.default_rng(2)
  freqs = _tables(rng, 1000, 6, 3.0)
  symbols = _sample(rng, freqs)
  encoded = coder.encode(symbols, freqs)
  decoder = coder.Decoder(encoded)
  decoder.decode(freqs[:500])
  with pytest.raises(coder.CoderError):
    decoder.finish()
  with pytest.raises(coder.CoderError):
    _decode_in_chunks(encoded + b"\x00", freqs, [])
  with pytest.raises(coder.CoderError):
    _decode_in_chunks(encoded[:-1], freqs, [])


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x00" * 6, b"\x01\x02\x03", b"\xff" * 4])
def test_malformed_stream_headers_raise_coder_error(data):
  with pytest.raises(coder.CoderError):
    coder.Decoder(data)


def test_invalid_tables_or_symbols_raise_value_error():
  good = np.full((2, 4), 2**14)
  with pytest.raises(ValueError):
    coder.encode(np.array([0, 4]), good)
  with pytest.raises(ValueError):
    coder.encode(np.array([0, 1]), good - 1)
  bad = good.copy()
  bad[0] = [0, 2**15, 2**14, 2**14]
  with pytest.raises(ValueError):
    coder.encode(np.array([1, 1]), bad)
  with pytest.raises(ValueError):
    coder.Decoder(coder.encode(np.array([0, 1]), good)).decode(bad)


def test_corrupt_streams_raise_coder_error_or_give_in_range_symbols_quickly():
  rng = np.random.default_rng(3)
  num_symbols = 6
  freqs = _tables(rng, 3000, num_symbols, 6.0)
  symbols = _sample(rng, freqs)
  encoded = coder.encode(symbols, freqs)
  corruptions = [encoded[:k] for k in rng.integers(0, len(encoded), size=50)]
  for _ in range(100):
    flipped = bytearray(encoded)
    for pos in rng.integers(0, len(encoded), size=rng.integers(1, 4)):
      flipped[pos] ^= 1 << rng.integers(0, 8)
    corruptions.append(bytes(flipped))
  corruptions += [rng.bytes(int(k)) for k in rng.integers(0, 2 * len(encoded), size=50)]
  start = time.monotonic()
  caught = 0
  for data in corruptions:
    try:
      decoded = _decode_in_chunks(data, freqs, range(0, 3000, 300))
    except coder.CoderError:
      caught += 1
    else:
      assert decoded.min() >= 0 and decoded.max() < num_symbols
  assert time.monotonic() - start < 10
  assert caught >= len(corruptions) * 0.9  # finish() catches most corruptions; the container's CRC the rest.
