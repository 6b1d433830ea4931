"""Quantizers: Mentzer et al.'s learned centers (eq. 3-4) and Li et al.'s binarizer.

Both return `(values, symbols)`: `values` float, same shape as the input, equal in the forward pass to the
quantized value and carrying the training gradient; `symbols` int32 indices in [0, L).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def nearest_center(z: jnp.ndarray, centers: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Hard quantization. z (...,), centers (L,) -> (centers[idx], idx int32)."""
  dist = (z[..., None] - centers) ** 2
  idx = jnp.argmin(dist, axis=-1).astype(jnp.int32)
  return centers[idx], idx


def soft_quantize(z: jnp.ndarray, centers: jnp.ndarray, sigma: float) -> jnp.ndarray:
  """Soft assignment z~ = sum_j softmax(-sigma (z - c_j)^2)_j c_j (eq. 3)."""
  w = jax.nn.softmax(-sigma * (z[..., None] - centers) ** 2, axis=-1)
  return jnp.sum(w * centers, axis=-1)


class CentersQuantizer(nn.Module):
  """L learned centers, initialised uniform in (-2, 2).

  Forward: nearest center (hard). Backward: gradient of the soft assignment,
  z_bar = z~ + stop_gradient(z^ - z~) (eq. 4).
  """
  num_centers: int = 6
  sigma: float = 1.0
  init_range: float = 2.0

  @nn.compact
  def __call__(self, z: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    r = self.init_range
    centers = self.param(
        "centers", lambda k, s: jax.random.uniform(k, s, jnp.float32, -r, r), (self.num_centers,))
    z = z.astype(jnp.float32)
    hard, symbols = nearest_center(z, centers)
    soft = soft_quantize(z, centers, self.sigma)
    # = soft + stop_gradient(hard - soft), written so that the forward value is `hard` exactly.
    return jax.lax.stop_gradient(hard) + (soft - jax.lax.stop_gradient(soft)), symbols

  def centers(self) -> jnp.ndarray:
    return self.variables["params"]["centers"]


class Binarizer(nn.Module):
  """Li et al. 2018: sigmoid features, 1 if > 0.5 else 0 forward, straight-through gradient."""

  @nn.compact
  def __call__(self, z: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    p = jax.nn.sigmoid(z.astype(jnp.float32))
    hard = (p > 0.5).astype(jnp.float32)
    return hard + (p - jax.lax.stop_gradient(p)), hard.astype(jnp.int32)  # exactly 0/1 forward


def quantizer_centers(quantizer_params: dict | None, name: str) -> jnp.ndarray:
  """The value of each symbol index: learned centers, or (0, 1) for the binarizer."""
  if name == "binarizer":
    return jnp.array([0.0, 1.0], jnp.float32)
  return quantizer_params["centers"]
