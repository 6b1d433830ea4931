"""Benchmark of jcomp's entropy coder against constriction and a pure-Python arithmetic coder.

Codes one Kodak-sized symbol volume (196,608 symbols, L = 6, per-symbol softmax tables of random logits with
varying peakedness, fixed seed) with each coder and prints a table of encode/decode speed (Msymbols/s) and
size overhead over the ideal code length of jcomp's 16-bit tables, plus jcomp's decoder called in ~350 chunks
as the autoregressive wavefront decoder calls it. constriction (pip install constriction) is skipped with a
notice when it is not installed. Timings are the best of --repeats runs.

Usage: python benchmarks/coder_bench.py [--symbols 196608] [--alphabet 6] [--chunks 350] [--repeats 5]
"""

from __future__ import annotations

import argparse
import bisect
import os
import sys
import time
from typing import Callable

import numpy as np

try:
  from jcomp.coding import coder, probabilities
except ImportError:  # Run from a checkout without installing: the repository root is this file's parent's.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  from jcomp.coding import coder, probabilities

PRECISION = 16


# A reference arithmetic coder (Witten, Neal & Cleary 1987, 32-bit integer variant with pending bits).

_AC_BITS = 32
_AC_TOP = (1 << _AC_BITS) - 1
_AC_HALF = 1 << (_AC_BITS - 1)
_AC_QUARTER = 1 << (_AC_BITS - 2)


def wnc_encode(symbols: np.ndarray, freqs: np.ndarray) -> bytes:
  """Arithmetic-codes symbols (N,) under integer tables (N, L) (any totals <= 2**30); returns bytes."""
  cum = np.zeros((freqs.shape[0], freqs.shape[1] + 1), np.int64)
  np.cumsum(freqs, axis=1, out=cum[:, 1:])
  rows = np.arange(len(symbols))
  lows = cum[rows, symbols].tolist()
  highs = cum[rows, symbols + 1].tolist()
  totals = cum[:, -1].tolist()
  low, high, pending = 0, _AC_TOP, 0
  bits = []
  put = bits.append
  for c_lo, c_hi, total in zip(lows, highs, totals):
    span = high - low + 1
    high = low + span * c_hi // total - 1
    low = low + span * c_lo // total
    while True:
      if high < _AC_HALF:
        put(0)
        bits.extend([1] * pending)
        pending = 0
      elif low >= _AC_HALF:
        put(1)
        bits.extend([0] * pending)
        pending = 0
        low -= _AC_HALF
        high -= _AC_HALF
      elif low >= _AC_QUARTER and high < _AC_HALF + _AC_QUARTER:
        pending += 1
        low -= _AC_QUARTER
        high -= _AC_QUARTER
      else:
        break
      low <<= 1
      high = (high << 1) | 1
  pending += 1  # Two more bits pin a value inside [low, high].
  if low < _AC_QUARTER:
    put(0)
    bits.extend([1] * pending)
  else:
    put(1)
    bits.extend([0] * pending)
  return np.packbits(np.asarray(bits, np.uint8)).tobytes()


def wnc_decode(data: bytes, freqs: np.ndarray) -> np.ndarray:
  """Decodes wnc_encode's bytes under the same tables (N, L) -> (N,) int32."""
  bits = np.unpackbits(np.frombuffer(data, np.uint8)).tolist() + [0] * _AC_BITS
  cum = np.zeros((freqs.shape[0], freqs.shape[1] + 1), np.int64)
  np.cumsum(freqs, axis=1, out=cum[:, 1:])
  value = 0
  for b in bits[:_AC_BITS]:
    value = (value << 1) | b
  pos = _AC_BITS
  low, high = 0, _AC_TOP
  out = []
  for c in cum.tolist():
    total = c[-1]
    span = high - low + 1
    target = ((value - low + 1) * total - 1) // span
    s = bisect.bisect_right(c, target) - 1
    high = low + span * c[s + 1] // total - 1
    low = low + span * c[s] // total
    while True:
      if high < _AC_HALF:
        pass
      elif low >= _AC_HALF:
        low -= _AC_HALF
        high -= _AC_HALF
        value -= _AC_HALF
      elif low >= _AC_QUARTER and high < _AC_HALF + _AC_QUARTER:
        low -= _AC_QUARTER
        high -= _AC_QUARTER
        value -= _AC_QUARTER
      else:
        break
      low <<= 1
      high = (high << 1) | 1
      value = (value << 1) | bits[pos]
      pos += 1
    out.append(s)
  return np.asarray(out, np.int32)


