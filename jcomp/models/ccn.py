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

Step coder (`SubblockCoder`): each layer keeps a buffer (h, w, K g) of its outputs, and a step computes only
the output block of the code it decodes, in every layer, from the buffers (a convolution with K g inputs and
g outputs, 1/K of a full pass). A sub-block's blocks depend only on earlier codes, so they are final when
computed; code 0's blocks depend on code 0 itself, so they are recomputed (from code 0's input only, g
channels) at each of its wavefront steps and once more before code 1. The whole decode costs about two
parallel passes plus the wavefront steps of code 0 on g-channel maps (316 steps for a 32 x 64 x 96 volume
with 5 x 5 kernels). Each step applies the model's head inside the jit (the GMM model's mixture -> log bin
masses) and emits the coder's integer tables.
"""

from __future__ import annotations

import functools
from typing import Callable, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jcomp.coding import probabilities, step_coder
from jcomp.models import gmm
from jcomp.models.context import ContextModel

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


class _CCN(ContextModel):
  """What both CCN heads share: the sub-block schedule and step coder (`SubblockCoder`)."""

  def decode_schedule(self, shape: tuple[int, int, int]) -> list[np.ndarray]:
    return subblock_schedule(shape, tuple(self.kernel_size), self.spatial_codes)

  def step_coder(self, params: dict, centers: np.ndarray, shape: tuple[int, int, int]) -> "SubblockCoder":
    return SubblockCoder(params, centers, shape, self.spatial_codes, self.head(centers))

  def head(self, centers: np.ndarray) -> "Head | None":
    """Maps the last layer's outputs to logits inside the step coder's jit (None: they are the logits)."""
    return None


class CCNContextModel(_CCN):
  """CCN context model: symbols -> logits over L centers (`ccn_trunk` with L outputs per code).

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
  def __call__(self, values: jnp.ndarray, pad_value: jnp.ndarray | float,
               centers: jnp.ndarray | None = None) -> jnp.ndarray:
    """values: (B, K, h, w) quantized latents (center values). Returns logits (B, K, h, w, L) float32."""
    del centers
    return ccn_trunk(values, pad_value, self.num_centers, self.group, self.num_residual_units,
                     self.kernel_size, self.spatial_codes, self.dtype)


class CCNGMMContextModel(_CCN):
  """CCN with a Gaussian mixture head (Li et al. 2019, Sec. 4): per code, M components (mean, scale,
  weight) from `ccn_trunk` with 3M outputs per code, discretised over the quantizer's bins
  (`jcomp.models.gmm`). Returns the log bin masses as logits (B, K, h, w, L), so the training loss
  (`losses.symbol_bits`) is the bits of the discretised mixture and the coder's tables are its quantized
  masses (the step coder applies the same head, `gmm_head`).

  The bins need the quantizer's centers (the contract's third argument); only `init` may omit them (the
  params do not depend on the centers).

  Args: num_centers L, num_components M, and the CCN args of `CCNContextModel`.
  """
  num_centers: int
  num_components: int = 3
  group: int = 3
  num_residual_units: int = 1
  kernel_size: tuple[int, int] = (5, 5)
  spatial_codes: int = 1
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, values: jnp.ndarray, pad_value: jnp.ndarray | float,
               centers: jnp.ndarray | None = None) -> jnp.ndarray:
    """values: (B, K, h, w) center values; centers: (L,). Returns log bin masses (B, K, h, w, L) float32."""
    if centers is None:
      if not self.is_initializing():
        raise ValueError("the GMM context model needs the quantizer centers: apply(params, values, pad, "
                         "centers)")
      centers = jnp.linspace(-1.0, 1.0, self.num_centers)  # shapes only
    raw = ccn_trunk(values, pad_value, 3 * self.num_components, self.group, self.num_residual_units,
                    self.kernel_size, self.spatial_codes, self.dtype)
    return gmm.logits_from_raw(raw, centers)

  def head(self, centers: np.ndarray) -> "Head":
    return gmm_head(centers)


# ----------------------------------------------------------------------------------------------------
# Parallel decoding, sub-block by sub-block (the step coder).
# ----------------------------------------------------------------------------------------------------

Head = Callable[[jnp.ndarray], jnp.ndarray]  # last layer's outputs (..., C) -> logits (..., L), traceable


