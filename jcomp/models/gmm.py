"""Discretised Gaussian mixtures over a quantizer's bins: the CCN entropy model's GMM head, in JAX.

  raw head outputs (..., 3M) ─mixture_from_raw─> means, scales, log_weights (..., M)
                             ─bin_log_probs(centers)─> log P(symbol) (..., L), nats

Each center owns its quantization bin, edges at the midpoints between the sorted centers and the outer bins
reaching to -inf and +inf (the quantizer clamps values beyond the outer centers to them), exactly the bins
of the centers (tests/models/test_gmm.py checks the masses against a float64 SciPy-free reference)::

  centers      c0        c1        c2        c3
  bins    -inf ----|---------|---------|---- +inf

The masses are computed in log space (log Phi, and each inner bin on the side of the line where its CDF
difference does not cancel), so a symbol far in a component's tail has a large but finite cost in bits and a
finite gradient: training never sees log 0. The log masses sum to 1 up to float32 rounding; used as logits
(log_softmax, softmax) they give the discretised mixture itself, which is how the training loss and the
coder's tables (`probabilities.logits_to_freqs_jax`) consume them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr, logsumexp

MIN_SCALE = 0.01  # lower bound of the mixture scales, in latent units (centers are ~1 apart)


def mixture_from_raw(raw: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
  """Raw head outputs (..., 3M), laid out [means | scale pre-activations | weight logits], -> the mixture:
  means (..., M), scales (..., M) >= MIN_SCALE (softplus), log_weights (..., M) (log_softmax)."""
  if raw.shape[-1] % 3:
    raise ValueError(f"a GMM head needs 3 outputs per component, got {raw.shape[-1]} channels")
  means, pre_scales, weight_logits = jnp.split(raw.astype(jnp.float32), 3, axis=-1)
  return means, MIN_SCALE + jax.nn.softplus(pre_scales), jax.nn.log_softmax(weight_logits, axis=-1)


def _log1mexp(x: jnp.ndarray) -> jnp.ndarray:
  """log(1 - exp(x)) for x < 0, accurate at both ends (Maechler 2012); x is clamped to <= -1e-30."""
  x = jnp.minimum(x, -1e-30)
  return jnp.where(x > -0.6931472, jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def _log_mass(z_lo: jnp.ndarray, z_hi: jnp.ndarray) -> jnp.ndarray:
  """log(Phi(z_hi) - Phi(z_lo)) for z_lo < z_hi, elementwise. The interval is mirrored onto the lower half
  of the line when its midpoint is above 0 (Phi(b) - Phi(a) = Phi(-a) - Phi(-b)), where Phi is far from 1."""
  flip = z_lo + z_hi > 0
  u = jnp.where(flip, -z_hi, z_lo)
  v = jnp.where(flip, -z_lo, z_hi)
  log_v = log_ndtr(v)
  return log_v + _log1mexp(log_ndtr(u) - log_v)


def bin_log_probs(means: jnp.ndarray, scales: jnp.ndarray, log_weights: jnp.ndarray,
                  centers: jnp.ndarray) -> jnp.ndarray:
  """Log mass (nats) of each center's bin under a Gaussian mixture, per code.

  Args:
    means, scales, log_weights: (..., M) mixture parameters (scales > 0, logsumexp(log_weights) = 0).
    centers: (L,) center values, L >= 2, in any order (entry i of the output belongs to centers[i]); treated
      as constants (no gradient flows into the bin edges).

  Returns:
    (..., L) float32 log probabilities, summing (in probability) to 1 up to rounding.
  """
  c = jax.lax.stop_gradient(jnp.asarray(centers, jnp.float32))
  if c.ndim != 1 or c.shape[0] < 2:
    raise ValueError(f"centers must have shape (L,) with L >= 2, got {c.shape}")
  order = jnp.argsort(c)
  s = c[order]
  edges = (s[1:] + s[:-1]) / 2                                             # (L-1,)
  z = (edges[:, None] - means[..., None, :]) / scales[..., None, :]        # (..., L-1, M)
  first = log_ndtr(z[..., :1, :])                                          # (-inf, e_0]
  last = log_ndtr(-z[..., -1:, :])                                         # (e_{L-2}, +inf)
  inner = _log_mass(z[..., :-1, :], z[..., 1:, :])                         # (e_{i-1}, e_i]
  per_component = jnp.concatenate([first, inner, last], axis=-2)          # (..., L, M), sorted order
  log_p_sorted = logsumexp(per_component + log_weights[..., None, :], axis=-1)
  return jnp.take(log_p_sorted, jnp.argsort(order), axis=-1)              # back to the centers' order


def logits_from_raw(raw: jnp.ndarray, centers: jnp.ndarray) -> jnp.ndarray:
  """Raw GMM head outputs (..., 3M) -> log bin masses (..., L): the head's "logits" for training and coding."""
  return bin_log_probs(*mixture_from_raw(raw), centers)
