"""Quantizers: Mentzer et al.'s learned centers (eq. 3-4) and Li et al.'s binarizer.

Both are called as `quantizer(z, mask) -> (values, symbols, latents)` on latents z (B, h, w, K) and the
importance map's mask (same shape, in {0, 1}): `values` float, equal in the forward pass to the quantized
value and carrying the training gradient; `symbols` int32 indices in [0, L) (a masked-out latent gets the
symbol whose value is the nearest to 0, `masked_symbol`); `latents` float32, what was quantized.
`symbol_values(params)` gives the value of each symbol index (L,). `QUANTIZERS` is the table by name.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


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
  learned_centers = True  # class constant: a soft assignment to learned centers exists (loss.soft_rate_gradient)

  @nn.compact
  def __call__(self, z: jnp.ndarray, mask: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    r = self.init_range
    centers = self.param(
        "centers", lambda k, s: jax.random.uniform(k, s, jnp.float32, -r, r), (self.num_centers,))
    z = (z * mask).astype(jnp.float32)  # masked-out latents quantize to Q(0), Mentzer et al.'s zero symbol
    hard, symbols = nearest_center(z, centers)
    soft = soft_quantize(z, centers, self.sigma)
    # = soft + stop_gradient(hard - soft), written so that the forward value is `hard` exactly.
    return jax.lax.stop_gradient(hard) + (soft - jax.lax.stop_gradient(soft)), symbols, z

  @staticmethod
  def symbol_values(params: dict | None) -> jnp.ndarray:
    return params["centers"]


class Binarizer(nn.Module):
  """Li et al. 2018: sigmoid features, 1 if > 0.5 else 0 forward, straight-through gradient; the mask
  multiplies values and symbols (masked-out bits are 0)."""
  learned_centers = False

  @nn.compact
  def __call__(self, z: jnp.ndarray, mask: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    p = jax.nn.sigmoid(z.astype(jnp.float32))
    hard = (p > 0.5).astype(jnp.float32)
    values = hard + (p - jax.lax.stop_gradient(p))  # exactly 0/1 forward
    symbols = hard.astype(jnp.int32) * jax.lax.stop_gradient(mask).astype(jnp.int32)
    return values * mask, symbols, z.astype(jnp.float32)

  @staticmethod
  def symbol_values(params: dict | None) -> jnp.ndarray:
    del params
    return jnp.array([0.0, 1.0], jnp.float32)


QUANTIZERS = {"centers": CentersQuantizer, "binarizer": Binarizer}


def masked_symbol(symbol_values: jnp.ndarray) -> int:
  """The symbol every masked-out latent carries (known to a decoder that knows the mask): the one whose value
  is nearest to 0 (centers: Q(0), Mentzer et al.'s "zero symbol"; binarizer: 0). So decoder input =
  symbol_values[symbols] holds at every position, masked or not."""
  return int(np.argmin(np.square(np.asarray(symbol_values, np.float32))))  # `nearest_center` of 0, on the host
