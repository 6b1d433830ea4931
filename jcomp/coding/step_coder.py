"""The decode-schedule side of the context-model contract (`jcomp.models.context`): step coders and schedules.

A *schedule* of a symbol volume (K, h, w) is a list of (M_s, 3) int32 arrays of positions (d, h, w): step s
decodes its M_s positions at once, given the symbols of all earlier steps. A *step coder* runs a context
model along its schedule::

  coder.run(source) -> symbols (K, h, w) int32
    calls source(step, logits (M_s, L) float32, freqs (M_s, L) int32) -> symbols (M_s,) once per step

The encoder's `source` returns the true symbols (and records the tables); the decoder's decodes them from
the bitstream. Both run the same computation in the same order, so their integer tables agree bit for bit.

`GenericCoder` works for any context model: one full parallel pass per step. It is the fallback of models
without a step coder of their own, and the reference the fast coders are tested against. Wavefront schedules
are derived from the masks' taps (`linear_wavefront`): a kernel whose taps admit no such order is refused.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jcomp.coding import probabilities

SymbolSource = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


class StepCoder(Protocol):
  schedule: list[np.ndarray]

  def run(self, symbol_source: SymbolSource) -> np.ndarray:
    ...


class ScheduleError(ValueError):
  """A kernel or mask for which no parallel decode order is known (refused rather than mis-decoded)."""


def linear_wavefront(taps: np.ndarray) -> np.ndarray:
  """The smallest positive weights (a, b, 1) of an index a d + b h + w that every causal tap lowers.

  taps: (T, 3) offsets (dd, dh, dw) from an output position to the inputs it reads, over all layers of a
  causal stack (the centre (0, 0, 0) may appear: a hidden layer's own position). Returns (3,) int64 with
  a d + b h + w strictly smaller at every other tap, so positions of equal index never depend on each other
  (a stack of such layers only reads lower indices, or its own position from an earlier layer).
  Raises ScheduleError if a tap points to a later position in depth-major raster order.
  """
  taps = np.asarray(taps, np.int64).reshape(-1, 3)
  taps = taps[np.any(taps != 0, axis=1)]
  dd, dh, dw = taps.T
  later = (dd > 0) | ((dd == 0) & (dh > 0)) | ((dd == 0) & (dh == 0) & (dw > 0))
  if later.any():
    raise ScheduleError(f"mask taps {taps[later][:4].tolist()} read later positions: no causal decode order")
  row = (dd == 0) & (dh < 0)
  b = int(max([0] + list((dw[row] // -dh[row]) + 1)))
  depth = dd < 0
  a = int(max([0] + list(((b * dh[depth] + dw[depth]) // -dd[depth]) + 1)))
  weights = np.array([max(a, 1), max(b, 1), 1], np.int64)
  if np.any(taps @ weights >= 0):  # cannot happen by construction; a guard against a wrong derivation
    raise ScheduleError(f"no wavefront index for taps {taps.tolist()}")
  return weights


def index_schedule(index: np.ndarray, positions: np.ndarray) -> list[np.ndarray]:
  """Groups positions (N, 3) by an integer step index (N,) >= 0: one (M_s, 3) int32 array per occupied index
  value, in increasing index order, positions in their given order inside a step."""
  order = np.argsort(index, kind="stable")
  index, positions = index[order], positions[order].astype(np.int32)
  cuts = np.flatnonzero(np.diff(index)) + 1
  return np.split(positions, cuts)


def volume_positions(shape: Sequence[int]) -> np.ndarray:
  """All (d, h, w) of a volume in depth-major raster order: (K h w, 3) int64."""
  return np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), -1).reshape(-1, 3)


def check_schedule(schedule: list[np.ndarray], shape: Sequence[int]) -> None:
  """Raises ScheduleError unless every position of the volume `shape` is decoded exactly once."""
  seen = np.zeros(tuple(shape), np.int64)
  for pos in schedule:
    np.add.at(seen, tuple(np.asarray(pos).T), 1)
  if np.any(seen != 1):
    raise ScheduleError(f"schedule decodes {int(np.sum(seen == 0))} positions never and "
                        f"{int(np.sum(seen > 1))} more than once")


class GenericCoder:
  """Any context model along any schedule: one full parallel pass per step (K h w positions each).

  logits_fn: values (1, K, h, w) float32 -> logits (1, K, h, w, L) float32, traceable (it is jitted here).
  Positions not decoded yet hold centers[0]; a causal model does not read them.
  """

  def __init__(self, logits_fn: Callable[[jnp.ndarray], jnp.ndarray], centers: np.ndarray,
               shape: tuple[int, int, int], schedule: list[np.ndarray]):
    check_schedule(schedule, shape)
    self.shape, self.schedule = tuple(shape), schedule
    self._centers = np.asarray(centers, np.float32)

    @jax.jit
    def full_pass(values):
      logits = logits_fn(values)[0]
      return logits, probabilities.logits_to_freqs_jax(logits)

    self._pass = full_pass

  def run(self, symbol_source: SymbolSource) -> np.ndarray:
    values = np.full((1,) + self.shape, self._centers[0], np.float32)
    symbols = np.zeros(self.shape, np.int32)
    for s, pos in enumerate(self.schedule):
      logits, freqs = self._pass(values)
      where = tuple(pos.T)
      sym = np.asarray(symbol_source(s, np.asarray(logits)[where], np.asarray(freqs)[where]), np.int32)
      symbols[where] = sym
      values[(0,) + where] = self._centers[sym]
    return symbols


def serial(schedule: list[np.ndarray]) -> list[np.ndarray]:
  """The same order one position per step: the reference a parallel schedule must decode identically to."""
  return [p[None] for pos in schedule for p in pos]
