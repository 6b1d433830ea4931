"""The `progressive` model: bit probabilities of progressive binary codes (Johnston et al., arXiv 1703.10114).

A code (H, W, D), D = N layers x K bits (`layer_depth`), channel l * K + k = bit k of layer l, is coded
layer after layer; inside layer l the K bits form a volume (K, H, W) coded channel-major, then in raster
order (the order of `jcomp.models.masked_conv`, with the layer's bits as the depth axis). The logit of bit
(l, k, y, x) sees all bits of layers < l and the bits of layer l before it in that order:

  bits as +-1 (0 = not known yet); F features per bit-plane; s x s spatial kernels (s = 3)
  layers < l (H, W, N*K) + one-hot(l) (N) ─> conv s x s (F) ─ReLU─> ... ─> conv 1x1 (K*F) ─> cond
  layer l (H, W, K) ─> masked conv A (K*F) ─(+ cond)─ReLU─> [B ─ReLU─> B] + skip ─> B (K): logits

The masked convs (`MaskedPlaneConv`) are `masked_conv.MaskedConv3D` over the (K, H, W) volume with a depth-K
kernel, built from its mask (`causal_mask_3d`) but run as one 2D conv over the planes folded into channels
(weights untied across planes): each bit sees every earlier bit-plane of its layer in full and the causal
part of its own plane. The unmasked 2D convs see only previous layers (zeroed from layer l on). Weights are
shared by all layers; the one-hot tells the network which layer it predicts. The output is one logit for
bit = 1 per bit (the 2-way logits of the entropy coder are [0, logit]).

Parallel decoding: every tap of a masked conv (spatial radius r = s // 2) either stays in its bit-plane
and lowers the raster index (r + 1) y + x, or goes to an earlier plane with a spatial offset raising that
index by at most r (r + 2). With L masked convs, bits sharing the wavefront index
  t = a k + (r + 1) y + x,   a = r (r + 2) L + 1
never depend on each other, so a layer decodes in at most a (K - 1) + (r + 1)(H - 1) + W wavefronts
(`wavefronts`; tests/test_progressive.py checks both orders against the network).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jcomp.coding import probabilities, step_coder
from jcomp.models.context import ContextModel
from jcomp.models.masked_conv import MaskType, causal_mask_3d


def plane_mask(layer_depth: int, kernel_size: int, mask_type: MaskType) -> np.ndarray:
  """(s, s, K, 1, K, 1) 0/1 mask of a causal conv over K bit-planes folded into channels.

  Output plane k sees input plane j < k in full and plane k through the raster-causal mask of
  `masked_conv.causal_mask_3d` (mask A without the centre, B with it): the depth-K 3D mask, untied in depth.
  """
  k, s = layer_depth, kernel_size
  m3 = causal_mask_3d((k, s, s), mask_type)  # m3[k - 1 - d]: taps onto the plane d before the current one.
  mask = np.zeros((s, s, k, 1, k, 1), np.float32)
  for out in range(k):
    for inp in range(out + 1):
      mask[:, :, inp, 0, out, 0] = m3[k - 1 - (out - inp)]
  return mask


class MaskedPlaneConv(nn.Module):
  """Causal conv over (B, H, W, K * C) features of K bit-planes (plane-major channels): a 2D convolution
  equal to `masked_conv.MaskedConv3D` with depth kernel K over the (K, H, W) volume, but with weights untied
  across planes and run as one 2D conv (a training step with XLA's CPU 3D convolutions took ~2.5x longer)."""
  features: int
  mask_type: MaskType
  layer_depth: int
  kernel_size: int = 3
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    """x: (B, H, W, K * C_in) -> (B, H, W, K * features); zero padding (0 = unknown bit)."""
    k, s, f = self.layer_depth, self.kernel_size, self.features
    cin = x.shape[-1] // k
    kernel = self.param("kernel", nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal",
                                                                   in_axis=(0, 1, 2, 3), out_axis=(4, 5)),
                        (s, s, k, cin, k, f), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (k, f), jnp.float32)
    kernel = (kernel * jnp.asarray(plane_mask(k, s, self.mask_type))).reshape(s, s, k * cin, k * f)
    y = jax.lax.conv_general_dilated(
        x.astype(self.dtype), kernel.astype(self.dtype), window_strides=(1, 1),
        padding=((s // 2, s // 2), (s // 2, s // 2)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + bias.reshape(k * f).astype(self.dtype)


CODE_VALUES = np.array([-1.0, 1.0], np.float32)  # the model's input value of bit 0 and bit 1 (0 = unknown)


class ProgressiveModel(ContextModel):
  """Args: layer_depth K, layer_count N (max layers), features F, cond_layers, residual units, kernel s.

  As a context model (the contract of `jcomp.models.context`) it reads the volume (D, H, W) of a code's coded
  layers, channel d = l K + k (bit k of layer l), values -1/+1 (centers (-1, 1) of symbols 0/1), and gives
  the logits of the two symbols [0, z] (B, D, H, W, 2). Coding order: layer after layer, each by `wavefronts`.
  """
  layer_depth: int
  layer_count: int
  features: int = 16
  cond_layers: int = 2
  num_residual_units: int = 1
  kernel_size: int = 3
  dtype: jnp.dtype = jnp.float32

  num_centers = 2  # bits (class constant)

  @nn.compact
  def layer_logits(self, code: jnp.ndarray, layer: jnp.ndarray) -> jnp.ndarray:
    """Logits for bit = 1 of one layer per example.

    Args:
      code: (B, H, W, N * K) float, bits as -1/+1 and 0 where unknown (N = layer_count; pad missing layers
        with 0). Only layers < `layer` and the causal part of layer `layer` are read.
      layer: (B,) int32, the layer to predict, in [0, N).

    Returns:
      (B, K, H, W) float32 logits of P(bit = 1) for bits (layer, k, y, x).
    """
    n, k, f, s = self.layer_count, self.layer_depth, self.features, self.kernel_size
    b, h, w, d = code.shape
    if d != n * k:
      raise ValueError(f"code has {d} channels, the model expects layer_count * layer_depth = {n * k}")
    x = code.astype(self.dtype).reshape(b, h, w, n, k)
    before = (jnp.arange(n)[None, :] < layer[:, None]).astype(self.dtype)  # (B, N)
    prev = (x * before[:, None, None, :, None]).reshape(b, h, w, n * k)
    onehot = jnp.broadcast_to(jax.nn.one_hot(layer, n, dtype=self.dtype)[:, None, None, :], (b, h, w, n))
    c = jnp.concatenate([prev, onehot], axis=-1)
    for i in range(self.cond_layers):
      c = nn.relu(nn.Conv(f, (s, s), dtype=self.dtype, name=f"cond{i}")(c))
    cond = nn.Conv(k * f, (1, 1), dtype=self.dtype, name="cond_out")(c)  # (B, H, W, K * F) plane-major
    cur = jnp.take_along_axis(x, layer[:, None, None, None, None], axis=3)[:, :, :, 0, :]  # (B, H, W, K)
    conv = lambda feat, mask, name: MaskedPlaneConv(feat, mask, k, s, self.dtype, name=name)
    y = nn.relu(conv(f, "A", "conv_in")(cur) + cond)
    for i in range(self.num_residual_units):
      r = nn.relu(conv(f, "B", f"res{i}_a")(y))
      y = y + conv(f, "B", f"res{i}_b")(r)
    z = conv(1, "B", "conv_out")(y)  # (B, H, W, K)
    return z.transpose(0, 3, 1, 2).astype(jnp.float32)

  def __call__(self, values: jnp.ndarray, pad_value=0.0, centers=None) -> jnp.ndarray:
    """values (B, D, H, W) in {-1, +1}, D = n K with n <= layer_count -> logits (B, D, H, W, 2) float32."""
    del pad_value, centers
    b, d, h, w = values.shape
    k, n = self.layer_depth, d // self.layer_depth
    code = jnp.pad(jnp.transpose(values, (0, 2, 3, 1)),
                   ((0, 0), (0, 0), (0, 0), (0, self.layer_count * k - d)))
    rep = jnp.repeat(code, n, axis=0)  # (B n, ...), example-major
    z = self.layer_logits(rep, jnp.tile(jnp.arange(n, dtype=jnp.int32), b)).reshape(b, d, h, w)
    return jnp.stack([jnp.zeros_like(z), z], axis=-1)

  def decode_schedule(self, shape: tuple[int, int, int]) -> list[np.ndarray]:
    d, h, w = shape
    if d % self.layer_depth or d // self.layer_depth > self.layer_count:
      raise step_coder.ScheduleError(f"{d} code channels are not up to {self.layer_count} layers of "
                                     f"{self.layer_depth} bits")
    layer = wavefronts(self, h, w)
    return [p + np.array([l * self.layer_depth, 0, 0], np.int32) for l in range(d // self.layer_depth)
            for p in layer]

  def step_coder(self, params: dict, centers: np.ndarray, shape: tuple[int, int, int]) -> "LayerCoder":
    return LayerCoder(self, params, shape)


def wavefront_scale(model) -> int:
  """a of the wavefront index t = a k + (r + 1) y + x (module doc)."""
  r = model.kernel_size // 2
  return r * (r + 2) * (2 + 2 * model.num_residual_units) + 1


def wavefronts(model, height: int, width: int) -> list[np.ndarray]:
  """The parallel decoding schedule of one layer: a list of (M_t, 3) int arrays of (k, y, x), in order.

  Bits within one array do not depend on each other, and only on bits of earlier arrays (and of earlier
  layers); within an array positions are sorted by (k, y, x).
  """
  r = model.kernel_size // 2
  pos = step_coder.volume_positions((model.layer_depth, height, width))
  t = pos @ np.array([wavefront_scale(model), r + 1, 1])
  return step_coder.index_schedule(t, pos)


class LayerCoder:
  """The step coder of the progressive model: one network call per wavefront for the wavefront's layer only
  (the generic coder would compute all layers at every step)."""

  def __init__(self, model: ProgressiveModel, params: dict, shape: tuple[int, int, int]):
    self.shape = tuple(shape)
    self.schedule = model.decode_schedule(self.shape)
    self._k, self._n = model.layer_depth, model.layer_count

    @jax.jit
    def tables(code, layer):
      z = model.apply({"params": params}, code, layer, method="layer_logits")[0]  # (K, H, W)
      logits = jnp.stack([jnp.zeros_like(z), z], axis=-1)
      return logits, probabilities.logits_to_freqs_jax(logits)

    self._tables = tables

  def run(self, symbol_source: step_coder.SymbolSource) -> np.ndarray:
    d, h, w = self.shape
    known = np.zeros((1, h, w, self._n * self._k), np.float32)
    symbols = np.zeros(self.shape, np.int32)
    for s, pos in enumerate(self.schedule):
      layer = int(pos[0, 0]) // self._k
      logits, freqs = self._tables(known, np.full((1,), layer, np.int32))
      k, y, x = pos[:, 0] - layer * self._k, pos[:, 1], pos[:, 2]
      sym = np.asarray(symbol_source(s, np.asarray(logits)[k, y, x], np.asarray(freqs)[k, y, x]), np.int32)
      symbols[pos[:, 0], y, x] = sym
      known[0, y, x, pos[:, 0]] = 2.0 * sym - 1.0
    return symbols
