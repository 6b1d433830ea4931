"""Importance maps -> channel masks: Mentzer et al. 2018 eq. 14 and Li et al. 2018 trimmed levels.

Both produce a mask (B, h, w, K) in {0, 1} in the forward pass that keeps the first n(i, j) channels at each
position, with a straight-through (identity) gradient for the rounding, so the importance channel learns.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def ceil_ste(x: jnp.ndarray) -> jnp.ndarray:
  """ceil(x) forward (exactly), identity gradient."""
  return jnp.ceil(x) + (x - jax.lax.stop_gradient(x))


def clip_leaky_below(x: jnp.ndarray) -> jnp.ndarray:
  """clip(x, 0, 1) forward; the gradient passes where x < 0 (it is 0 only above 1)."""
  m = jnp.minimum(x, 1.0)
  return jnp.clip(x, 0.0, 1.0) + (m - jax.lax.stop_gradient(m))


def mentzer_mask(y: jnp.ndarray, num_channels: int) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Eq. 14. y: (B, h, w) raw importance logits.

  Returns (mask, soft): `mask` = ceil(m) with identity gradient, `soft` = m = clip(K sigmoid(y) - k, 0, 1);
  both (B, h, w, K). Guard against a collapsed map: with a plain clip, a masked-out channel (m = 0) gets no
  gradient, so once the map shrinks below what the distortion needs (and the clipped rate term is off),
  nothing pulls it back; here the lower clip passes the gradient, so the distortion can re-open channels.
  """
  y = jax.nn.sigmoid(y.astype(jnp.float32)) * num_channels
  k = jnp.arange(num_channels, dtype=jnp.float32)
  m = clip_leaky_below(y[..., None] - k)
  return ceil_ste(m), m


def li_mask(p: jnp.ndarray, num_channels: int, levels: int) -> jnp.ndarray:
  """Li et al. 2018. p: (B, h, w) in [0, 1]. Quantizes p to `levels` levels, l = ceil(p * levels) in
  [0, levels] (straight-through), and keeps the first ceil(l * n / levels) of n channels.
  Returns the mask (B, h, w, n).
  """
  level = ceil_ste(jnp.clip(p, 0.0, 1.0) * levels)
  k = jnp.arange(num_channels, dtype=jnp.float32)
  # channel k is kept iff k < ceil(level * n / levels); its soft value grows with the level (gradient to p).
  return ceil_ste(jnp.clip(level[..., None] * num_channels / levels - k, 0.0, 1.0))


def kept_counts(mask: jnp.ndarray) -> jnp.ndarray:
  """Number of kept channels per position, (B, h, w) int32."""
  return jnp.round(jnp.sum(mask, axis=-1)).astype(jnp.int32)
