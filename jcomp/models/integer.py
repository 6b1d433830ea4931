"""Integer inference of the 3D masked context model: coding tables that are identical on every backend.

Ballé, Johnston and Minnen, "Integer networks for data compression with latent-variable models" (ICLR 2019):
a float network whose outputs feed an entropy coder breaks decoding whenever encoder and decoder round
differently (another backend, XLA flag or library version). Here the whole path from decoded symbols to the
coder's frequency tables is integer arithmetic, exact on every XLA backend and in NumPy:

  x = centers_int[symbol]                                  (fixed point, F_x fractional bits)
  per layer: acc = sum_taps x * w_int + b_int              (int32; |acc| < 2**31 checked at conversion)
             y = (acc + 2**(s - 1)) >> s                   (per output channel shift s: round half up)
             ReLU -> clip(y, 0, limit), residual sum -> clip(h + r, -limit, limit)
  logits z (fixed point, `logit_bits` fractional bits)  ->  d = max(z) - z  ->  e = exp_table[min(d, D)]
  freqs = 1 + e (2**P - L) // sum(e), the remainder to the first largest e  (every entry >= 1, rows sum 2**P)

`exp_table` holds round(2**14 exp(-d / 2**logit_bits)), computed once at conversion and stored with the weights,
so no transcendental function runs at coding time. Weights are quantized per output channel to `weight_bits`,
activations per layer to `activation_bits` from calibration statistics (`quantize`: post-training quantization
on latents of training images). The same network, the same shifts, the same tables: `reference_tables` is the
NumPy implementation (int64, no JAX) the jitted step coder (`jcomp.models.masked3d.WavefrontCoder`) is tested
against bit for bit.

Layers follow `ContextModel3D`: conv_in (mask A) -> ReLU, then per residual unit res_a -> ReLU, res_b, sum,
then conv_out; kernels are stored as (T Cin, Cout) over the mask's T taps (taps major).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math

import numpy as np

from jcomp.models.masked_conv import causal_mask_3d, mask_taps

EXP_BITS = 14           # exp_table[0] = 2**14: e (2**P - L) stays < 2**31 for P = 16
ACC_BOUND = 2**31 - 1   # every accumulator, by construction
LOGIT_BOUND = 2**24     # logits are clipped to +-2**24, so max(z) - z fits int32


@dataclasses.dataclass(frozen=True, eq=False)
class IntegerContextModel:
  """An integer masked context model (module doc). Arrays are NumPy int32.

  Attributes:
    kernel_size: (kd, kh, kw) of the masked convolutions.
    kernels: per layer (T Cin, Cout) int32 weights (conv_in, res_a/res_b per unit, conv_out).
    biases: per layer (Cout,) int32, at the accumulator's scale.
    shifts: per layer (Cout,) int32 >= 0, accumulator -> output scale.
    centers: (L,) int32, the network's input per symbol (symbol 0 also pads the volume).
    limit: hidden activations lie in [-limit, limit].
    logit_bits: fractional bits of the logits.
    exp_table: (D + 1,) int32, exp_table[d] = round(2**EXP_BITS exp(-d / 2**logit_bits)), last entry 0.
    precision: the frequency tables sum to 2**precision.
  """
  kernel_size: tuple[int, int, int]
  kernels: tuple[np.ndarray, ...]
  biases: tuple[np.ndarray, ...]
  shifts: tuple[np.ndarray, ...]
  centers: np.ndarray
  limit: int
  logit_bits: int
  exp_table: np.ndarray
  precision: int = 16

  def __post_init__(self):
    L = len(self.centers)
    if not 1 <= self.precision <= 16 or L > (1 << self.precision):
      raise ValueError(f"precision {self.precision} with {L} symbols")
    if self.exp_table[0] != 1 << EXP_BITS or self.exp_table[-1] != 0:
      raise ValueError("exp_table must start at 2**14 and end at 0")
    if self.kernels[-1].shape[-1] != L:
      raise ValueError(f"conv_out has {self.kernels[-1].shape[-1]} outputs for {L} symbols")
    check_bounds(self)

  @property
  def num_units(self) -> int:
    return (len(self.kernels) - 2) // 2

  # The network's operations, for NumPy (reference, int64) and jax.numpy (the step coder, int32).

  def dense(self, i: int, patch, xp):
    """Layer i on patches (..., T Cin) ints -> (..., Cout) at the layer's output scale (before activation)."""
    k, b, s = self.kernels[i], self.biases[i], self.shifts[i]
    if xp is np:
      acc = patch.astype(np.int64) @ k.astype(np.int64) + b
    else:
      acc = xp.dot(patch, xp.asarray(k), preferred_element_type=xp.int32) + xp.asarray(b)
    return rescale(acc, s, xp)

  def relu(self, v, xp):
    return xp.clip(v, 0, self.limit)

  def add(self, h, r, xp):
    return xp.clip(h + r, -self.limit, self.limit)

  def tables(self, logits, xp):
    """Integer logits (..., L) -> frequency tables (..., L), entries >= 1, rows summing to 2**precision."""
    return logits_to_freqs(logits, self.exp_table, self.precision, xp)

  def identity(self) -> bytes:
    """16-byte hash of everything that defines the tables (`to_bytes`)."""
    return hashlib.sha256(self.to_bytes()).digest()[:16]

  def to_bytes(self) -> bytes:
    """Canonical .npz bytes (`from_bytes` reads them)."""
    arrays = {"kernel_size": np.asarray(self.kernel_size, np.int32), "centers": self.centers,
              "scalars": np.asarray([self.limit, self.logit_bits, self.precision], np.int32),
              "exp_table": self.exp_table}
    for i, (k, b, s) in enumerate(zip(self.kernels, self.biases, self.shifts)):
      arrays.update({f"kernel_{i}": k, f"bias_{i}": b, f"shift_{i}": s})
    buf = io.BytesIO()
    np.savez(buf, **{n: np.ascontiguousarray(a, np.int32) for n, a in sorted(arrays.items())})
    return buf.getvalue()

  @classmethod
  def from_bytes(cls, data: bytes) -> "IntegerContextModel":
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
      a = {k: np.asarray(z[k], np.int32) for k in z.files}
    n = sum(k.startswith("kernel_") and k != "kernel_size" for k in a)
    limit, logit_bits, precision = (int(v) for v in a["scalars"])
    return cls(tuple(int(v) for v in a["kernel_size"]), tuple(a[f"kernel_{i}"] for i in range(n)),
               tuple(a[f"bias_{i}"] for i in range(n)), tuple(a[f"shift_{i}"] for i in range(n)),
               a["centers"], limit, logit_bits, a["exp_table"], precision)


