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
import ml_collections
import numpy as np

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


class ProgressiveModel(nn.Module):
  """Args: layer_depth K, layer_count N (max layers), features F, cond_layers, residual units, kernel s."""
  layer_depth: int
  layer_count: int
  features: int = 16
  cond_layers: int = 2
  num_residual_units: int = 1
  kernel_size: int = 3
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, code: jnp.ndarray, layer: jnp.ndarray) -> jnp.ndarray:
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

  @property
  def num_masked_layers(self) -> int:
    return 2 + 2 * self.num_residual_units


def build(pc: ml_collections.ConfigDict) -> ProgressiveModel:
  """The model of a config's `progressive` sub-dict."""
  if pc.kernel_size < 1 or pc.kernel_size % 2 == 0:
    raise ValueError(f"progressive.kernel_size must be odd, got {pc.kernel_size}")
  if pc.layer_depth < 1 or pc.layer_count < 1:
    raise ValueError(f"layer_depth and layer_count must be >= 1, got {pc.layer_depth}, {pc.layer_count}")
  return ProgressiveModel(layer_depth=pc.layer_depth, layer_count=pc.layer_count, features=pc.features,
                          cond_layers=pc.cond_layers, num_residual_units=pc.num_residual_units,
                          kernel_size=pc.kernel_size, dtype=jnp.dtype(pc.dtype))


def coded_layers(pc: ml_collections.ConfigDict, code_layers: int) -> int:
  """How many of a code's `code_layers` layers are coded: all, or the first `coded_layer_count` (if > 0)."""
  n = code_layers if pc.coded_layer_count <= 0 else min(pc.coded_layer_count, code_layers)
  if n > pc.layer_count:
    raise ValueError(f"the code has {n} layers to code but the model supports layer_count = "
                     f"{pc.layer_count}; set progressive.coded_layer_count <= {pc.layer_count}")
  return n


def to_model_input(bits: np.ndarray | jnp.ndarray, layer_count: int, layer_depth: int) -> jnp.ndarray:
  """(B, H, W, n * K) bits in {0, 1}, n <= N -> (B, H, W, N * K) float32 in {-1, +1}, 0 for missing layers."""
  bits = jnp.asarray(bits)
  pm = 2.0 * bits.astype(jnp.float32) - 1.0
  missing = layer_count * layer_depth - bits.shape[-1]
  if missing < 0:
    raise ValueError(f"code has {bits.shape[-1]} channels > layer_count * layer_depth")
  return jnp.pad(pm, ((0, 0), (0, 0), (0, 0), (0, missing)))


def all_logits(model: ProgressiveModel, params, code: jnp.ndarray, layers: int) -> jnp.ndarray:
  """Logits of every bit of the first `layers` layers at once (training, estimates).

  Args:
    code: (B, H, W, N * K) model input (`to_model_input`), fully known.
    layers: number of coded layers n <= N.

  Returns:
    (B, H, W, n * K) float32 logits of P(bit = 1), in the code's channel layout.
  """
  b, h, w, _ = code.shape
  k = model.layer_depth
  rep = jnp.repeat(code, layers, axis=0)  # (B * n, ...), example-major.
  layer = jnp.tile(jnp.arange(layers, dtype=jnp.int32), b)
  z = model.apply({"params": params}, rep, layer)  # (B * n, K, H, W)
  return z.reshape(b, layers, k, h, w).transpose(0, 3, 4, 1, 2).reshape(b, h, w, layers * k)


def bits_per_bit(logits: jnp.ndarray, bits: jnp.ndarray) -> jnp.ndarray:
  """Cross-entropy in bits of each bit: -log2 P(bit) with P(1) = sigmoid(logit); shapes equal."""
  sign = 2.0 * bits.astype(jnp.float32) - 1.0
  return jax.nn.softplus(-sign * logits) / jnp.log(2.0)


def wavefront_scale(model: ProgressiveModel) -> int:
  """a of the wavefront index t = a k + (r + 1) y + x (module doc)."""
  r = model.kernel_size // 2
  return r * (r + 2) * model.num_masked_layers + 1


def wavefronts(model: ProgressiveModel, height: int, width: int) -> list[np.ndarray]:
  """The parallel decoding schedule of one layer: a list of (M_t, 3) int arrays of (k, y, x), in order.

  Bits within one array do not depend on each other, and only on bits of earlier arrays (and of earlier
  layers); within an array positions are sorted by (k, y, x).
  """
  r = model.kernel_size // 2
  k, y, x = np.meshgrid(np.arange(model.layer_depth), np.arange(height), np.arange(width), indexing="ij")
  t = (wavefront_scale(model) * k + (r + 1) * y + x).ravel()
  pos = np.stack([k.ravel(), y.ravel(), x.ravel()], axis=1)
  order = np.lexsort((pos[:, 2], pos[:, 1], pos[:, 0], t))
  t, pos = t[order], pos[order]
  cuts = np.flatnonzero(np.diff(t)) + 1
  return np.split(pos, cuts)
