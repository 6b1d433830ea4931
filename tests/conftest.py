"""Shared fixtures: the tiny config compiled once per session, subprocess environments, data locations.

Compile time dominates these tests on a CPU. Three things keep it down:
  * a persistent XLA compilation cache for the session (a temporary folder, inherited by subprocesses through
    JAX_COMPILATION_CACHE_DIR), so `jcomp.main` runs and repeated `train_and_evaluate` calls compile once;
  * `fast_compilation()` (jax_disable_most_optimizations, as Flax's example tests) around the tests' own
    compiles only: LLVM's optimisation of the unrolled threefry hashes of a random init alone takes about a
    minute for the tiny model; steps run ~2x slower, which is nothing for a few steps;
  * random weights drawn with NumPy into `jax.eval_shape` structures where a test needs no real init.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pathlib
import shutil
import sys
import tempfile

import jax
import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
KODAK_DIR = SHARED_DATA / "kodak"

if not os.environ.get("JAX_COMPILATION_CACHE_DIR") and jax.config.jax_compilation_cache_dir is None:
  _cache_dir = tempfile.mkdtemp(prefix="jcomp_test_xla_cache_")
  atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache_dir  # subprocesses share it
  jax.config.update("jax_compilation_cache_dir", _cache_dir)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
os.environ.pop("JCOMP_CACHE_DIR", None)  # the CLI and the API then keep the session's cache, not the user's


@contextlib.contextmanager
def fast_compilation():
  """XLA compiles with most optimisations off inside the block (executables compiled here stay so)."""
  old = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  try:
    yield
  finally:
    jax.config.update("jax_disable_most_optimizations", old)


def subprocess_env(**extra: str) -> dict[str, str]:
  """Environment for `python -m jcomp.main` and helper scripts: CPU, fast compiles, the shared cache."""
  env = dict(os.environ)
  for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "XLA_FLAGS"):
    env.pop(k, None)
  env.update(JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1", TF_CPP_MIN_LOG_LEVEL="2",
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.5",
             PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])))
  env.update(extra)
  return env


PYTHON = sys.executable


def tiny_config():
  """A fresh copy of configs/tiny.py (synthetic data)."""
  from configs import tiny  # pylint: disable=g-import-not-at-top
  return tiny.get_config()


def random_like(tree, seed: int, scale: float = 0.3):
  """NumPy-random float32 arrays with the shapes of `tree` (arrays or ShapeDtypeStructs): no XLA compile."""
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map(
      lambda s: (scale * rng.standard_normal(s.shape)).astype(np.float32), tree)


def random_variables(config, seed: int = 0, scale: float = 0.3) -> dict:
  """A system's fresh init with NumPy noise added to every bias and center (non-trivial context logits)."""
  from jcomp import systems  # pylint: disable=g-import-not-at-top
  with fast_compilation():
    v = jax.jit(systems.build(config).init)(jax.random.PRNGKey(seed))
  leaves, tree = jax.tree_util.tree_flatten(v)
  rng = np.random.default_rng(seed + 1)
  leaves = [np.asarray(l) + scale * rng.normal(size=l.shape).astype(np.float32) if l.ndim <= 1 else np.asarray(l)
            for l in leaves]
  return jax.tree_util.tree_unflatten(tree, leaves)


class TinySystem:
  """The tiny config's models, optimizer and a jitted train step on a 1-device mesh, compiled once."""

  def __init__(self):
    from jcomp import systems, train  # pylint: disable=g-import-not-at-top
    from jcomp.data import sources  # pylint: disable=g-import-not-at-top
    self.config = tiny_config()
    self.system = systems.build(self.config)
    self.tx = train.make_optimizer(self.config, self.system)
    self.mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    c = self.config
    self.batches = sources.TrainBatches(sources.open_source("synthetic", "train"), c.batch_size,
                                        c.crop_size, c.seed)
    with fast_compilation():
      init = jax.jit(functools.partial(train.create_train_state, self.system, self.tx))
      self._init = init.lower(jax.random.PRNGKey(0)).compile()
      state = self._init(jax.random.PRNGKey(0))
      step = train.jit_train_step(self.system, c, self.tx, self.mesh)
      self._step = step.lower(state, self.batches.batch(0)).compile()

  def init(self, seed: int = 0):
    return self._init(jax.random.PRNGKey(seed))

  def step(self, state, batch):
    """One train step (donates `state`)."""
    return self._step(state, batch)


@pytest.fixture(scope="session")
def tiny_system() -> TinySystem:
  return TinySystem()


@pytest.fixture
def kodak_dir() -> pathlib.Path:
  if not KODAK_DIR.is_dir() or not any(KODAK_DIR.glob("*.png")):
    pytest.skip("Kodak images not found at ../shared/data/kodak")
  return KODAK_DIR