def rescale(acc, shift, xp):
  """acc * 2**-shift rounded half up ((acc + 2**(shift - 1)) >> shift, arithmetic shift), per channel."""
  if xp is np:
    shift = shift.astype(np.int64)
    return (acc + ((np.int64(1) << shift) >> 1)) >> shift
  shift = xp.asarray(shift, xp.int32)
  half = xp.right_shift(xp.left_shift(xp.int32(1), shift), 1)
  return xp.right_shift(acc + half, shift)


def logits_to_freqs(z, exp_table: np.ndarray, precision: int, xp):
  """Integer logits (..., L) -> integer frequency tables (module doc), in NumPy (int64) or jax.numpy (int32)."""
  int_t = np.int64 if xp is np else xp.int32
  z = xp.clip(z.astype(int_t), -LOGIT_BOUND, LOGIT_BOUND)
  num = z.shape[-1]
  total = 1 << precision
  d = xp.minimum(xp.max(z, axis=-1, keepdims=True) - z, len(exp_table) - 1)
  e = xp.asarray(exp_table.astype(int_t))[d]
  freqs = 1 + (e * (total - num)) // xp.sum(e, axis=-1, keepdims=True)
  rest = total - xp.sum(freqs, axis=-1, keepdims=True)
  first_max = xp.arange(num) == xp.argmax(e, axis=-1)[..., None]
  return (freqs + rest * first_max.astype(int_t)).astype(int_t)


def make_exp_table(logit_bits: int) -> np.ndarray:
  """(D + 1,) int32: round(2**EXP_BITS exp(-d / 2**logit_bits)) for d = 0.. until it rounds to 0 (included)."""
  d_max = math.ceil((EXP_BITS + 1) * math.log(2) * (1 << logit_bits))
  table = np.round((1 << EXP_BITS) * np.exp(-np.arange(d_max + 1) / (1 << logit_bits)))
  last = int(np.flatnonzero(table == 0)[0])
  return table[:last + 1].astype(np.int32)


def mask_offsets(kernel_size: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
  """(taps of mask A, taps of mask B): (T, 3) offsets (dd, dh, dw), the kernels' row order."""
  return mask_taps(kernel_size, "A"), mask_taps(kernel_size, "B")


def _patches(volume: np.ndarray, taps: np.ndarray, pad) -> np.ndarray:
  """volume (K, h, w, C) -> (K, h, w, T C): each position's values at its T tap offsets (pad outside)."""
  lo = np.maximum(-taps.min(axis=0), 0)
  hi = np.maximum(taps.max(axis=0), 0)
  p = np.pad(volume, [(lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2]), (0, 0)], constant_values=pad)
  K, h, w = volume.shape[:3]
  out = [p[lo[0] + dd:lo[0] + dd + K, lo[1] + dh:lo[1] + dh + h, lo[2] + dw:lo[2] + dw + w]
         for dd, dh, dw in taps]
  return np.concatenate(out, axis=-1)


