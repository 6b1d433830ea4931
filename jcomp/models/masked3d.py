"""Mentzer et al. 2018 context model P: a 3D masked CNN over the symbol volume, its schedule and step coder.

  values (B, K, h, w) ──pad with centers[0]──> conv A (24) ─ReLU─> [conv B (24) ─ReLU─> conv B (24)] + skip
                                                               ─> conv B (L) ─> logits (B, K, h, w, L)

Receptive field with 4 layers of (2, 3, 3) kernels: the 4 previous slices plus the current one, 9x9 in space
(Sec. 3.2). Logits at a position depend only on symbols strictly before it in the coding order (depth-major,
then raster order).

Parallel decoding (`decode_schedule`, `WavefrontCoder`): every tap of mask A lowers a wavefront index
a d + b h + w derived from the masks (`step_coder.linear_wavefront`; 4 d + 2 h + w for (2, 3, 3) kernels) and
every tap of mask B lowers it or is the position itself, so all positions of one index are independent given
the earlier ones: 346 steps for a 32 x 64 x 96 volume (a Kodak image at K = 32) instead of 196,608.
Activations are reused: each layer keeps a buffer of its outputs, rows in coding order, and a step computes
only the M positions of its wavefront in every layer (gather the masked patch's taps, one small matmul,
write a contiguous slice), so the work per image equals one parallel pass. The step is one jitted function;
a step is padded to the smallest of four widths (W/8, W/4, W/2, W for the widest wavefront W) that holds it,
so it compiles four times per latent shape and computes 1.3x the positions of a parallel pass. The step also
emits the coder's integer tables (`probabilities.logits_to_freqs_jax`), so the host only runs the rANS coder.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jcomp.coding import probabilities, step_coder
from jcomp.models.context import ContextModel
from jcomp.models.masked_conv import MaskedConv3D, causal_mask_3d


class ContextModel3D(ContextModel):
  """Args: num_centers L, features (24), num_residual_units (1), kernel_size (2, 3, 3)."""
  num_centers: int
  features: int = 24
  num_residual_units: int = 1
  kernel_size: tuple[int, int, int] = (2, 3, 3)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, values: jnp.ndarray, pad_value: jnp.ndarray | float,
               centers: jnp.ndarray | None = None) -> jnp.ndarray:
    """values: (B, K, h, w) quantized latents (center values). Returns logits (B, K, h, w, L) float32."""
    del centers
    conv = lambda f, m, name: MaskedConv3D(f, m, self.kernel_size, self.dtype, name=name)
    x = values[..., None]
    x = nn.relu(conv(self.features, "A", "conv_in")(x, pad_value))
    for i in range(self.num_residual_units):
      r = nn.relu(conv(self.features, "B", f"res{i}_a")(x))
      r = conv(self.features, "B", f"res{i}_b")(r)
      x = x + r
    logits = conv(self.num_centers, "B", "conv_out")(x)
    return logits.astype(jnp.float32)

  def decode_schedule(self, shape: tuple[int, int, int]) -> list[np.ndarray]:
    return wavefront_schedule(shape, self.kernel_size)

  def step_coder(self, params: dict, centers: np.ndarray, shape: tuple[int, int, int]) -> "WavefrontCoder":
    return WavefrontCoder(params, centers, shape, self.kernel_size)


def mask_taps(kernel_size: tuple[int, int, int], mask_type: str) -> np.ndarray:
  """(T, 3) offsets (dd, dh, dw) of the taps a causal mask lets through, in the kernel's (row-major) order."""
  kd, kh, kw = kernel_size
  grid = np.stack(np.meshgrid(np.arange(kd) - (kd - 1), np.arange(kh) - kh // 2, np.arange(kw) - kw // 2,
                              indexing="ij"), -1)
  return grid[causal_mask_3d(kernel_size, mask_type) > 0]


def wavefront_schedule(shape: tuple[int, int, int], kernel_size=(2, 3, 3)) -> list[np.ndarray]:
  """Positions per decoding step of a (K, h, w) volume: (M_s, 3) int32 arrays of (d, h, w), in coding order.
  The index is derived from the masks' taps; a kernel with none (even spatial size) raises ScheduleError."""
  if kernel_size[1] % 2 == 0 or kernel_size[2] % 2 == 0:
    raise step_coder.ScheduleError(f"the 3D masked model needs odd spatial kernels, got {kernel_size}")
  weights = step_coder.linear_wavefront(np.concatenate([mask_taps(kernel_size, "A"),
                                                        mask_taps(kernel_size, "B")]))
  pos = step_coder.volume_positions(shape)
  return step_coder.index_schedule(pos @ weights, pos)


def _masked_kernels(params: dict, kernel_size) -> list[tuple[np.ndarray, jnp.ndarray, jnp.ndarray]]:
  """Context-model params -> [(taps (T, 3) offsets (dd, dh, dw), kernel (T * Cin, Cout), bias)] per layer, in
  layer order, keeping only the T taps the causal mask lets through (13 of 18 for mask A, 14 for B)."""
  names = ["conv_in"] + sorted(k for k in params if k.startswith("res")) + ["conv_out"]
  out = []
  for i, name in enumerate(names):
    keep = causal_mask_3d(kernel_size, "A" if i == 0 else "B") > 0
    k = jnp.asarray(params[name]["kernel"])[keep]  # (T, Cin, Cout)
    out.append((mask_taps(kernel_size, "A" if i == 0 else "B"), k.reshape(-1, k.shape[-1]),
                params[name]["bias"]))
  return out


