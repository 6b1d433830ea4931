"""Mentzer et al. 2018 context model P: a 3D masked CNN over the symbol volume -> logits over L centers.

  values (B, K, h, w) ──pad with centers[0]──> conv A (24) ─ReLU─> [conv B (24) ─ReLU─> conv B (24)] + skip
                                                               ─> conv B (L) ─> logits (B, K, h, w, L)

Receptive field with 4 layers of (2, 3, 3) kernels: the 4 previous slices plus the current one, 9x9 in space
(Sec. 3.2). Logits at a position depend only on symbols strictly before it in the coding order
(depth-major, then raster order); tests/models/test_causality.py checks this for random weights.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jcomp.models.masked_conv import MaskedConv3D


class ContextModel3D(nn.Module):
  """Args: num_centers L, features (24), num_residual_units (1), kernel_size (2, 3, 3)."""
  num_centers: int
  features: int = 24
  num_residual_units: int = 1
  kernel_size: tuple[int, int, int] = (2, 3, 3)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, values: jnp.ndarray, pad_value: jnp.ndarray | float) -> jnp.ndarray:
    """values: (B, K, h, w) quantized latents (center values). Returns logits (B, K, h, w, L) float32."""
    conv = lambda f, m, name: MaskedConv3D(f, m, self.kernel_size, self.dtype, name=name)
    x = values[..., None]
    x = nn.relu(conv(self.features, "A", "conv_in")(x, pad_value))
    for i in range(self.num_residual_units):
      r = nn.relu(conv(self.features, "B", f"res{i}_a")(x))
      r = conv(self.features, "B", f"res{i}_b")(r)
      x = x + r
    logits = conv(self.num_centers, "B", "conv_out")(x)
    return logits.astype(jnp.float32)

  @property
  def num_layers(self) -> int:
    return 2 + 2 * self.num_residual_units
