"""Entropy coder of jcomp: a single-state range-ANS (rANS) coder in pure Python over integer tables.

`encode` codes a sequence of symbols, each under its own integer frequency table (every entry >= 1, each row
summing to 2**precision, precision <= 16, e.g. from `probabilities.logits_to_freqs`); `Decoder` decodes it
back in the same order, in chunks of any sizes (an autoregressive model computes the tables of the next
chunk from the symbols of the previous ones), and gives identical symbols for every split. The state lives
in [2**22, 2**30) and is renormalised by bytes (at most two per symbol); the encoder runs backwards so the
decoder reads forwards. The stream is the 4-byte final state (big-endian) followed by the renormalisation
bytes, so its size is 4 bytes + 1 byte per emitted byte (4 bytes for no symbols). The 30-bit state keeps
every intermediate value of the decoder below 2**30, CPython's single-digit ("medium") int, whose arithmetic
and comparisons take the interpreter's fast paths: ~15 % faster than a [2**32, 2**48) state, 2 bytes smaller.
Guarantees: (1) round trip: decoding with the encoding tables returns the symbols; (2) determinism: the
coder is pure integer arithmetic, so the bytes are identical on every machine; (3) robustness: on any bytes
(truncated, flipped, random) the decoder terminates in time linear in the symbols asked for, returns symbols
in [0, L) or raises `CoderError`, and `finish` raises `CoderError` unless the stream was consumed exactly
and the final state equals the encoder's initial state (most corruptions are caught, not all: use a CRC, as
the `.jcomp` container does). Size: with state >= 2**22 and precision <= 16 the rANS approximation costs
~(2**precision / 2**22)**2 bits/symbol at most, so the overhead over `probabilities.ideal_bits` is about the
flushed state: ~4 bytes. Measured by benchmarks/coder_bench.py (196,608 symbols, L = 6, precision 16,
28.5 KB payload; 2-core VM, CPython 3.11): overhead 3.6 bytes = 0.013 %; decode 0.1-0.2 s (1.9-0.9
Msymbols/s, the spread is the machine's load), encode about half that.
"""

from __future__ import annotations

import bisect

import numpy as np

MAX_PRECISION = 16
_STATE_BITS = 30  # Normalised states lie in [_STATE_LOW, 2**30) = [2**22, 2**30).
_STATE_LOW = 1 << (_STATE_BITS - 8)
_STATE_BYTES = 4


class CoderError(ValueError):
  """The coded stream is malformed: truncated, corrupt, or not consumed exactly."""


def _check_precision(precision: int) -> int:
  if not isinstance(precision, (int, np.integer)) or not 1 <= precision <= MAX_PRECISION:
    raise ValueError(f"precision must be an int in [1, {MAX_PRECISION}], got {precision!r}")
  return int(precision)


def _check_freqs(freqs: np.ndarray, precision: int) -> np.ndarray:
  """Validates (N, L) integer tables summing to 2**precision with entries >= 1; returns them as int64."""
  freqs = np.asarray(freqs)
  if freqs.ndim != 2 or freqs.shape[1] < 1:
    raise ValueError(f"freqs must have shape (N, L) with L >= 1, got {freqs.shape}")
  if freqs.dtype.kind not in "iu":
    raise ValueError(f"freqs must be integers, got dtype {freqs.dtype}")
  freqs = freqs.astype(np.int64, copy=False)
  if freqs.shape[0]:
    if freqs.min() < 1:
      raise ValueError("every frequency must be >= 1")
    if np.any(freqs.sum(axis=1) != 1 << precision):
      raise ValueError(f"every frequency table must sum to 2**{precision}")
  return freqs


