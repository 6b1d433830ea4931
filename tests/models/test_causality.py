"""Causality of every context model: the logits at a position depend exactly on earlier symbols.

Coding order: depth-major, then raster, index d*H*W + h*W + w over a (K, H, W) symbol volume. With random
weights and non-zero biases, the Jacobian of the logits at p with respect to the input values must be zero at
every q >= p and non-zero somewhere before p (for p > 0). Every dependency of p must also be decoded at an
earlier step of the model's parallel decode schedule: for the 3D masked model with (2, 3, 3) kernels the
wavefront 4*d + 2*h + w (`jcomp.coding.schedule`), for CCN its sub-blocks (`jcomp.coding.subblock`).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jcomp.coding.schedule import wavefront_schedule
from jcomp.coding.subblock import subblock_schedule
from jcomp.models import CONTEXT_MODELS, build_context_model
from tests.conftest import random_like, tiny_config

K, H, W = 4, 5, 6


def _context_config(name: str):
  c = tiny_config().model
  c.context.name = name
  return c


@functools.lru_cache(maxsize=None)
def _dependencies(name: str) -> np.ndarray:
  """(N, N) bool, [p, q]: the logits at position p change with the value at q (N = K*H*W)."""
  model = build_context_model(_context_config(name))
  values = jnp.asarray(np.random.default_rng(0).normal(size=(1, K, H, W)), jnp.float32)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), values, 0.0)
  params = random_like(shapes, seed=1, scale=0.5)  # random kernels *and* biases
  jac = jax.jacrev(lambda v: model.apply(params, v, -1.5))(values)  # (1, K, H, W, L, 1, K, H, W)
  jac = np.abs(np.asarray(jac)).reshape(K * H * W, -1, K * H * W).max(axis=1)
  return jac > 0


@pytest.mark.parametrize("name", CONTEXT_MODELS)
def test_logits_ignore_the_current_and_later_symbols(name):
  dep = _dependencies(name)
  p, q = np.nonzero(dep)
  bad = q >= p
  assert not bad.any(), f"logits at {p[bad][:5]} depend on later or current symbols {q[bad][:5]}"


@pytest.mark.parametrize("name", CONTEXT_MODELS)
def test_logits_depend_on_some_earlier_symbol(name):
  dep = _dependencies(name)
  blind = [p for p in range(1, K * H * W) if not dep[p, :p].any()]
  assert not blind, f"logits at positions {blind[:5]} depend on no earlier symbol"


def _schedule(name: str) -> list[np.ndarray]:
  """The model's decode schedule: (M_s, 3) arrays of (d, h, w) per step. Models not listed decode serially."""
  c = _context_config(name).context
  if name == "masked3d":
    return wavefront_schedule(K, H, W)
  if name == "ccn":
    return subblock_schedule(K, H, W, tuple(c.kernel_size)[-2:], c.get("spatial_codes", 1))
  return [np.array([np.unravel_index(p, (K, H, W))], np.int32) for p in range(K * H * W)]


def test_masked3d_schedule_is_the_wavefront_4d_plus_2h_plus_w():
  for s, positions in enumerate(_schedule("masked3d")):
    d, h, w = positions.T
    assert (4 * d + 2 * h + w == s).all()


@pytest.mark.parametrize("name", CONTEXT_MODELS)
def test_dependencies_are_decoded_at_earlier_steps_of_the_schedule(name):
  """For masked3d with (2, 3, 3) kernels: every dependency q of p has 4 d_q + 2 h_q + w_q < 4 d_p + ..."""
  step = np.full(K * H * W, -1)
  for s, positions in enumerate(_schedule(name)):
    flat = np.ravel_multi_index(tuple(positions.T), (K, H, W))
    assert (step[flat] == -1).all(), "a position is decoded twice"
    step[flat] = s
  assert (step >= 0).all(), "a position is never decoded"
  p, q = np.nonzero(_dependencies(name))
  late = step[q] >= step[p]
  assert not late.any(), f"positions {p[late][:5]} depend on {q[late][:5]}, decoded at the same or a later step"


@pytest.mark.parametrize("name", CONTEXT_MODELS)
def test_perturbing_a_later_symbol_leaves_earlier_logits_unchanged(name):
  """The same claim by finite perturbation (no autodiff): change one value, compare all logits."""
  model = build_context_model(_context_config(name))
  rng = np.random.default_rng(2)
  values = rng.normal(size=(1, K, H, W)).astype(np.float32)
  params = random_like(jax.eval_shape(model.init, jax.random.PRNGKey(0), values, 0.0), seed=3, scale=0.5)
  apply = jax.jit(lambda v: model.apply(params, v, 0.7))
  base = np.asarray(apply(values)).reshape(K * H * W, -1)
  any_moved = False
  for q in rng.choice(K * H * W, 12, replace=False):
    changed = values.copy().reshape(-1)
    changed[q] += 3.0
    out = np.asarray(apply(changed.reshape(values.shape))).reshape(K * H * W, -1)
    moved = np.nonzero(np.abs(out - base).max(axis=1) > 0)[0]
    assert (moved > q).all(), f"changing symbol {q} moved logits at {moved[moved <= q]}"
    any_moved |= bool(moved.size)
  assert any_moved
