"""Quantizers and importance masks: hard forward values, the gradients they pass back, kept channels."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jcomp.models import importance
from jcomp.models.quantizer import Binarizer, CentersQuantizer, nearest_center, soft_quantize

CENTERS = np.array([-1.7, -0.9, -0.2, 0.4, 1.1, 1.9], np.float32)


def _centers_quantizer(sigma: float = 1.0):
  q = CentersQuantizer(num_centers=len(CENTERS), sigma=sigma)
  return q, {"params": {"centers": jnp.asarray(CENTERS)}}


def test_centers_forward_is_the_nearest_center_exactly():
  q, params = _centers_quantizer()
  z = np.random.default_rng(0).normal(scale=1.5, size=(3, 5, 7)).astype(np.float32)
  values, symbols, _ = q.apply(params, z, np.ones_like(z))
  idx = np.argmin(np.abs(z[..., None] - CENTERS), axis=-1)
  np.testing.assert_array_equal(np.asarray(symbols), idx)
  np.testing.assert_array_equal(np.asarray(values), CENTERS[idx])
  assert symbols.dtype == jnp.int32


@pytest.mark.parametrize("sigma", [1.0, 4.0])
def test_centers_gradient_equals_the_soft_quantization_gradient(sigma):
  q, params = _centers_quantizer(sigma)
  z = jnp.asarray(np.random.default_rng(1).normal(scale=1.5, size=(4, 6)).astype(np.float32))
  w = jnp.asarray(np.random.default_rng(2).normal(size=(4, 6)).astype(np.float32))
  hard_loss = lambda p, z: jnp.sum(w * q.apply(p, z, jnp.ones_like(z))[0])
  soft_loss = lambda p, z: jnp.sum(w * soft_quantize(z, p["params"]["centers"], sigma))
  g_hard = jax.grad(hard_loss, argnums=(0, 1))(params, z)
  g_soft = jax.grad(soft_loss, argnums=(0, 1))(params, z)
  np.testing.assert_allclose(g_hard[1], g_soft[1], rtol=1e-6, atol=1e-7)  # to z
  np.testing.assert_allclose(g_hard[0]["params"]["centers"], g_soft[0]["params"]["centers"],
                             rtol=1e-6, atol=1e-7)  # to the centers
  assert np.abs(np.asarray(g_hard[1])).max() > 0


def test_nearest_center_breaks_ties_towards_the_first_center():
  values, idx = nearest_center(jnp.asarray([0.0]), jnp.asarray([-1.0, 1.0]))
  assert int(idx[0]) == 0 and float(values[0]) == -1.0


def test_binarizer_forward_is_a_threshold_at_one_half_of_the_sigmoid():
  z = jnp.asarray([-3.0, -0.1, 0.0, 0.1, 2.0])
  values, symbols, _ = Binarizer().apply({}, z, np.ones_like(z))
  np.testing.assert_array_equal(np.asarray(values), [0, 0, 0, 1, 1])
  np.testing.assert_array_equal(np.asarray(symbols), [0, 0, 0, 1, 1])
  assert symbols.dtype == jnp.int32


def test_binarizer_gradient_is_straight_through_the_sigmoid():
  z = jnp.asarray([-3.0, -0.1, 0.0, 0.1, 2.0])
  g = jax.grad(lambda z: jnp.sum(Binarizer().apply({}, z, jnp.ones_like(z))[0] * jnp.arange(5.0)))(z)
  s = jax.nn.sigmoid(z)
  np.testing.assert_allclose(g, s * (1 - s) * jnp.arange(5.0), rtol=1e-6)


def _importance_logits(shape=(2, 3, 4), seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(scale=3.0, size=shape).astype(np.float32))


def _assert_prefix_mask(mask: np.ndarray) -> np.ndarray:
  """Asserts values in {0, 1} with the kept channels first; returns the count per position."""
  assert set(np.unique(mask)) <= {0.0, 1.0}
  n = mask.sum(axis=-1).astype(int)
  expected = (np.arange(mask.shape[-1]) < n[..., None]).astype(mask.dtype)
  np.testing.assert_array_equal(mask, expected)
  return n


def test_mentzer_mask_keeps_the_first_ceil_k_sigmoid_channels():
  K = 8
  y = _importance_logits()
  mask, soft = importance.mentzer_mask(y, K)
  n = _assert_prefix_mask(np.asarray(mask))
  # eq. 14: channel k is kept iff K sigmoid(y) - k > 0, so n = ceil(K sigmoid(y)).
  np.testing.assert_array_equal(n, np.ceil(K * np.asarray(jax.nn.sigmoid(y))).astype(int))
  assert np.asarray(soft).min() >= 0 and np.asarray(soft).max() <= 1
  np.testing.assert_array_equal(np.asarray(importance.kept_counts(mask)), n)


def test_mentzer_mask_passes_gradient_to_the_importance_logits():
  y = _importance_logits()
  g = jax.grad(lambda y: jnp.sum(importance.mentzer_mask(y, 8)[0] * jnp.arange(8.0)))(y)
  assert np.all(np.isfinite(g)) and np.abs(np.asarray(g)).min() > 0


@pytest.mark.parametrize("channels,levels", [(8, 4), (32, 4), (12, 3), (10, 4)])
def test_li_mask_keeps_exactly_ceil_level_n_over_levels_channels(channels, levels):
  p = jnp.asarray(np.concatenate([[0.0, 1.0, 0.5, 0.25, 0.26, 0.74, 0.75, 1e-4],
                                  np.random.default_rng(3).uniform(size=24)]).astype(np.float32))
  mask = np.asarray(importance.li_mask(p, channels, levels))
  n = _assert_prefix_mask(mask)
  level = np.ceil(np.asarray(p) * levels)
  np.testing.assert_array_equal(n, [math.ceil(l * channels / levels) for l in level])


def test_li_mask_passes_gradient_to_the_importance_probability():
  p = jnp.asarray([0.1, 0.3, 0.6, 0.9])
  g = jax.grad(lambda p: jnp.sum(importance.li_mask(p, 8, 4) * jnp.arange(8.0)))(p)
  assert np.abs(np.asarray(g)).min() > 0
