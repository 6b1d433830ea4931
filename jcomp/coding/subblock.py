"""Parallel decoding of the CCN context model (`jcomp.models.ccn`), sub-block by sub-block.

Schedule over a (K, h, w) volume with `spatial_codes` = 1 and (kh, kw) kernels, a = kw // 2 + 1::

  steps 0 .. a (h-1) + w - 1:   code 0 by wavefronts { (0, y, x) : a y + x = s }   (raster-causal context)
  then one step per code k = 1 .. K-1: the whole sub-block { (k, y, x) : all y, x } at once

(316 steps for a 32 x 64 x 96 volume with 5 x 5 kernels, 253 with 3 x 3; K = 32 with spatial_codes = 0.)

Activations are reused: each layer keeps a buffer (h, w, K g) of its outputs, and a step computes only the
output block of the code it decodes, in every layer, from the buffers (a convolution with K g inputs and g
outputs, 1/K of a full pass). A sub-block's blocks depend only on earlier codes, so they are final when
computed; code 0's blocks depend on code 0 itself, so they are recomputed (from code 0's input only, g
channels) at each of its wavefront steps and once more before code 1. The whole decode costs about two
parallel passes plus the wavefront steps of code 0 on g-channel maps.

Each step also applies the model's head and emits the coder's integer tables (`probabilities.
logits_to_freqs_jax`) inside the jit: for the logits model the last layer's outputs are the logits; for the
GMM model (`jcomp.models.ccn.CCNGMMContextModel`, `head=gmm_head(centers)`) they are the mixture parameters,
turned into the log masses of the centers' bins (`jcomp.models.gmm`) whose normalised masses are rounded by
the shared rule (`probabilities.gmm_to_freqs_jax`). Encoder and decoder run the same jitted step functions
on the same inputs in the same order (the encoder writes the true symbols where the decoder writes the
decoded ones), so their tables are bit-identical on the same backend and software versions.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jcomp.coding import probabilities
from jcomp.models import gmm
from jcomp.models.ccn import ccn_mask, conv_nhwc, pad_hw

Head = Callable[[jnp.ndarray], jnp.ndarray]  # last layer's outputs (..., C) -> logits (..., L), traceable


def subblock_schedule(depth: int, height: int, width: int, kernel_size: tuple[int, int] = (5, 5),
                      spatial_codes: int = 1) -> list[np.ndarray]:
  """Positions per decoding step: a list of (M_s, 3) int32 arrays of (d, h, w), in coding order."""
  if spatial_codes not in (0, 1):
    raise ValueError(f"the sub-block coder supports spatial_codes 0 or 1, got {spatial_codes}")
  y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  yx = np.stack([y.ravel(), x.ravel()], axis=1).astype(np.int32)
  steps = []
  if spatial_codes:
    index = (kernel_size[1] // 2 + 1) * yx[:, 0] + yx[:, 1]
    for s in range(index.max() + 1):
      p = yx[index == s]
      steps.append(np.concatenate([np.zeros((len(p), 1), np.int32), p], axis=1))
  for d in range(spatial_codes, depth):
    steps.append(np.concatenate([np.full((len(yx), 1), d, np.int32), yx], axis=1))
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
    self.schedule = subblock_schedule(K, h, w, self.kernel_size, spatial_codes)
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
