"""Context-based convolutional networks (CCN, Li et al. 2019): grouped masked convolutions over code channels.

The symbol volume (B, K, h, w) is read as a 2D map with K code channels. Every layer's channels come in
blocks, one block per code channel: channel `k * group + j` is block j of code k. `group_in` is the number of
blocks per code at a layer's input (1 for the symbols themselves), `group_out` at its output, so a layer has
`num_output = K * group_out` channels (the last layer uses group_out = L and yields L logits per code, or
group_out = 3M mixture parameters for the GMM head, `CCNGMMContextModel`).

Coding order ("3D code dividing": one sub-block per code channel). The first `spatial_codes` channels
(default 1) are decoded position by position in raster order; every later channel k is one sub-block,
decoded all at once given the channels before it::

  code 0 (spatial)          code 1 .. K-1: one sub-block each, all positions at once
    1  2  3  4  5 ...         [ k ][ k ][ k ] ...
    .  .  .  .  .             [ k ][ k ][ k ]
                              [ k ][ k ][ k ]

A code at (k, y, x) sees every code of the channels before k (the whole kernel window) and, if k is a
spatial code, the raster-causal neighbourhood of its own channel. Mask of the (kh, kw) = (3, 3) taps from the
input block of code ki to the output block of code ko, `constrain` 5 (input layer) and 6 (hidden layers)::

  ki < ko (earlier code)   ki == ko, spatial code        ki == ko, sub-block code    ki > ko
                           constrain 5   constrain 6     constrain 5  constrain 6
    1 1 1                    1 1 1         1 1 1           0 0 0        0 0 0          0 0 0
    1 1 1                    1 0 0         1 1 0           0 0 0        0 1 0          0 0 0
    1 1 1                    0 0 0         0 0 0           0 0 0        0 0 0          0 0 0

Constrain 5 keeps a code from seeing itself; constrain 6 lets a block see its own code's block at the same
position, which after a constrain-5 layer carries only earlier codes. Hence the logits of a code depend only
on codes decoded before it in the order above, and a whole sub-block depends only on earlier channels:
`jcomp.coding.subblock` decodes the spatial code by wavefronts (index (kw//2 + 1) y + x) and then one
channel per step, K - 1 + (kw//2 + 1)(h - 1) + w steps in all. The masks are translation invariant, so
training is one ordinary (masked) convolution pass.
"""

from __future__ import annotations

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jcomp.models import gmm

Constrain = Literal[5, 6]


def ccn_mask(kernel_size: tuple[int, int], num_codes: int, group_in: int, group_out: int,
             constrain: Constrain, spatial_codes: int = 1) -> np.ndarray:
  """The 0/1 mask (kh, kw, num_codes * group_in, num_codes * group_out) of a grouped masked convolution.

  Args:
    kernel_size: odd (kh, kw).
    num_codes: K code channels.
    group_in / group_out: blocks per code at the input / output; channel index = code * group + j.
    constrain: 5 (input layer: a code does not see itself) or 6 (hidden layer: a block sees its own code's
      block at the centre tap).
    spatial_codes: the first codes that also see their own channel's raster-causal neighbourhood.
  """
  kh, kw = kernel_size
  if kh % 2 == 0 or kw % 2 == 0:
    raise ValueError(f"kernel_size must be odd, got {kernel_size}")
  if constrain not in (5, 6):
    raise ValueError(f"constrain must be 5 or 6, got {constrain}")
  ch, cw = kh // 2, kw // 2
  causal = np.zeros((kh, kw), np.float32)  # own channel, spatial code
  causal[:ch, :] = 1
  causal[ch, :cw] = 1
  centre = np.zeros((kh, kw), np.float32)
  if constrain == 6:
    causal[ch, cw] = 1
    centre[ch, cw] = 1
  code_mask = np.zeros((num_codes, num_codes, kh, kw), np.float32)  # [ki, ko]
  for ko in range(num_codes):
    code_mask[:ko, ko] = 1
    code_mask[ko, ko] = causal if ko < spatial_codes else centre
  mask = np.repeat(np.repeat(code_mask, group_in, axis=0), group_out, axis=1)  # (K gi, K go, kh, kw)
  return np.ascontiguousarray(mask.transpose(2, 3, 0, 1))


def conv_nhwc(x: jnp.ndarray, kernel: jnp.ndarray, dtype=jnp.float32, precision=None) -> jnp.ndarray:
  """'VALID' 2D convolution (B, H, W, Cin) x (kh, kw, Cin, Cout) -> (B, H-kh+1, W-kw+1, Cout)."""
  return jax.lax.conv_general_dilated(
      x.astype(dtype), kernel.astype(dtype), window_strides=(1, 1), padding="VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=precision)


def pad_hw(x: jnp.ndarray, kernel_size: tuple[int, int], value=0.0) -> jnp.ndarray:
  """Pads (B, H, W, C) by kh//2, kw//2 on each side with `value`."""
  kh, kw = kernel_size
  return jnp.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)), constant_values=value)


