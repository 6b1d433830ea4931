"""Tests of the quantization of probabilities into integer frequency tables."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jcomp.coding import probabilities


@pytest.mark.parametrize("num_symbols", [2, 3, 6, 17, 256])
@pytest.mark.parametrize("precision", [12, 16])
def test_rows_sum_to_total_with_every_entry_at_least_one(num_symbols, precision):
  rng = np.random.default_rng(num_symbols)
  logits = (rng.normal(size=(500, num_symbols)) * rng.uniform(0, 30, size=(500, 1))).astype(np.float32)
  freqs = probabilities.logits_to_freqs(logits, precision)
  assert freqs.shape == logits.shape
  assert freqs.dtype.kind == "i"
  assert freqs.min() >= 1
  np.testing.assert_array_equal(freqs.sum(-1), 2**precision)


@pytest.mark.parametrize("num_symbols", [2, 6, 17, 256])
def test_jitted_tables_are_valid_and_follow_the_same_rule(num_symbols):
  """The decoding steps' float32 tables: exact totals, entries >= 1, within one count of the float64 ones."""
  import jax  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(num_symbols)
  logits = (rng.normal(size=(3000, num_symbols)) * rng.uniform(0, 300, size=(3000, 1))).astype(np.float32)
  logits[0] = 0.0  # flat
  logits[1, 0] = 1e4  # deterministic
  got = np.asarray(jax.jit(probabilities.logits_to_freqs_jax)(logits))
  assert got.min() >= 1
  np.testing.assert_array_equal(got.sum(-1), 2**16)
  ref = probabilities.logits_to_freqs(logits)
  assert np.abs(got - ref).max() <= 1
  np.testing.assert_array_equal(got[:2], ref[:2])


@pytest.mark.parametrize("num_symbols", [2, 6, 64])
def test_numpy_and_jax_rounding_agree_exactly_on_the_same_float32_input(num_symbols):
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  p = rng.dirichlet(np.full(num_symbols, 0.3), size=2000).astype(np.float32)
  p[0] = 1.0 / num_symbols  # ties everywhere
  p[1] = np.round(p[1] * 8) / 8  # ties between some entries
  a = probabilities._quantize(p, 2**16, np, np.int64)  # pylint: disable=protected-access
  b = probabilities._quantize(jnp.asarray(p), 2**16, jnp, jnp.int32)  # pylint: disable=protected-access
  np.testing.assert_array_equal(a, np.asarray(b))


@given(
    num_symbols=st.integers(2, 256),
    scale=st.floats(0.0, 1e4),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=100, deadline=None)
def test_any_logits_give_valid_tables(num_symbols, scale, seed):
  logits = (np.random.default_rng(seed).normal(size=(4, num_symbols)) * scale).astype(np.float32)
  freqs = probabilities.logits_to_freqs(logits)
  assert freqs.min() >= 1
  np.testing.assert_array_equal(freqs.sum(-1), 2**16)


def test_quantization_is_deterministic_and_batch_independent():
  logits = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32) * 3
  a = probabilities.logits_to_freqs(logits)
  b = probabilities.logits_to_freqs(logits.copy())
  np.testing.assert_array_equal(a, b)
  rows = np.stack([probabilities.logits_to_freqs(row) for row in logits])
  np.testing.assert_array_equal(a, rows)
  np.testing.assert_array_equal(probabilities.logits_to_freqs(logits.reshape(8, 8, 6)), a.reshape(8, 8, 6))


@pytest.mark.parametrize("num_symbols", [2, 6, 256])
def test_extreme_logit_gives_winner_all_but_one_per_other_symbol(num_symbols):
  logits = np.zeros((1, num_symbols), np.float32)
  logits[0, num_symbols // 2] = 1e4
  freqs = probabilities.logits_to_freqs(logits)[0]
  assert freqs[num_symbols // 2] == 2**16 - (num_symbols - 1)
  assert np.all(np.delete(freqs, num_symbols // 2) == 1)


def test_masked_logits_get_frequency_one():
  freqs = probabilities.logits_to_freqs(np.array([[0.0, -np.inf, 0.0]]))
  np.testing.assert_array_equal(freqs, [[32768, 1, 32767]])


def test_uniform_distribution_splits_evenly_with_ties_to_lower_index():
  freqs = probabilities.logits_to_freqs(np.zeros((1, 6), np.float32))[0]
  assert freqs.max() - freqs.min() <= 1
  assert list(freqs) == sorted(freqs, reverse=True)


def test_tables_are_close_to_the_probabilities():
  rng = np.random.default_rng(1)
  pmf = rng.dirichlet(np.full(6, 0.3), size=1000)
  freqs = probabilities.pmf_to_freqs(pmf)
  assert np.abs(freqs / 2**16 - pmf).max() <= 8 / 2**16


def test_pmf_to_freqs_renormalizes_unnormalized_mass():
  np.testing.assert_array_equal(probabilities.pmf_to_freqs(np.array([3.0, 1.0]), 4), [12, 4])


@pytest.mark.parametrize("bad", [np.array([[np.nan, 0.0]]), np.array([[-np.inf, -np.inf]])])
def test_invalid_logits_raise_value_error(bad):
  with pytest.raises(ValueError):
    probabilities.logits_to_freqs(bad)


def test_too_many_symbols_for_precision_raises_value_error():
  with pytest.raises(ValueError):
    probabilities.logits_to_freqs(np.zeros((1, 9)), precision=3)


def test_ideal_bits_is_the_sum_of_negative_log2_probabilities():
  freqs = np.array([[2, 2], [1, 3], [1, 3]])
  symbols = np.array([0, 0, 1])
  expected = 1.0 + 2.0 + (2.0 - math.log2(3.0))
  assert probabilities.ideal_bits(freqs, symbols) == pytest.approx(expected)
  assert probabilities.ideal_bits(freqs[:0], symbols[:0]) == 0.0
