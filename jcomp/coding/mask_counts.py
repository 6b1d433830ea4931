"""Payload 0 of a `.jcomp` file: the importance map's kept-channel counts (h, w), coded losslessly.

Pure NumPy (no JAX): `jcomp decompress` reads and checks the counts of a file (`cli._find_model_for`)
before it loads the model, and the codec (`jcomp.coding.codec`) writes and reads them with the same functions.
"""

from __future__ import annotations

import numpy as np

from jcomp.coding import bitstream, coder, probabilities
from jcomp.coding.header_check import CodecError


def _count_tables(occurrences: np.ndarray, num_positions: int) -> np.ndarray:
  """The zeroth-order integer tables (num_positions, m) of the count alphabet (the m distinct counts)."""
  freqs = probabilities.pmf_to_freqs(np.asarray(occurrences, np.float64))
  return np.broadcast_to(freqs, (num_positions, len(freqs)))


def encode_counts(counts: np.ndarray) -> bytes:
  """Kept-channel counts (h, w) ints >= 0 -> payload 0.

  Layout: uvarint m (distinct counts), m uvarint pairs (count value, occurrences) with increasing values,
  then the rANS stream of each position's index among the m values (raster order) under the table's
  quantized frequencies. Size: ~h w H0(counts) / 8 + 6 bytes of coder state + ~2 bytes a distinct value;
  0 bits a position when all counts are equal.
  """
  values, index, occurrences = np.unique(np.asarray(counts).ravel(), return_inverse=True, return_counts=True)
  table = [len(values)] + [int(v) for pair in zip(values, occurrences) for v in pair]
  return bitstream.pack_uvarints(table) + coder.encode(index, _count_tables(occurrences, index.size))


def decode_counts(data: bytes, num_channels: int, shape: tuple[int, int]) -> np.ndarray:
  """Payload 0 -> counts `shape` (h, w) int32 in [0, num_channels]; CodecError if it is malformed."""
  num_positions = int(np.prod(shape))
  try:
    (m,), offset = bitstream.unpack_uvarints(data, 1)
    if not 1 <= m <= min(num_channels + 1, num_positions):
      raise CodecError(f"corrupt mask counts: {m} distinct values")
    table, offset = bitstream.unpack_uvarints(data, 2 * m, offset)
  except bitstream.FormatError as e:
    raise CodecError(f"corrupt mask counts: {e}") from e
  values, occurrences = table[0::2], table[1::2]  # Python ints: no overflow on hostile varints
  if (any(b <= a for a, b in zip(values, values[1:])) or values[-1] > num_channels or min(occurrences) < 1
      or sum(occurrences) != num_positions):
    raise CodecError("corrupt mask counts: bad table")
  values, occurrences = np.array(values, np.int64), np.array(occurrences, np.int64)
  try:
    dec = coder.Decoder(data[offset:])
    index = dec.decode(_count_tables(occurrences, num_positions))
    dec.finish()
  except coder.CoderError as e:
    raise CodecError(f"corrupt mask counts: {e}") from e
  if not np.array_equal(np.bincount(index, minlength=m), occurrences):
    raise CodecError("corrupt mask counts: decoded counts do not match the table")
  return values[index].reshape(shape).astype(np.int32)