class GroupedMaskedConv(nn.Module):
  """Grouped masked 2D convolution: (B, H, W, K * group_in) -> (B, H, W, K * group_out).

  K is read from the input (channels // group_in). Params: kernel (kh, kw, K gi, K go), bias (K go,).
  The input is padded with `pad_value` (e.g. centers[0] at the input layer, 0 for hidden layers).
  """
  group_in: int
  group_out: int
  constrain: Constrain
  kernel_size: tuple[int, int] = (5, 5)
  spatial_codes: int = 1
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, pad_value: float | jnp.ndarray = 0.0) -> jnp.ndarray:
    if x.shape[-1] % self.group_in:
      raise ValueError(f"{x.shape[-1]} input channels are not a multiple of group_in={self.group_in}")
    num_codes = x.shape[-1] // self.group_in
    kh, kw = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (kh, kw, x.shape[-1], num_codes * self.group_out), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (num_codes * self.group_out,), jnp.float32)
    mask = ccn_mask(self.kernel_size, num_codes, self.group_in, self.group_out, self.constrain,
                    self.spatial_codes)
    y = conv_nhwc(pad_hw(x, self.kernel_size, pad_value), kernel * jnp.asarray(mask), self.dtype)
    return y + bias.astype(self.dtype)


def ccn_trunk(values: jnp.ndarray, pad_value: jnp.ndarray | float, outputs_per_code: int, group: int,
              num_residual_units: int, kernel_size: tuple[int, int], spatial_codes: int,
              dtype: jnp.dtype) -> jnp.ndarray:
  """The CCN layers, called inside a module's compact method (the layers become its submodules):

    values (B, K, h, w) -> (B, h, w, K) ─conv_in (5, 1 -> g) ─ReLU─> [res{i}_a (6) ─ReLU─> res{i}_b (6)] + skip
                                        ─> conv_out (6, g -> outputs_per_code) ─> (B, K, h, w, outputs_per_code)

  `jcomp.coding.subblock` reads these layer names (conv_in, res*, conv_out) from the params.
  """
  B, K, h, w = values.shape
  conv = lambda gi, go, c, name: GroupedMaskedConv(gi, go, c, tuple(kernel_size), spatial_codes, dtype,
                                                   name=name)
  x = jnp.transpose(values, (0, 2, 3, 1))
  x = nn.relu(conv(1, group, 5, "conv_in")(x, pad_value))
  for i in range(num_residual_units):
    r = nn.relu(conv(group, group, 6, f"res{i}_a")(x))
    x = x + conv(group, group, 6, f"res{i}_b")(r)
  out = conv(group, outputs_per_code, 6, "conv_out")(x)
  return jnp.transpose(out.reshape(B, h, w, K, outputs_per_code), (0, 3, 1, 2, 4)).astype(jnp.float32)


class CCNContextModel(nn.Module):
  """CCN context model: symbols -> logits over L centers (`ccn_trunk` with L outputs per code), the
  interface of `ContextModel3D`.

  Args: num_centers L, group g (hidden blocks per code), num_residual_units, kernel_size (kh, kw),
  spatial_codes (see the module docstring).
  """
  num_centers: int
  group: int = 3
  num_residual_units: int = 1
  kernel_size: tuple[int, int] = (5, 5)
  spatial_codes: int = 1
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, values: jnp.ndarray, pad_value: jnp.ndarray | float) -> jnp.ndarray:
    """values: (B, K, h, w) quantized latents (center values). Returns logits (B, K, h, w, L) float32."""
    return ccn_trunk(values, pad_value, self.num_centers, self.group, self.num_residual_units,
                     self.kernel_size, self.spatial_codes, self.dtype)


class CCNGMMContextModel(nn.Module):
  """CCN with a Gaussian mixture head (Li et al. 2019, Sec. 4): per code, M components (mean, scale,
  weight) from `ccn_trunk` with 3M outputs per code, discretised over the quantizer's bins
  (`jcomp.models.gmm`). Returns the log bin masses as logits (B, K, h, w, L), so the training loss
  (`losses.symbol_bits`) is the bits of the discretised mixture and the coder's tables are its quantized
  masses (`SubblockCoder(head=...)`).

  The bins need the quantizer's centers: `apply(params, values, pad_value, centers=centers)`
  (`jcomp.models.context_kwargs` gives the keyword for any context model). Only `init` may omit them
  (the params do not depend on the centers).

  Args: num_centers L, num_components M, and the CCN args of `CCNContextModel`.
  """
  num_centers: int
  num_components: int = 3
  group: int = 3
  num_residual_units: int = 1
  kernel_size: tuple[int, int] = (5, 5)
  spatial_codes: int = 1
  dtype: jnp.dtype = jnp.float32

  needs_centers = True  # class constant (not a field): apply wants centers=

  @nn.compact
  def __call__(self, values: jnp.ndarray, pad_value: jnp.ndarray | float,
               centers: jnp.ndarray | None = None) -> jnp.ndarray:
    """values: (B, K, h, w) center values; centers: (L,). Returns log bin masses (B, K, h, w, L) float32."""
    if centers is None:
      if not self.is_initializing():
        raise ValueError("the GMM context model needs the quantizer centers: apply(params, values, pad, "
                         "centers=centers), see jcomp.models.context_kwargs")
      centers = jnp.linspace(-1.0, 1.0, self.num_centers)  # shapes only
    raw = ccn_trunk(values, pad_value, 3 * self.num_components, self.group, self.num_residual_units,
                    self.kernel_size, self.spatial_codes, self.dtype)
    return gmm.logits_from_raw(raw, centers)