def _forward(net, x: np.ndarray, pad, taps_a, taps_b, xp=np, record=None) -> np.ndarray:
  """The network of ContextModel3D over a whole volume x (K, h, w, 1): logits (K, h, w, L). `net` supplies
  dense/relu/add (integer model, or the float network of `quantize`); `record(name, array)` sees every
  activation."""
  record = record or (lambda name, a: None)
  h = net.relu(net.dense(0, _patches(x, taps_a, pad), xp), xp)
  record("h", h)
  for u in range(net.num_units):
    a = net.relu(net.dense(1 + 2 * u, _patches(h, taps_b, 0), xp), xp)
    record(f"a{u}", a)
    r = net.dense(2 + 2 * u, _patches(a, taps_b, 0), xp)
    record("h", r)
    h = net.add(h, r, xp)
    record("h", h)
  return net.dense(len(net.kernels) - 1, _patches(h, taps_b, 0), xp)


def reference_logits(model: IntegerContextModel, symbols: np.ndarray) -> np.ndarray:
  """The integer logits (K, h, w, L) int64 of a whole symbol volume (K, h, w), in NumPy (parallel pass)."""
  taps_a, taps_b = mask_offsets(model.kernel_size)
  x = model.centers.astype(np.int64)[np.asarray(symbols)][..., None]
  return _forward(model, x, int(model.centers[0]), taps_a, taps_b)


def reference_tables(model: IntegerContextModel, symbols: np.ndarray) -> np.ndarray:
  """The coder's tables (K, h, w, L) int64 at every position of a symbol volume (K, h, w), pure NumPy."""
  return logits_to_freqs(reference_logits(model, symbols), model.exp_table, model.precision, np)


