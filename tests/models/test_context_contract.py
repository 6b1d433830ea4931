"""The context-model contract (`jcomp.models.context`), one test per claim, for every registered context model.

  * causality: the logits at a position depend only on positions decoded at earlier steps of the model's
    decode schedule (never on itself, its own step or later ones), and on some earlier position;
  * the schedule decodes every position exactly once;
  * the model's step coder gives the logits of the serial reference (one position per step, one full parallel
    pass each, `GenericCoder`) and round-trips real symbols through the rANS coder;
  * kernels without a parallel order are refused, not mis-decoded.
Random weights with non-zero biases; a (2, 5, 5) masked3d kernel runs beside the shipped (2, 3, 3).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jcomp.coding import coder, step_coder
from jcomp.coding.code_codec import CODE_VALUES
from jcomp.models import CONTEXT_MODELS, ContextModel, build_context_model
from tests.conftest import random_like, tiny_config

SHAPE = (4, 5, 6)  # (K, h, w); the progressive model reads it as 2 layers of 2 bits
CENTERS = np.array([-1.5, -0.5, 0.2, 0.9, 1.7, 2.5], np.float32)
VARIANTS = sorted(CONTEXT_MODELS) + ["masked3d_k255"]


def _model_config(variant: str):
  m = tiny_config().model
  name = variant.split("_k")[0]
  m.context.name = name
  if variant == "masked3d_k255":
    m.context.kernel_size = (2, 5, 5)
  if name == "progressive":
    m.num_centers = 2
    with m.context.unlocked():
      m.context.layer_depth, m.context.layer_count, m.context.coded_layer_count = 2, 3, 0
      m.context.cond_layers = 1
    m.context.features = 4
  return m


@functools.lru_cache(maxsize=None)
def _model(variant: str):
  """(model, random params, centers)."""
  model = build_context_model(_model_config(variant))
  centers = CODE_VALUES if variant == "progressive" else CENTERS
  values = jnp.zeros((1,) + SHAPE, jnp.float32)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), values, 0.0, jnp.asarray(centers)))
  return model, random_like(shapes, seed=1, scale=0.5)["params"], centers


def _logits_fn(variant: str):
  model, params, centers = _model(variant)
  c = jnp.asarray(centers)
  return lambda v: model.apply({"params": params}, v, c[0], c)


def _steps(variant: str) -> np.ndarray:
  """(K, h, w) step index of every position in the model's decode schedule."""
  model, _, _ = _model(variant)
  schedule = model.decode_schedule(SHAPE)
  step_coder.check_schedule(schedule, SHAPE)
  step = np.zeros(SHAPE, np.int64)
  for s, pos in enumerate(schedule):
    step[tuple(pos.T)] = s
  return step.ravel()


@functools.lru_cache(maxsize=None)
def _dependencies(variant: str) -> np.ndarray:
  """(N, N) bool, [p, q]: the logits at position p change with the value at q (N = K h w)."""
  values = jnp.asarray(np.random.default_rng(0).normal(size=(1,) + SHAPE), jnp.float32)
  jac = jax.jacrev(_logits_fn(variant))(values)  # (1, K, h, w, L, 1, K, h, w)
  n = int(np.prod(SHAPE))
  return np.abs(np.asarray(jac)).reshape(n, -1, n).max(axis=1) > 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_logits_depend_only_on_positions_of_earlier_steps(variant):
  step = _steps(variant)
  p, q = np.nonzero(_dependencies(variant))
  late = step[q] >= step[p]
  assert not late.any(), f"positions {p[late][:5]} depend on {q[late][:5]}, decoded at the same or a later step"


@pytest.mark.parametrize("variant", VARIANTS)
def test_logits_depend_on_some_earlier_position(variant):
  step, dep = _steps(variant), _dependencies(variant)
  blind = [p for p in range(dep.shape[0]) if step[p] > 0 and not dep[p].any()]
  assert not blind, f"logits at positions {blind[:5]} (after the first step) depend on no earlier position"


