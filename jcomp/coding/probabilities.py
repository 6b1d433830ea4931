"""Quantization of model probabilities into the integer frequency tables the entropy coder uses.

Every function here turns a distribution over an alphabet of L symbols (softmax logits, or a probability
mass function such as a future discretised GMM) into integer frequencies of shape (..., L) in which every
entry is at least 1 and every row sums to exactly 2**precision, so any symbol stays codable however
unlikely the model thinks it is. The rounding is done in float64 NumPy with integer tie-breaking, so the
same input arrays give the same tables on every call; encoder and decoder must therefore feed bit-identical
logits (or pmfs) in. Caveat: NumPy's `exp` may differ in the last ulp between CPU builds (SIMD kernels), so
tables are only guaranteed identical across machines when the float64 probabilities are. `ideal_bits`
gives the ideal code length (bits) of symbols under the quantized tables, the bound the coder is measured
against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
  import jax.numpy as jnp  # imported where used: the NumPy half serves code that runs before JAX is loaded

DEFAULT_PRECISION = 16


def _check_precision(precision: int, num_symbols: int) -> int:
  if not 1 <= precision <= 30:
    raise ValueError(f"precision must be in [1, 30], got {precision}")
  total = 1 << precision
  if num_symbols < 1 or num_symbols > total:
    raise ValueError(f"cannot give {num_symbols} symbols a frequency >= 1 out of 2**{precision}")
  return total


def _quantize(p, total: int, xp, int_dtype):
  """The one rounding rule, for NumPy (float64) and jax.numpy (float32, traceable): rows of p (..., L) summing
  to 1 -> integer tables, entry i = floor(p_i * (total - L)) + 1, plus one for the rows' r largest fractional
  parts, r what is left to reach the total (ties go to the lower index)."""
  num_symbols = p.shape[-1]
  scaled = p * (total - num_symbols)  # Mass left after giving every symbol its guaranteed 1.
  base = xp.floor(scaled)
  frac = scaled - base
  freqs = base.astype(int_dtype) + 1
  # The floors lose less than 1 per entry, so 0 <= remainder < L (up to float rounding of sum(p) = 1,
  # which the clip absorbs: a remainder of L gives every entry +1, still summing exactly to the total).
  remainder = xp.clip(total - freqs.sum(axis=-1, keepdims=True), 0, num_symbols)
  if xp is np:  # rank of each entry with the largest fractional part first, ties by index
    rank = np.argsort(np.argsort(-frac, axis=-1, stable=True), axis=-1, stable=True)
  else:  # the same rank by pairwise comparison: XLA's CPU sort costs ~1 ms per (1000, 6) table
    i = xp.arange(num_symbols)
    ahead = (frac[..., None, :] > frac[..., :, None]) | (
        (frac[..., None, :] == frac[..., :, None]) & (i[None, :] < i[:, None]))
    rank = ahead.sum(axis=-1)
  freqs = freqs + (rank < remainder).astype(int_dtype)
  # float32 rows may sum to 1 + O(L eps) and overshoot by a few counts: take them from the largest entry
  # (>= total / L, so it stays >= 1). A no-op in float64.
  excess = xp.maximum(freqs.sum(axis=-1, keepdims=True) - total, 0)
  largest = xp.arange(num_symbols) == xp.argmax(freqs, axis=-1)[..., None]
  return freqs - excess * largest.astype(int_dtype)


def pmf_to_freqs(pmf: np.ndarray, precision: int = DEFAULT_PRECISION) -> np.ndarray:
  """Quantizes probabilities to integer frequency tables.

  Args:
    pmf: (..., L) non-negative float array; rows are renormalized to sum to 1 (in float64), so unnormalized
      masses (e.g. a discretised density over the alphabet's bins) are fine. Each row needs a positive sum.
    precision: the tables sum to 2**precision.

  Returns:
    (..., L) int64 frequencies, every entry >= 1, every row summing to exactly 2**precision. Entry i is
    floor(p_i * (2**precision - L)) + 1, plus one for the rows' r largest fractional parts of
    p_i * (2**precision - L), where r is what is left to reach the total (ties go to the lower index).
  """
  p = np.asarray(pmf, dtype=np.float64)
  if p.ndim < 1:
    raise ValueError(f"pmf must have at least one axis, got shape {p.shape}")
  num_symbols = p.shape[-1]
  total = _check_precision(precision, num_symbols)
  if not np.all(np.isfinite(p)) or np.any(p < 0):
    raise ValueError("pmf entries must be finite and non-negative")
  norm = p.sum(axis=-1, keepdims=True)
  if np.any(norm <= 0):
    raise ValueError("every pmf row needs a positive sum")
  return _quantize(p / norm, total, np, np.int64)


def logits_to_freqs(logits: np.ndarray, precision: int = DEFAULT_PRECISION) -> np.ndarray:
  """Softmax (in float64) of logits, quantized to integer frequency tables.

  Args:
    logits: (..., L) float32/float64 logits over L symbols; -inf entries are allowed (probability 0, still
      frequency 1), but every row needs a finite maximum and no NaN.
    precision: the tables sum to 2**precision.

  Returns:
    (..., L) int64 frequencies as `pmf_to_freqs` of the softmax; e.g. a row with one logit at +1e4 gives
    that symbol 2**precision - (L - 1) and every other symbol 1.
  """
  z = np.asarray(logits, dtype=np.float64)
  if z.ndim < 1 or z.shape[-1] < 1:
    raise ValueError(f"logits must have shape (..., L) with L >= 1, got {z.shape}")
  if np.any(np.isnan(z)):
    raise ValueError("logits contain NaN")
  peak = z.max(axis=-1, keepdims=True)
  if not np.all(np.isfinite(peak)):
    raise ValueError("every logits row needs a finite maximum")
  e = np.exp(z - peak)  # In (0, 1], the max entry exactly 1, so every row sum is >= 1.
  return pmf_to_freqs(e, precision)


def logits_to_freqs_jax(logits: jnp.ndarray, precision: int = DEFAULT_PRECISION) -> jnp.ndarray:
  """`logits_to_freqs` inside a jitted function (float32 softmax, the same rounding rule): the context models'
  decoding steps emit their tables with it, so the host only runs the coder. Deterministic for a given
  backend and compiled program, which is what encoder/decoder agreement needs (both run the same step).

  logits (..., L) finite float -> (..., L) int32 tables, entries >= 1, rows summing to 2**precision.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  total = _check_precision(precision, logits.shape[-1])
  p = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  return _quantize(p, total, jnp, jnp.int32)


def ideal_bits(freqs: np.ndarray, symbols: np.ndarray) -> float:
  """Ideal code length of symbols under integer tables: sum_i -log2(freqs[i, s_i] / sum(freqs[i])).

  Args:
    freqs: (N, L) (or (..., L), matched to symbols' shape) positive integer frequency tables.
    symbols: (N,) (or (...)) integer symbols in [0, L).

  Returns:
    The total ideal code length in bits (float).
  """
  freqs = np.asarray(freqs)
  symbols = np.asarray(symbols)
  if freqs.shape[:-1] != symbols.shape:
    raise ValueError(f"freqs {freqs.shape} do not match symbols {symbols.shape}")
  if symbols.size == 0:
    return 0.0
  chosen = np.take_along_axis(freqs, symbols[..., None].astype(np.int64), axis=-1)[..., 0]
  totals = freqs.sum(axis=-1)
  return float(np.sum(np.log2(totals.astype(np.float64)) - np.log2(chosen.astype(np.float64))))