class _FloatNet:
  """The float network of a ContextModel3D's params, in NumPy float64 (calibration)."""

  def __init__(self, kernels, biases):
    self.kernels, self.biases = kernels, biases

  num_units = property(lambda self: (len(self.kernels) - 2) // 2)

  def dense(self, i, patch, xp):
    return patch @ self.kernels[i] + self.biases[i]

  def relu(self, v, xp):
    return np.maximum(v, 0)

  def add(self, h, r, xp):
    return h + r


def float_layers(params: dict, kernel_size) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """ContextModel3D params -> (kernels (T Cin, Cout), biases (Cout,)) per layer, float64, masked taps only."""
  names = ["conv_in"] + sorted(k for k in params if k.startswith("res")) + ["conv_out"]
  kernels, biases = [], []
  for i, name in enumerate(names):
    keep = causal_mask_3d(tuple(kernel_size), "A" if i == 0 else "B") > 0
    k = np.asarray(params[name]["kernel"], np.float64)[keep]  # (T, Cin, Cout)
    kernels.append(k.reshape(-1, k.shape[-1]))
    biases.append(np.asarray(params[name]["bias"], np.float64))
  return kernels, biases


def float_logits(params: dict, centers: np.ndarray, kernel_size, symbols: np.ndarray, record=None) -> np.ndarray:
  """The float model's logits (K, h, w, L) float64 of a symbol volume, in NumPy (calibration, tests)."""
  taps_a, taps_b = mask_offsets(tuple(kernel_size))
  c = np.asarray(centers, np.float64)
  return _forward(_FloatNet(*float_layers(params, kernel_size)), c[np.asarray(symbols)][..., None], c[0],
                  taps_a, taps_b, record=record)


def _frac_bits(limit: int, max_abs: float) -> int:
  """The most fractional bits with max_abs * 2**F <= limit."""
  return int(math.floor(math.log2(limit / max_abs))) if max_abs > 0 else 0


def quantize(params: dict, centers: np.ndarray, kernel_size, calibration: list[np.ndarray],
             weight_bits: int = 12, activation_bits: int = 12, logit_bits: int = 6,
             precision: int = 16) -> IntegerContextModel:
  """Post-training quantization of a ContextModel3D (module doc).

  Args:
    params: the float context model's params.
    centers: (L,) float symbol values.
    kernel_size: the masked convolutions' (kd, kh, kw).
    calibration: symbol volumes (K, h, w) (e.g. latents of training images); each hidden layer's fixed point
      is the finest that holds its largest activation on them (larger values are clipped at coding time).
    weight_bits, activation_bits: signed widths of weights (per output channel) and hidden activations.
    logit_bits: fractional bits of the logits (1 / 2**logit_bits nat resolution).
  """
  kernels, biases = float_layers(params, kernel_size)
  limit = (1 << (activation_bits - 1)) - 1
  w_limit = (1 << (weight_bits - 1)) - 1
  peaks: dict[str, float] = {}
  def record(name, a):
    peaks[name] = max(peaks.get(name, 0.0), float(np.max(np.abs(a))) if a.size else 0.0)
  for symbols in calibration:
    float_logits(params, centers, kernel_size, symbols, record)
  c = np.asarray(centers, np.float64)
  f_x = _frac_bits(limit, float(np.max(np.abs(c))))
  f_h = _frac_bits(limit, peaks["h"])
  num_units = (len(kernels) - 2) // 2
  # (input fractional bits, input bound, output fractional bits) per layer
  plan = [(f_x, int(np.max(np.abs(np.round(c * 2.0**f_x)))), f_h)]
  for u in range(num_units):
    f_a = _frac_bits(limit, peaks[f"a{u}"])
    plan += [(f_h, limit, f_a), (f_a, limit, f_h)]
  plan.append((f_h, limit, logit_bits))
  q_kernels, q_biases, q_shifts = [], [], []
  for (f_in, in_bound, f_out), k, b in zip(plan, kernels, biases):
    peak = np.max(np.abs(k), axis=0)
    f_w = np.array([_frac_bits(w_limit, p) for p in peak])
    f_w = np.maximum(f_w, f_out - f_in)  # shift >= 0 (only binds for tiny weights, which stay in range)
    while True:
      qk = np.round(k * 2.0 ** f_w).astype(np.int64)
      qb = np.round(b * 2.0 ** (f_in + f_w)).astype(np.int64)
      over = _acc_bound(in_bound, qk, qb, f_in + f_w - f_out) > ACC_BOUND
      if not over.any():
        break
      if np.any(f_w[over] <= f_out - f_in):
        raise ValueError("cannot fit the accumulator in 32 bits: lower weight_bits or activation_bits")
      f_w = f_w - over
    q_kernels.append(qk.astype(np.int32))
    q_biases.append(qb.astype(np.int32))
    q_shifts.append((f_in + f_w - f_out).astype(np.int32))
  return IntegerContextModel(tuple(int(v) for v in kernel_size), tuple(q_kernels), tuple(q_biases),
                             tuple(q_shifts), np.round(c * 2.0**f_x).astype(np.int32), limit, logit_bits,
                             make_exp_table(logit_bits), precision)


def _acc_bound(in_bound: int, kernel: np.ndarray, bias: np.ndarray, shift: np.ndarray) -> np.ndarray:
  """(Cout,) the largest |accumulator| + rounding offset a layer can reach with inputs in [-in_bound, in_bound]."""
  shift = np.asarray(shift, np.int64)
  return (in_bound * np.abs(kernel.astype(np.int64)).sum(axis=0) + np.abs(bias.astype(np.int64))
          + ((np.int64(1) << np.clip(shift, 0, 62)) >> 1))


def check_bounds(model: IntegerContextModel) -> None:
  """Raises ValueError unless every accumulator (with its rounding offset) stays below 2**31 for any input."""
  in_bound = int(np.max(np.abs(model.centers.astype(np.int64))))
  for i, (k, b, s) in enumerate(zip(model.kernels, model.biases, model.shifts)):
    if np.any(s < 0) or np.any(s > 30):
      raise ValueError(f"layer {i}: shifts must lie in [0, 30]")
    if np.any(_acc_bound(in_bound, k, b, s) > ACC_BOUND):
      raise ValueError(f"layer {i}: the accumulator can overflow 32 bits")
    in_bound = model.limit


class ReferenceCoder:
  """A `StepCoder` in NumPy alone: the integer model along `schedule` (the step coder's, e.g.
  `masked3d.wavefront_schedule`), one whole-volume NumPy pass per step. Slow (steps x volume), exact: the
  reference a file's symbols are decoded with in the tests."""

  def __init__(self, model: IntegerContextModel, shape: tuple[int, int, int], schedule: list[np.ndarray]):
    self.model, self.shape, self.schedule = model, tuple(shape), schedule

  def run(self, symbol_source) -> np.ndarray:
    symbols = np.zeros(self.shape, np.int64)  # undecoded positions read as symbol 0, the padding
    scale = 2.0 ** -self.model.logit_bits
    for s, pos in enumerate(self.schedule):
      where = tuple(np.asarray(pos).T)
      z = reference_logits(self.model, symbols)[where]
      freqs = logits_to_freqs(z, self.model.exp_table, self.model.precision, np)
      symbols[where] = symbol_source(s, (z * scale).astype(np.float32), freqs.astype(np.int32))
    return symbols.astype(np.int32)