def _collect_logits(coder_, symbols: np.ndarray) -> np.ndarray:
  """Runs a step coder on known symbols; the logits it emitted at every position (K, h, w, L)."""
  got = np.full(SHAPE + (0,), np.nan, np.float32)

  def source(step, logits, freqs):
    nonlocal got
    if got.shape[-1] == 0:
      got = np.full(SHAPE + (logits.shape[-1],), np.nan, np.float32)
    pos = coder_.schedule[step]
    got[tuple(pos.T)] = logits
    assert freqs.shape == logits.shape and np.all(freqs > 0)
    return symbols[tuple(pos.T)]

  assert np.array_equal(coder_.run(source), symbols)
  return got


@pytest.mark.parametrize("variant", VARIANTS)
def test_step_coder_decodes_like_the_serial_reference(variant):
  model, params, centers = _model(variant)
  symbols = np.random.default_rng(3).integers(0, len(centers), SHAPE).astype(np.int32)
  fast = model.step_coder(params, centers, SHAPE)
  serial = step_coder.GenericCoder(_logits_fn(variant), centers, SHAPE,
                                   step_coder.serial(model.decode_schedule(SHAPE)))
  reference = _collect_logits(serial, symbols)
  np.testing.assert_allclose(_collect_logits(fast, symbols), reference, rtol=1e-4, atol=1e-4)
  # The contract's fallback (the generic coder along the model's own parallel schedule) agrees too.
  fallback = ContextModel.step_coder(model, params, centers, SHAPE)
  np.testing.assert_allclose(_collect_logits(fallback, symbols), reference, rtol=1e-4, atol=1e-4)
  # A real round trip: encode with the step coder's tables, decode with the step coder.
  order, tables = [], []

  def enc(step, logits, freqs):
    pos = fast.schedule[step]
    order.append(symbols[tuple(pos.T)])
    tables.append(freqs)
    return order[-1]

  fast.run(enc)
  dec = coder.Decoder(coder.encode(np.concatenate(order), np.concatenate(tables)))
  decoded = fast.run(lambda s, logits, freqs: dec.decode(freqs))
  dec.finish()
  np.testing.assert_array_equal(decoded, symbols)


def test_kernels_without_a_parallel_order_are_refused():
  m = _model_config("masked3d")
  m.context.kernel_size = (2, 4, 4)
  with pytest.raises(step_coder.ScheduleError, match="odd"):
    build_context_model(m).decode_schedule(SHAPE)
  with pytest.raises(step_coder.ScheduleError, match="later positions"):
    step_coder.linear_wavefront(np.array([[0, 0, -1], [0, 0, 1]]))
  c = _model_config("ccn")
  c.context.spatial_codes = 2
  with pytest.raises(step_coder.ScheduleError, match="spatial_codes"):
    build_context_model(c).decode_schedule(SHAPE)
  with pytest.raises(step_coder.ScheduleError, match="layers"):
    build_context_model(_model_config("progressive")).decode_schedule((3, 5, 6))


def test_wavefront_index_follows_the_kernel():
  """(2, 3, 3): 4 d + 2 h + w, the 346 steps of a Kodak latent; (2, 5, 5): 9 d + 3 h + w."""
  from jcomp.models.masked3d import mask_taps, wavefront_schedule  # pylint: disable=g-import-not-at-top
  taps = lambda k: np.concatenate([mask_taps(k, "A"), mask_taps(k, "B")])
  np.testing.assert_array_equal(step_coder.linear_wavefront(taps((2, 3, 3))), [4, 2, 1])
  np.testing.assert_array_equal(step_coder.linear_wavefront(taps((2, 5, 5))), [9, 3, 1])
  assert len(wavefront_schedule((32, 64, 96))) == 4 * 31 + 2 * 63 + 95 + 1 == 346