def _best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
  best, result = float("inf"), None
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    best = min(best, time.perf_counter() - start)
  return best, result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--symbols", type=int, default=196_608)
  parser.add_argument("--alphabet", type=int, default=6)
  parser.add_argument("--chunks", type=int, default=350)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  n, num_symbols = args.symbols, args.alphabet

  rng = np.random.default_rng(args.seed)
  peakedness = rng.uniform(0.5, 6.0, size=(n, 1))  # From nearly flat to nearly deterministic tables.
  logits = (rng.normal(size=(n, num_symbols)) * peakedness).astype(np.float32)
  t_quant, freqs = _best_time(lambda: probabilities.logits_to_freqs(logits, PRECISION), args.repeats)
  pmf = freqs / float(1 << PRECISION)
  symbols = (np.cumsum(pmf, axis=1) <= rng.uniform(size=(n, 1))).sum(axis=1).clip(0, num_symbols - 1)
  ideal = probabilities.ideal_bits(freqs, symbols)
  z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
  float_pmf = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
  ideal_float = -np.log2(float_pmf[np.arange(n), symbols]).sum()
  pixels = 768 * 512
  print(f"{n} symbols, L = {num_symbols}, precision {PRECISION}; ideal: {ideal / 8:.1f} bytes "
        f"= {ideal / n:.4f} bits/symbol = {ideal / pixels:.4f} bpp of a 768x512 image "
        f"(float softmax: {ideal_float / 8:.1f} bytes); logits_to_freqs: {t_quant * 1e3:.0f} ms")

  chunks = np.array_split(np.arange(n), args.chunks)
  rows = []

  def record(name: str, encode: Callable[[], bytes], decode: Callable[[bytes], np.ndarray], repeats: int):
    t_enc, data = _best_time(encode, repeats)
    t_dec, decoded = _best_time(lambda: decode(data), repeats)
    if not np.array_equal(decoded, symbols):
      raise AssertionError(f"{name} did not round-trip")
    rows.append((name, t_enc, t_dec, len(data)))

  def jcomp_decode(data: bytes) -> np.ndarray:
    decoder = coder.Decoder(data, PRECISION)
    out = decoder.decode(freqs)
    decoder.finish()
    return out

  def jcomp_decode_chunked(data: bytes) -> np.ndarray:
    decoder = coder.Decoder(data, PRECISION)
    out = np.concatenate([decoder.decode(freqs[c]) for c in chunks])
    decoder.finish()
    return out

  jcomp_encode = lambda: coder.encode(symbols, freqs, PRECISION)
  record("jcomp rANS", jcomp_encode, jcomp_decode, args.repeats)
  record(f"jcomp rANS, {args.chunks} chunks", jcomp_encode, jcomp_decode_chunked, args.repeats)

  try:
    import constriction  # pylint: disable=import-outside-toplevel
  except ImportError:
    print("constriction is not installed (pip install constriction): skipped.")
  else:
    family = constriction.stream.model.Categorical(perfect=False)
    sym32 = symbols.astype(np.int32)

    def ans_encode() -> bytes:
      enc = constriction.stream.stack.AnsCoder()
      enc.encode_reverse(sym32, family, pmf)
      return enc.get_compressed().tobytes()

    def ans_decode(data: bytes) -> np.ndarray:
      return constriction.stream.stack.AnsCoder(np.frombuffer(data, np.uint32).copy()).decode(family, pmf)

    def ans_decode_chunked(data: bytes) -> np.ndarray:
      dec = constriction.stream.stack.AnsCoder(np.frombuffer(data, np.uint32).copy())
      return np.concatenate([dec.decode(family, pmf[c]) for c in chunks])

    def range_encode() -> bytes:
      enc = constriction.stream.queue.RangeEncoder()
      enc.encode(sym32, family, pmf)
      return enc.get_compressed().tobytes()

    def range_decode(data: bytes) -> np.ndarray:
      return constriction.stream.queue.RangeDecoder(np.frombuffer(data, np.uint32).copy()).decode(family, pmf)

    record("constriction ANS", ans_encode, ans_decode, args.repeats)
    record(f"constriction ANS, {args.chunks} chunks", ans_encode, ans_decode_chunked, args.repeats)
    record("constriction range", range_encode, range_decode, args.repeats)

  record("pure-Python arithmetic (WNC)", lambda: wnc_encode(symbols, freqs),
         lambda data: wnc_decode(data, freqs), 1)

  header = (f"{'coder':<32} {'enc ms':>8} {'enc Msym/s':>10} {'dec ms':>8} {'dec Msym/s':>10} {'bytes':>8} "
            f"{'overhead B':>10} {'overhead %':>10}")
  print(header)
  print("-" * len(header))
  for name, t_enc, t_dec, size in rows:
    extra = size - ideal / 8
    print(f"{name:<32} {t_enc * 1e3:>8.1f} {n / t_enc / 1e6:>10.2f} "
          f"{t_dec * 1e3:>8.1f} {n / t_dec / 1e6:>10.2f} "
          f"{size:>8} {extra:>10.1f} {100 * extra / (ideal / 8):>10.3f}")
  print("Overhead is over the ideal code length of jcomp's 16-bit tables; constriction re-quantizes the same "
        "probabilities to its own 24-bit tables.")


if __name__ == "__main__":
  main()