def subblock_schedule(shape: tuple[int, int, int], kernel_size: tuple[int, int] = (5, 5),
                      spatial_codes: int = 1) -> list[np.ndarray]:
  """Positions per decoding step of a (K, h, w) volume: (M_s, 3) int32 arrays of (d, h, w), in coding order.

  Code 0 (if spatial) by wavefronts of an index derived from its raster-causal taps (`linear_wavefront`;
  (kw//2 + 1) y + x), then one whole sub-block per later code. Raises ScheduleError for other spatial_codes.
  """
  if spatial_codes not in (0, 1):
    raise step_coder.ScheduleError(f"the sub-block coder supports spatial_codes 0 or 1, got {spatial_codes}")
  depth, height, width = shape
  yx = step_coder.volume_positions((1, height, width))
  steps = []
  if spatial_codes:
    own = ccn_mask(tuple(kernel_size), 1, 1, 1, 6)[..., 0, 0]  # code 0 onto itself (hidden layers: widest)
    kh, kw = kernel_size
    taps = np.stack(np.nonzero(own), -1) - np.array([kh // 2, kw // 2])
    weights = step_coder.linear_wavefront(np.concatenate([np.zeros((len(taps), 1), np.int64), taps], 1))
    steps += step_coder.index_schedule(yx @ weights, yx)
  for d in range(spatial_codes, depth):
    steps.append((yx + np.array([d, 0, 0])).astype(np.int32))
  return steps


def _masked_layers(params: dict, num_codes: int, spatial_codes: int):
  """Context params -> [(masked kernel (kh, kw, K gi, K go), bias, group_in, group_out)] in layer order."""
  names = ["conv_in"] + sorted(k for k in params if k.startswith("res")) + ["conv_out"]
  out = []
  for i, name in enumerate(names):
    k = np.asarray(params[name]["kernel"], np.float32)
    gi, go = k.shape[2] // num_codes, k.shape[3] // num_codes
    mask = ccn_mask(k.shape[:2], num_codes, gi, go, 5 if i == 0 else 6, spatial_codes)
    out.append((jnp.asarray(k * mask), jnp.asarray(params[name]["bias"], jnp.float32), gi, go))
  return out


def gmm_head(centers: np.ndarray) -> Head:
  """The head of the GMM model: raw outputs (..., 3M) -> log masses (..., L) of the bins of `centers` (L,)."""
  c = jnp.asarray(centers, jnp.float32)
  return lambda raw: gmm.logits_from_raw(raw, c)


class SubblockCoder:
  """Runs the CCN context model step by step for one volume (K, h, w); the interface of `WavefrontCoder`.

  `run(symbol_source)` calls `symbol_source(step, logits (M_s, L) float32, freqs (M_s, L) int32) -> symbols
  (M_s,)` once per step of `self.schedule` and returns all symbols (K, h, w) int32. `head` maps the last
  layer's outputs to the logits inside the jitted steps (None: they are the logits; `gmm_head(centers)` for
  the GMM model).
  """

  def __init__(self, context_params: dict, centers: np.ndarray, shape: tuple[int, int, int],
               spatial_codes: int = 1, head: Head | None = None):
    K, h, w = shape
    self.shape = shape
    self.spatial_codes = spatial_codes
    layers = _masked_layers(context_params, K, spatial_codes)
    self.kernel_size = tuple(layers[0][0].shape[:2])
    self.schedule = subblock_schedule(shape, self.kernel_size, spatial_codes)
    self._centers = np.asarray(centers, np.float32)
    self._group = layers[0][3]
    self._num_hidden = len(layers) - 1
    self._num_spatial_steps = sum(int(p[0, 0] == 0) for p in self.schedule) if spatial_codes else 0
    finish = _finisher(head)
    self._block_step = _build_block_step(layers, self.kernel_size, finish)
    self._first_step = _build_first_step(layers, self.kernel_size, finish)

  def run(self, symbol_source: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
    K, h, w = self.shape
    pad = self._centers[0]
    x = np.full((1, h, w, K), pad, np.float32)  # decoded values; placeholders elsewhere
    hidden = tuple(jnp.zeros((1, h, w, K * self._group), jnp.float32) for _ in range(self._num_hidden))
    symbols = np.zeros((K, h, w), np.int32)
    pad = jnp.float32(pad)

    def emit(step, logits, freqs):
      pos = self.schedule[step]
      sym = np.asarray(symbol_source(step, logits, freqs), np.int32)
      symbols[pos[:, 0], pos[:, 1], pos[:, 2]] = sym
      x[0, pos[:, 1], pos[:, 2], pos[:, 0]] = self._centers[sym]

    step = 0
    if self.spatial_codes:
      width = max(len(p) for p in self.schedule[:self._num_spatial_steps])
      while step < self._num_spatial_steps:
        # The head and the tables only at this wavefront's positions, padded to one width (one compile).
        pos = self.schedule[step]
        yx = np.zeros((width, 2), np.int32)
        yx[:len(pos)] = pos[:, 1:]
        _, logits, freqs = self._first_step(jnp.asarray(x[..., :1]), pad, jnp.asarray(yx))
        emit(step, np.asarray(logits)[:len(pos)], np.asarray(freqs)[:len(pos)])
        step += 1
      blocks, _, _ = self._first_step(jnp.asarray(x[..., :1]), pad, jnp.zeros((width, 2), jnp.int32))
      hidden = tuple(hb.at[..., :self._group].set(b) for hb, b in zip(hidden, blocks))
    for d in range(self.spatial_codes, K):
      hidden, logits, freqs = self._block_step(jnp.asarray(x), hidden, jnp.int32(d), pad)
      emit(step, np.asarray(logits).reshape(h * w, -1), np.asarray(freqs).reshape(h * w, -1))
      step += 1
    return symbols


def _finisher(head: Head | None):
  """outputs (h, w, C) -> (logits (h, w, L), tables (h, w, L) int32), traced inside the steps."""
  def finish(out):
    logits = out if head is None else head(out)
    return logits, probabilities.logits_to_freqs_jax(logits)
  return finish


def _forward_blocks(layers, kernel_size, x, hidden_in, take_kernel, take_bias, pad):
  """Shared layer loop: returns the per-layer output blocks [(1, h, w, g)] and the last layer's outputs
  (1, h, w, C) (logits, or the GMM head's mixture parameters).

  `hidden_in(i)` gives the input map of layer i >= 1 given the blocks computed so far (a list), so the block
  step reads the buffers with the new block written in, the first step only the new blocks.
  """
  hp = jax.lax.Precision.HIGHEST

  def conv(inp, i, value):
    return conv_nhwc(pad_hw(inp, kernel_size, value), take_kernel(i), precision=hp) + take_bias(i)

  num_res = (len(layers) - 2) // 2
  blocks = [jax.nn.relu(conv(x, 0, pad))]
  cur = blocks[0]
  for r in range(num_res):
    a = jax.nn.relu(conv(hidden_in(len(blocks), blocks), 1 + 2 * r, 0.0))
    blocks.append(a)
    b = conv(hidden_in(len(blocks), blocks), 2 + 2 * r, 0.0)
    cur = cur + b
    blocks.append(cur)
  logits = conv(hidden_in(len(blocks), blocks), len(layers) - 1, 0.0)
  return blocks, logits


def _build_first_step(layers, kernel_size, finish):
  """Code 0 only, from its own input channel: (x (1, h, w, 1), pad, yx (P, 2) positions) -> (blocks,
  logits (P, L), tables (P, L)) at those positions."""
  C = layers[-1][3]

  def take_kernel(i):
    k, _, gi, go = layers[i]
    return k[:, :, :gi, :go]

  take_bias = lambda i: layers[i][1][:layers[i][3]]

  @jax.jit
  def step(x, pad, yx):
    blocks, out = _forward_blocks(layers, kernel_size, x, lambda i, bl: bl[i - 1], take_kernel, take_bias, pad)
    return (blocks, *finish(out[0, yx[:, 0], yx[:, 1], :C]))

  return step


def _build_block_step(layers, kernel_size, finish):
  """Code d's blocks in every layer: (x (1, h, w, K), hidden buffers, d, pad) -> (hidden, logits, tables
  (h, w, L))."""

  def take(i, d, kernel):
    k, b, _, go = layers[i]
    return (jax.lax.dynamic_slice_in_dim(k, d * go, go, axis=3) if kernel
            else jax.lax.dynamic_slice_in_dim(b, d * go, go))

  @functools.partial(jax.jit, donate_argnums=1)  # buffers updated in place
  def step(x, hidden, d, pad):
    hidden = list(hidden)
    g = layers[0][3]

    def hidden_in(i, blocks):
      # Write the block just computed for layer i - 1 into its buffer, then read the whole buffer.
      hidden[i - 1] = jax.lax.dynamic_update_slice_in_dim(hidden[i - 1], blocks[i - 1], d * g, axis=3)
      return hidden[i - 1]

    _, logits = _forward_blocks(layers, kernel_size, x, hidden_in, lambda i: take(i, d, True),
                                lambda i: take(i, d, False), pad)
    return (tuple(hidden), *finish(logits[0]))

  return step
