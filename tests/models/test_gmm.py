"""The CCN GMM head (jcomp/models/gmm.py, ccn.CCNGMMContextModel): discretised mixture, causality, training."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import ndtr

from jcomp import losses
from jcomp.models import gmm
from jcomp.models.ccn import CCNGMMContextModel
from tests.conftest import fast_compilation, random_like

CENTERS = np.array([0.5, -2.0, 1.5, -0.5, 2.5, 3.5], np.float32)  # unsorted, as learned centers are


def test_bin_log_probs_match_the_float64_bin_masses():
  rng = np.random.default_rng(0)
  means, scales = rng.normal(scale=2.0, size=(50, 2)), np.exp(rng.normal(-1.0, 1.0, size=(50, 2)))
  w = rng.dirichlet(np.ones(2), size=50)
  got = np.exp(np.asarray(jax.jit(gmm.bin_log_probs)(jnp.asarray(means, jnp.float32), jnp.asarray(scales, jnp.float32),
                                            jnp.log(jnp.asarray(w, jnp.float32)), CENTERS)))
  s = np.sort(CENTERS.astype(np.float64))
  edges = np.concatenate([[-np.inf], (s[1:] + s[:-1]) / 2, [np.inf]])
  cdf = ndtr((edges[None, :, None] - means[:, None]) / scales[:, None])  # (50, L + 1, M)
  ref_sorted = np.sum(w[:, None] * np.diff(cdf, axis=1), axis=-1)
  ref = ref_sorted[:, np.argsort(np.argsort(CENTERS))]
  np.testing.assert_allclose(got, ref, atol=2e-6)
  np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)


def test_far_tails_cost_finite_bits_with_finite_gradients():
  """A symbol 1e3 scales away from the only component: huge but finite cost, no NaN gradient."""
  def bits(mu):
    logp = gmm.bin_log_probs(mu[None], jnp.array([0.01]), jnp.zeros(1), CENTERS)
    return -logp[1] / jnp.log(2.0)  # center -2.0, the mean at +3.5 or beyond
  value_and_grad = jax.jit(jax.value_and_grad(bits))
  for mu in (3.5, 50.0, 1e4):
    b, g = value_and_grad(jnp.float32(mu))
    assert np.isfinite(b) and b > 100 and np.isfinite(g) and g > 0


def _model():
  return CCNGMMContextModel(num_centers=len(CENTERS), num_components=2, group=2, kernel_size=(3, 3))


def test_gmm_model_needs_the_centers_outside_init():
  model = _model()
  values = jnp.zeros((1, 2, 3, 3))
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), values, 0.0)  # init alone may omit them
  params = random_like(shapes, seed=0)
  with pytest.raises(ValueError, match="centers"):
    model.apply(params, values, 0.0)


def test_gmm_head_trains():
  """A few Adam steps on structured volumes (each channel a noisy copy of the previous) lower the bits."""
  rng = np.random.default_rng(0)
  base = rng.integers(0, 6, (16, 1, 6, 6))
  noise = rng.random((16, 4, 6, 6)) < 0.1
  symbols = np.where(noise, rng.integers(0, 6, (16, 4, 6, 6)), np.repeat(base, 4, axis=1)).astype(np.int32)
  model = _model()
  params = random_like(jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 4, 6, 6)), 0.0),
                       seed=0, scale=0.3)["params"]
  c = jnp.asarray(CENTERS)
  tx = optax.adam(1e-2)

  def bits_per_symbol(p, s):
    return jnp.mean(losses.symbol_bits(model.apply({"params": p}, c[s], c[0], centers=c), s))

  @jax.jit
  def step(p, opt, s):
    loss, g = jax.value_and_grad(bits_per_symbol)(p, s)
    updates, opt = tx.update(g, opt)
    return optax.apply_updates(p, updates), opt, loss

  opt, history = tx.init(params), []
  with fast_compilation():
    for _ in range(30):
      params, opt, loss = step(params, opt, jnp.asarray(symbols[rng.integers(0, len(symbols), 8)]))
      history.append(float(loss))
  assert np.all(np.isfinite(history))
  assert np.mean(history[-5:]) < 0.8 * np.mean(history[:3])
