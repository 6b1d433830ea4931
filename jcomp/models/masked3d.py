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

The encoder knows every symbol, so with the integer network (`IntegerNet`: exact arithmetic, the same numbers
whatever the batch shape) it needs no wavefront: `WavefrontCoder.parallel_tables` runs each layer once over all
positions, in fixed chunks of rows (bounded memory, one compiled program per latent shape), and gives the very
tables the decoder's steps compute. The float network keeps the step-by-step path on both sides (its rounding
may depend on the batch shape).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jcomp.coding import probabilities, step_coder
from jcomp.models import integer
from jcomp.models.context import ContextModel
from jcomp.models.masked_conv import MaskedConv3D, mask_taps


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
    return WavefrontCoder(FloatNet(params, centers, self.kernel_size), shape, self.kernel_size)

  def integer_model(self, params: dict, centers: np.ndarray, calibration: list[np.ndarray],
                    **bits) -> integer.IntegerContextModel:
    return integer.quantize(params, centers, self.kernel_size, calibration, **bits)

  def integer_step_coder(self, model: integer.IntegerContextModel,
                         shape: tuple[int, int, int]) -> "WavefrontCoder":
    if tuple(model.kernel_size) != tuple(self.kernel_size):
      raise ValueError(f"integer model of kernel {model.kernel_size} for a {self.kernel_size} context model")
    return WavefrontCoder(IntegerNet(model), shape, self.kernel_size)


def wavefront_schedule(shape: tuple[int, int, int], kernel_size=(2, 3, 3)) -> list[np.ndarray]:
  """Positions per decoding step of a (K, h, w) volume: (M_s, 3) int32 arrays of (d, h, w), in coding order.
  The index is derived from the masks' taps; a kernel with none (even spatial size) raises ScheduleError."""
  if kernel_size[1] % 2 == 0 or kernel_size[2] % 2 == 0:
    raise step_coder.ScheduleError(f"the 3D masked model needs odd spatial kernels, got {kernel_size}")
  weights = step_coder.linear_wavefront(np.concatenate([mask_taps(kernel_size, "A"),
                                                        mask_taps(kernel_size, "B")]))
  pos = step_coder.volume_positions(shape)
  return step_coder.index_schedule(pos @ weights, pos)


class FloatNet:
  """The float network of a ContextModel3D's params for the step coder (float32, jax.numpy)."""

  exact = False  # float rounding may depend on the shapes computed together: step by step on both sides

  def __init__(self, params: dict, centers: np.ndarray, kernel_size):
    kernels, biases = integer.float_layers(params, kernel_size)
    self.kernels = [jnp.asarray(k, jnp.float32) for k in kernels]
    self.biases = [jnp.asarray(b, jnp.float32) for b in biases]
    self.centers = np.asarray(centers, np.float32)  # the input per symbol
    self.dtype = np.float32

  def dense(self, i, patch, xp):
    return jnp.dot(patch, self.kernels[i], precision=jax.lax.Precision.HIGHEST) + self.biases[i]

  def relu(self, v, xp):
    return jax.nn.relu(v)

  def add(self, h, r, xp):
    return h + r

  def outputs(self, logits):
    """(logits float32, the coder's tables) of the step's positions."""
    return logits, probabilities.logits_to_freqs_jax(logits)


class IntegerNet:
  """An `integer.IntegerContextModel` for the step coder: int32 everywhere, tables by integer arithmetic."""

  exact = True  # integer arithmetic: a position's tables do not depend on what else is computed with it

  def __init__(self, model: integer.IntegerContextModel):
    self.model = model
    self.kernels = model.kernels
    self.centers = np.asarray(model.centers, np.int32)
    self.dtype = np.int32
    self._scale = np.float32(2.0 ** -model.logit_bits)

  def dense(self, i, patch, xp):
    return self.model.dense(i, patch, jnp).astype(jnp.int32)

  def relu(self, v, xp):
    return self.model.relu(v, jnp)

  def add(self, h, r, xp):
    return self.model.add(h, r, jnp)

  def outputs(self, logits):
    """(logits in nats as float32, for the rate estimate only; the integer tables)."""
    return logits.astype(jnp.float32) * self._scale, self.model.tables(logits, jnp).astype(jnp.int32)