def encode(symbols: np.ndarray, freqs: np.ndarray, precision: int = 16) -> bytes:
  """Codes symbols, each under its own frequency table.

  Args:
    symbols: (N,) integers in [0, L).
    freqs: (N, L) integer tables, entries >= 1, each row summing to 2**precision.
    precision: log2 of the table total, in [1, 16].

  Returns:
    The stream: 4 + k bytes, where k is the number of renormalisation bytes.
  """
  precision = _check_precision(precision)
  freqs = _check_freqs(freqs, precision)
  symbols = np.asarray(symbols)
  if symbols.ndim != 1 or symbols.shape[0] != freqs.shape[0]:
    raise ValueError(f"symbols {symbols.shape} do not match freqs {freqs.shape}")
  num_symbols = freqs.shape[1]
  if symbols.size and (symbols.dtype.kind not in "iu" or symbols.min() < 0 or symbols.max() >= num_symbols):
    raise ValueError(f"symbols must be integers in [0, {num_symbols})")
  symbols = symbols.astype(np.int64)[:, None]
  freq = np.take_along_axis(freqs, symbols, axis=1)[:, 0]
  start = np.take_along_axis(np.cumsum(freqs, axis=1), symbols, axis=1)[:, 0] - freq
  # A state x >= freq << (30 - precision) would leave [2**22, 2**30) after coding: emit bytes first.
  limit = freq << (_STATE_BITS - precision)
  x = _STATE_LOW
  out = bytearray()
  emit = out.append
  for f, c, lim in zip(freq[::-1].tolist(), start[::-1].tolist(), limit[::-1].tolist()):
    while x >= lim:
      emit(x & 0xFF)
      x >>= 8
    x = ((x // f) << precision) + x % f + c
  out += x.to_bytes(_STATE_BYTES, "little")
  out.reverse()  # The decoder reads the state (big-endian), then the bytes in reverse emit order.
  return bytes(out)


class Decoder:
  """Decodes a stream from `encode` in chunks: call `decode` with the tables of the next symbols."""

  def __init__(self, data: bytes, precision: int = 16):
    """Reads the initial state; raises CoderError if data is too short or has a bad state."""
    self._precision = _check_precision(precision)
    data = bytes(data)
    if len(data) < _STATE_BYTES:
      raise CoderError(f"coded stream too short ({len(data)} bytes, need at least {_STATE_BYTES})")
    self._data = data
    self._state = int.from_bytes(data[:_STATE_BYTES], "big")
    self._pos = _STATE_BYTES
    self._failed = False
    if not _STATE_LOW <= self._state < 1 << _STATE_BITS:
      raise CoderError("coded stream starts with an invalid state")

  def decode(self, freqs: np.ndarray) -> np.ndarray:
    """Decodes the next M symbols.

    Args:
      freqs: (M, L) integer tables of the next M symbols in encoding order (entries >= 1, rows summing to
        2**precision); L may change between calls.

    Returns:
      (M,) int32 symbols in [0, L).

    Raises:
      CoderError: the stream ran out (it is truncated or corrupt); the decoder is then unusable.
    """
    if self._failed:
      raise CoderError("decoder already failed")
    precision = self._precision
    freqs = np.asarray(freqs)
    if freqs.ndim != 2 or freqs.dtype.kind not in "iu":
      raise ValueError(f"freqs must be an (M, L) integer array, got {freqs.dtype} {freqs.shape}")
    cum = np.zeros((freqs.shape[0], freqs.shape[1] + 1), dtype=np.int64)
    np.cumsum(freqs, axis=1, out=cum[:, 1:])
    if freqs.size and (freqs.min() < 1 or np.any(cum[:, -1] != 1 << precision)):
      raise ValueError(f"every frequency must be >= 1 and every table must sum to 2**{precision}")
    mask = (1 << precision) - 1
    low = _STATE_LOW
    data = self._data
    pos = self._pos
    x = self._state
    out = []
    emit = out.append
    find = bisect.bisect_right
    width = cum.shape[1]
    flat = cum.ravel().tolist()  # one flat list: no per-row list objects for the cyclic GC to rescan
    n = len(flat)
    try:
      # Row r spans flat[row:end]: flat[row] = 0 <= slot < flat[end - 1] = 2**precision, so the search returns
      # i in (row, end) with flat[i - 1] <= slot < flat[i]: symbol i - row - 1. Emitting i and subtracting
      # afterwards, in NumPy, saves the interpreter one operation per symbol.
      for row, end in zip(range(0, n, width), range(width, n + width, width)):
        slot = x & mask
        i = find(flat, slot, row, end)
        lo = flat[i - 1]
        x = (flat[i] - lo) * (x >> precision) + slot - lo  # >= 2**(22 - precision): 2 bytes at most
        while x < low:
          x = (x << 8) | data[pos]
          pos += 1
        emit(i)
    except IndexError:
      self._failed = True
      raise CoderError("coded stream ended before all symbols were decoded (truncated or corrupt)") from None
    self._pos = pos
    self._state = x
    return np.asarray(out, dtype=np.int32) - np.arange(1, n, width, dtype=np.int32)

  def finish(self) -> None:
    """Checks the stream was consumed exactly and ended in the encoder's initial state; else CoderError."""
    if self._failed:
      raise CoderError("decoder already failed")
    if self._pos != len(self._data):
      raise CoderError(f"{len(self._data) - self._pos} bytes of coded stream left undecoded")
    if self._state != _STATE_LOW:
      raise CoderError("coded stream is inconsistent (final state mismatch): corrupt or wrong tables")
