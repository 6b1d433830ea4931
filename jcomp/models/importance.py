"""Importance maps -> channel masks: Mentzer et al. 2018 eq. 14 and Li et al. 2018 trimmed levels.

Both produce a mask (B, h, w, K) in {0, 1} in the forward pass that keeps the first n(i, j) channels at each
position, with a straight-through (identity) gradient for the rounding, so the importance channel learns.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jcomp import losses


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
  [0, levels], and keeps the first ceil(l * n / levels) of n channels. Returns the mask (B, h, w, n).

  Forward: exactly that 0/1 mask. Backward: the paper's surrogate for the rounding, dm_k/dp = levels inside a
  window of width 2 (in units of levels) around the level at which channel k switches on, 0 outside, so
  the rate term reaches p wherever a channel is near its switch (a straight-through clip would be flat
  almost everywhere).
  """
  u = jnp.clip(p, 0.0, 1.0)[..., None] * levels
  k = jnp.arange(num_channels, dtype=jnp.float32)
  level = jnp.ceil(u)
  hard = (k < jnp.ceil(level * num_channels / levels)).astype(jnp.float32)
  switch = jnp.floor(k * levels / num_channels)  # channel k is kept iff u > switch
  soft = jnp.clip(u - switch + 1.0, 0.0, 2.0)
  return jax.lax.stop_gradient(hard) + (soft - jax.lax.stop_gradient(soft))  # forward: exactly hard


def kept_counts(mask: jnp.ndarray) -> jnp.ndarray:
  """Number of kept channels per position, (B, h, w) int32."""
  return jnp.round(jnp.sum(mask, axis=-1)).astype(jnp.int32)


class ImportanceMap(nn.Module):
  """An importance map part: `map(z, features) -> (z (B, h, w, K), mask (B, h, w, K), importance (B, h, w))`
  from the encoder's outputs z (B, h, w, K + extra_channels) and intermediate features."""
  extra_channels = 0      # encoder outputs beyond the K latents
  codes_counts = True     # the codec codes the kept-channel counts (payload 0)

  @staticmethod
  def rate_bits(mask: jnp.ndarray, coding_bits: jnp.ndarray) -> jnp.ndarray:
    """The rate the map was designed with (bits per symbol): by default the coding cost."""
    del mask
    return coding_bits


class MentzerImportance(ImportanceMap):
  """Eq. 14: the encoder's last channel y is the importance map."""
  num_channels: int
  extra_channels = 1      # the importance logit

  def __call__(self, z, features):
    K = self.num_channels
    mask, soft = mentzer_mask(z[..., K], K)
    return z[..., :K], mask, jnp.sum(soft, axis=-1)


class LiImportance(ImportanceMap):
  """Li et al. 2018: a small network on the encoder's intermediate features (after the residual blocks, at
  twice the code's resolution; a stride-2 conv brings them down). Not z: a stage-1 encoder's z reach |z| ~ 100
  and would saturate p at 0 or 1, where the mask's gradient cannot reach it."""
  num_channels: int
  levels: int = 4
  features: int = 64
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, features):
    h = nn.relu(nn.Conv(self.features, (3, 3), strides=2, dtype=self.dtype, name="importance_net_0")(features))
    p = jax.nn.sigmoid(nn.Conv(1, (1, 1), name="importance_net_1")(h))[..., 0]
    return z, li_mask(p, self.num_channels, self.levels), p * self.num_channels

  @staticmethod
  def rate_bits(mask: jnp.ndarray, coding_bits: jnp.ndarray) -> jnp.ndarray:
    """Li et al.'s rate: the kept bits (a fraction of the code)."""
    del coding_bits
    return losses.kept_bits(mask)


class NoImportance(ImportanceMap):
  """All K channels kept everywhere."""
  num_channels: int
  codes_counts = False  # nothing to code: the decoder knows all K are kept

  def __call__(self, z, features):
    return z, jnp.ones_like(z), jnp.full(z.shape[:-1], float(self.num_channels))


IMPORTANCE_MAPS = {"mentzer": MentzerImportance, "li": LiImportance, "none": NoImportance}