class WavefrontCoder:
  """The `StepCoder` of the 3D masked model: one volume (K, h, w), wavefront by wavefront (module doc)."""

  def __init__(self, context_params: dict, centers: np.ndarray, shape: tuple[int, int, int],
               kernel_size=(2, 3, 3)):
    self.shape = tuple(shape)
    self.schedule = wavefront_schedule(self.shape, tuple(kernel_size))
    self.width = max(len(p) for p in self.schedule)
    layers = _masked_kernels(context_params, tuple(kernel_size))
    self._centers = np.asarray(centers, np.float32)
    self._starts = np.cumsum([0] + [len(p) for p in self.schedule[:-1]]).astype(np.int32)
    self._order = np.concatenate(self.schedule)  # (N, 3): row r is the position of rank r
    buckets = sorted({-(-self.width // (8 << k)) * 8 for k in range(4)} | {self.width})
    self._bucket = [min(b for b in buckets if b >= len(p)) for p in self.schedule]
    self._num_rows = len(self._order) + max(buckets) + 1  # ranks, room for padded steps, the pad row
    neighbors = _neighbor_ranks(self._order, self.shape, layers[-1][0], self._num_rows)
    self._step = _build_step(layers, neighbors)
    self._hidden = [int(layers[0][1].shape[1])] * (len(layers) - 1)  # conv_in, then (a, sum) per unit

  def init_buffers(self):
    """x (rows, 1) = centers[0] (the parallel pass's padding value), hidden layers (rows, C) = 0."""
    n = self._num_rows
    x = jnp.full((n, 1), self._centers[0], jnp.float32)
    return (x,) + tuple(jnp.zeros((n, f), jnp.float32) for f in self._hidden)

  def run(self, symbol_source: step_coder.SymbolSource) -> np.ndarray:
    bufs = self.init_buffers()
    prev_start, prev_val = 0, np.full((self.width,), self._centers[0], np.float32)
    decoded = []
    for s, (start, bucket) in enumerate(zip(self._starts, self._bucket)):
      bufs, logits, freqs = self._step(bufs, np.int32(prev_start), prev_val, np.int32(start), bucket)
      n = len(self.schedule[s])
      sym = np.asarray(symbol_source(s, np.asarray(logits)[:n], np.asarray(freqs)[:n]), np.int32)
      decoded.append(sym)
      prev_start, prev_val = start, np.zeros((self.width,), np.float32)
      prev_val[:n] = self._centers[sym]
    symbols = np.zeros(self.shape, np.int32)
    symbols[tuple(self._order.T)] = np.concatenate(decoded)
    return symbols


def _neighbor_ranks(order: np.ndarray, shape, taps: np.ndarray, num_rows: int) -> np.ndarray:
  """(num_rows - 1, T) int32: for each rank (position in coding order), the rank of each tap's position, or
  the pad row (num_rows - 1) outside the volume; rows past the last rank (read by padded steps) are pad."""
  rank = np.zeros(shape, np.int64)
  rank[tuple(order.T)] = np.arange(len(order))
  pos = order[:, None, :] + taps[None]  # (N, T, 3)
  inside = np.all((pos >= 0) & (pos < np.asarray(shape)), axis=-1)
  out = np.full((num_rows - 1, len(taps)), num_rows - 1, np.int32)
  out[:len(order)] = np.where(inside, rank[tuple(np.clip(pos, 0, np.asarray(shape) - 1).transpose(2, 0, 1))],
                              num_rows - 1)
  return out


def _build_step(layers, neighbors: np.ndarray):
  """The jitted step: write the previous step's symbol values, then every layer at this step's ranks.

  Buffers are indexed by rank, so a step reads from the few wavefronts just before it (cache-friendly) and
  writes one contiguous slice [start, start + bucket): the rows past this step's own belong to later steps,
  which recompute them before anyone reads them (every tap points to an earlier rank or to the row itself).
  """
  neighbors = jnp.asarray(neighbors)  # (rows, T) with T the taps of mask B (layer 0 drops the centre)
  taps_b = layers[-1][0]
  columns = [np.array([int(np.flatnonzero(np.all(taps_b == t, axis=1))[0]) for t in taps]) for taps, _, _ in layers]

  def dense(buf, nb, i):  # gather each row's (T, C) patch, taps major (the kernel's layout)
    _, k, b = layers[i]
    patch = jnp.take(buf, nb[:, columns[i]], axis=0).reshape(nb.shape[0], -1)
    return jnp.dot(patch, k, precision=jax.lax.Precision.HIGHEST) + b

  num_res = (len(layers) - 2) // 2

  @functools.partial(jax.jit, donate_argnums=0, static_argnums=4)  # buffers updated in place
  def step(bufs, prev_start, prev_val, start, bucket):
    x, *hidden = bufs
    x = jax.lax.dynamic_update_slice(x, prev_val[:, None], (prev_start, 0))
    nb = jax.lax.dynamic_slice(neighbors, (start, 0), (bucket, neighbors.shape[1]))

    def write(buf, value):
      return jax.lax.dynamic_update_slice(buf, value, (start, 0))

    h = jax.nn.relu(dense(x, nb, 0))
    hidden[0] = write(hidden[0], h)
    for r in range(num_res):
      a = jax.nn.relu(dense(hidden[2 * r], nb, 1 + 2 * r))
      hidden[2 * r + 1] = write(hidden[2 * r + 1], a)
      h = h + dense(hidden[2 * r + 1], nb, 2 + 2 * r)
      hidden[2 * r + 2] = write(hidden[2 * r + 2], h)
    logits = dense(hidden[-1], nb, len(layers) - 1)
    return (x, *hidden), logits, probabilities.logits_to_freqs_jax(logits)

  return step
