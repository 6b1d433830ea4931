"""Devices, mesh and multi-host setup: data parallelism with `jit` over a 1D NamedSharding mesh.

Parameters are replicated, batches are split along the batch axis over every device of every host; XLA
averages gradients (and BatchNorm statistics) across all of them. Hosts join through `jax.distributed`:
explicitly from JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID (the local launcher and tests),
or auto-detected on Slurm and Cloud TPU pods.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

_initialized = False


def initialize_distributed() -> None:
  """Calls `jax.distributed.initialize` once when the environment describes several processes."""
  global _initialized
  if _initialized:
    return
  env = os.environ
  if "JAX_COORDINATOR_ADDRESS" in env:
    jax.distributed.initialize(coordinator_address=env["JAX_COORDINATOR_ADDRESS"],
                               num_processes=int(env.get("JAX_NUM_PROCESSES", "1")),
                               process_id=int(env.get("JAX_PROCESS_ID", "0")))
  elif int(env.get("SLURM_NTASKS", "1")) > 1 or "TPU_WORKER_HOSTNAMES" in env or "MEGASCALE_COORDINATOR_ADDRESS" in env:
    jax.distributed.initialize()  # cluster auto-detection (Slurm, TPU pods)
  _initialized = True


def make_mesh() -> Mesh:
  """A 1D mesh ('data',) over all devices of all processes."""
  return Mesh(np.asarray(jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def global_batch(local_batch: np.ndarray, mesh: Mesh) -> jax.Array:
  """This host's slice of the global batch -> one global array sharded over the batch axis."""
  return jax.make_array_from_process_local_data(batch_sharded(mesh), local_batch)
