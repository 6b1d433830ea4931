"""Causal 3D masked convolution (Mentzer et al. 2018, Sec. 3.2 and Fig. 3) and its mask builder.

The symbol volume (B, K, h, w) is read as a 3D image with depth = the K latent channels. A kernel of depth 2
spans the previous and the current channel slice; inside the current slice the order is raster order
(row-major). Kernel (depth 2, 3, 3), depth index 0 = previous slice, 1 = current slice::

  previous slice      current slice, mask A        current slice, mask B
    1 1 1               1 1 1                        1 1 1
    1 1 1               1 0 0   <- no self           1 1 0   <- self included
    1 1 1               0 0 0                        0 0 0

Mask A (first layer) makes the output at a position depend only on strictly earlier symbols; mask B (later
layers) adds the position itself, which after a mask-A layer still only carries earlier symbols.
With this kernel the dependency order is compatible with the wavefront index 4*d + 2*h + w: every tap of
either mask points to a position whose index is strictly smaller (or, for mask B, to the position itself),
which is what `jcomp.coding.schedule` exploits to decode whole wavefronts at once.
"""

from __future__ import annotations

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

MaskType = Literal["A", "B"]


def causal_mask_3d(kernel_size: tuple[int, int, int], mask_type: MaskType) -> np.ndarray:
  """Returns the (kd, kh, kw) 0/1 mask of a causal 3D convolution.

  The last depth index is the current slice; earlier depth indices are previous slices (fully visible).
  """
  kd, kh, kw = kernel_size
  mask = np.ones(kernel_size, np.float32)
  ch, cw = kh // 2, kw // 2
  cur = mask[kd - 1]
  cur[ch + 1:, :] = 0
  cur[ch, cw + 1:] = 0
  if mask_type == "A":
    cur[ch, cw] = 0
  return mask


def mask_taps(kernel_size: tuple[int, int, int], mask_type: str) -> np.ndarray:
  """(T, 3) offsets (dd, dh, dw) of the taps a causal mask lets through, in the kernel's (row-major) order."""
  kd, kh, kw = kernel_size
  grid = np.stack(np.meshgrid(np.arange(kd) - (kd - 1), np.arange(kh) - kh // 2, np.arange(kw) - kw // 2,
                              indexing="ij"), -1)
  return grid[causal_mask_3d(kernel_size, mask_type) > 0]


class MaskedConv3D(nn.Module):
  """3D convolution with a causal mask over (B, D, H, W, C) volumes.

  Padding is causal in depth (kd - 1 slices in front) and symmetric in space; the caller pads the
  input (`pad_value`, e.g. centers[0] for the first layer) so the mask alone defines causality.
  """
  features: int
  mask_type: MaskType
  kernel_size: tuple[int, int, int] = (2, 3, 3)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, pad_value: float | jnp.ndarray = 0.0) -> jnp.ndarray:
    kd, kh, kw = self.kernel_size
    in_features = x.shape[-1]
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (kd, kh, kw, in_features, self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    mask = jnp.asarray(causal_mask_3d(self.kernel_size, self.mask_type))
    kernel = kernel * mask[:, :, :, None, None]
    pads = ((0, 0), (kd - 1, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0))
    x = jnp.pad(x, pads, constant_values=pad_value)
    y = jax.lax.conv_general_dilated(
        x.astype(self.dtype), kernel.astype(self.dtype), window_strides=(1, 1, 1), padding="VALID",
        dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    return y + bias.astype(self.dtype)