class WavefrontCoder:
  """The `StepCoder` of the 3D masked model: one volume (K, h, w), wavefront by wavefront (module doc).

  net: `FloatNet` (the trained float model) or `IntegerNet` (its integer version: portable tables).
  """

  def __init__(self, net, shape: tuple[int, int, int], kernel_size=(2, 3, 3)):
    self.shape = tuple(int(n) for n in shape)
    self.schedule = wavefront_schedule(self.shape, tuple(kernel_size))
    self.width = max(len(p) for p in self.schedule)
    self._net = net
    self._values = np.asarray(net.centers)
    self._starts = np.cumsum([0] + [len(p) for p in self.schedule[:-1]]).astype(np.int32)
    self._order = np.concatenate(self.schedule)  # (N, 3): row r is the position of rank r
    buckets = sorted({-(-self.width // (8 << k)) * 8 for k in range(4)} | {self.width})
    self._bucket = [min(b for b in buckets if b >= len(p)) for p in self.schedule]
    self._num_rows = len(self._order) + max(buckets) + 1  # ranks, room for padded steps, the pad row
    taps_a, taps_b = mask_taps(tuple(kernel_size), "A"), mask_taps(tuple(kernel_size), "B")
    self._neighbors = _neighbor_ranks(self._order, self.shape, taps_b, self._num_rows)
    self._layer_taps = [taps_a] + [taps_b] * (len(net.kernels) - 1)
    self._step = None  # built on the first `run` (an encoder using `parallel_tables` never needs it)
    self._hidden = [int(net.kernels[0].shape[1])] * (len(net.kernels) - 1)  # conv_in, then (a, sum) per unit
    self.parallel = bool(getattr(net, "exact", False))  # `parallel_tables` available

  def init_buffers(self) -> tuple[np.ndarray, ...]:
    """x (rows, 1) = the input of symbol 0 (the parallel pass's padding value), hidden layers (rows, C) = 0
    (host arrays: `jax.device_put` moves them without an XLA program)."""
    n, dtype = self._num_rows, self._values.dtype
    return (np.full((n, 1), self._values[0], dtype),) + tuple(np.zeros((n, f), dtype) for f in self._hidden)

  def parallel_tables(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's shortcut, exact networks only (`parallel`): symbols (K, h, w) -> (logits (N, L) float32,
    freqs (N, L) int32) of every position in coding order (`np.concatenate(schedule)`), equal to what `run`
    emits step by step."""
    if not self.parallel:
      raise ValueError("parallel_tables needs an exact (integer) network: the float one codes step by step")
    bufs = self.init_buffers()
    bufs[0][:len(self._order), 0] = self._values[np.asarray(symbols)[tuple(self._order.T)]]
    logits, freqs = _build_parallel(self._net, self._layer_taps, self._neighbors)(jax.device_put(bufs))
    n = len(self._order)
    return np.asarray(logits)[:n], np.asarray(freqs)[:n]

  def run(self, symbol_source: step_coder.SymbolSource) -> np.ndarray:
    if self._step is None:
      self._step = _build_step(self._net, self._layer_taps, self._neighbors)
    bufs = jax.device_put(self.init_buffers())
    prev_start, prev_val = 0, np.full((self.width,), self._values[0])
    decoded = []
    for s, (start, bucket) in enumerate(zip(self._starts, self._bucket)):
      bufs, logits, freqs = self._step(bufs, np.int32(prev_start), prev_val, np.int32(start), bucket)
      n = len(self.schedule[s])
      sym = np.asarray(symbol_source(s, np.asarray(logits)[:n], np.asarray(freqs)[:n]), np.int32)
      decoded.append(sym)
      prev_start, prev_val = start, np.zeros((self.width,), self._values.dtype)
      prev_val[:n] = self._values[sym]
    symbols = np.zeros(self.shape, np.int32)
    symbols[tuple(self._order.T)] = np.concatenate(decoded)
    return symbols


def _neighbor_ranks(order: np.ndarray, shape, taps: np.ndarray, num_rows: int) -> np.ndarray:
  """(num_rows - 1, T) int32: for each rank (position in coding order), the rank of each tap's position, or
  the pad row (num_rows - 1) outside the volume; rows past the last rank (read by padded steps) are pad."""
  rank = np.zeros(shape, np.int32)  # int32 throughout: the (N, T, 3) temporaries dominate a tile's memory
  rank[tuple(order.T)] = np.arange(len(order), dtype=np.int32)
  pos = order.astype(np.int32)[:, None, :] + taps.astype(np.int32)[None]  # (N, T, 3)
  limit = np.asarray(shape, np.int32)
  inside = np.all((pos >= 0) & (pos < limit), axis=-1)
  out = np.full((num_rows - 1, len(taps)), num_rows - 1, np.int32)
  out[:len(order)] = np.where(inside, rank[tuple(np.clip(pos, 0, limit - 1).transpose(2, 0, 1))], num_rows - 1)
  return out


def _tap_columns(layer_taps: list[np.ndarray]) -> list[np.ndarray]:
  """Per layer, the columns of the neighbor table (mask B's taps) that its taps read."""
  taps_b = layer_taps[-1]
  return [np.array([int(np.flatnonzero(np.all(taps_b == t, axis=1))[0]) for t in taps], np.int32)
          for taps in layer_taps]


_PARALLEL_CHUNK = 4096  # rows a layer computes at once in `parallel_tables` (memory: rows x taps x channels)


def _build_parallel(net, layer_taps: list[np.ndarray], neighbors: np.ndarray):
  """The jitted one-pass network of `WavefrontCoder.parallel_tables`: buffers (x (rows, 1) with every symbol's
  value, hidden (rows, C) zeros) -> (logits, freqs) (rows - 1 - padding, L), each layer over all rows in chunks
  of `_PARALLEL_CHUNK`. The pad row (the last) keeps its initial value, as in the step coder."""
  columns = _tap_columns(layer_taps)
  rows = neighbors.shape[0]  # = buffer rows - 1: every row but the pad row
  chunks = -(-rows // _PARALLEL_CHUNK)
  pad_row = rows
  nb = np.full((chunks * _PARALLEL_CHUNK, neighbors.shape[1]), pad_row, np.int32)
  nb[:rows] = neighbors
  nb = jax.device_put(nb.reshape(chunks, _PARALLEL_CHUNK, -1))
  num_layers = len(layer_taps)
  num_res = (num_layers - 2) // 2

  def layer(buf, i, activation):
    def chunk(nbc):
      patch = jnp.take(buf, nbc[:, columns[i]], axis=0).reshape(nbc.shape[0], -1)
      return activation(net.dense(i, patch, jnp))
    return jax.lax.map(chunk, nb).reshape(chunks * _PARALLEL_CHUNK, -1)[:rows]

  def write(buf, value):
    return buf.at[:rows].set(value.astype(buf.dtype))

  @jax.jit
  def run(bufs):
    x, *hidden = bufs
    h = layer(x, 0, lambda v: net.relu(v, jnp))
    hidden[0] = write(hidden[0], h)
    for r in range(num_res):
      hidden[2 * r + 1] = write(hidden[2 * r + 1], layer(hidden[2 * r], 1 + 2 * r, lambda v: net.relu(v, jnp)))
      h = net.add(h, layer(hidden[2 * r + 1], 2 + 2 * r, lambda v: v), jnp)
      hidden[2 * r + 2] = write(hidden[2 * r + 2], h)
    return net.outputs(layer(hidden[-1], num_layers - 1, lambda v: v))

  return run


def _build_step(net, layer_taps: list[np.ndarray], neighbors: np.ndarray):
  """The jitted step: write the previous step's symbol values, then every layer at this step's ranks.

  Buffers are indexed by rank, so a step reads from the few wavefronts just before it (cache-friendly) and
  writes one contiguous slice [start, start + bucket): the rows past this step's own belong to later steps,
  which recompute them before anyone reads them (every tap points to an earlier rank or to the row itself).
  Index arithmetic is int32 whatever JAX_ENABLE_X64 says.
  """
  neighbors = jax.device_put(np.asarray(neighbors, np.int32))  # (rows, T): T the taps of mask B (layer 0 drops the centre)
  columns = _tap_columns(layer_taps)
  num_layers = len(layer_taps)
  num_res = (num_layers - 2) // 2
  zero = np.int32(0)

  def dense(buf, nb, i):  # gather each row's (T, C) patch, taps major (the kernel's layout)
    patch = jnp.take(buf, nb[:, columns[i]], axis=0).reshape(nb.shape[0], -1)
    return net.dense(i, patch, jnp)

  @functools.partial(jax.jit, donate_argnums=0, static_argnums=4)  # buffers updated in place
  def step(bufs, prev_start, prev_val, start, bucket):
    x, *hidden = bufs
    x = jax.lax.dynamic_update_slice(x, prev_val[:, None].astype(x.dtype), (prev_start, zero))
    nb = jax.lax.dynamic_slice(neighbors, (start, zero), (bucket, neighbors.shape[1]))

    def write(buf, value):
      return jax.lax.dynamic_update_slice(buf, value.astype(buf.dtype), (start, zero))

    h = net.relu(dense(x, nb, 0), jnp)
    hidden[0] = write(hidden[0], h)
    for r in range(num_res):
      a = net.relu(dense(hidden[2 * r], nb, 1 + 2 * r), jnp)
      hidden[2 * r + 1] = write(hidden[2 * r + 1], a)
      h = net.add(h, dense(hidden[2 * r + 1], nb, 2 + 2 * r), jnp)
      hidden[2 * r + 2] = write(hidden[2 * r + 2], h)
    logits, freqs = net.outputs(dense(hidden[-1], nb, num_layers - 1))
    return (x, *hidden), logits, freqs

  return step
