"""Checkpoints in a workdir (orbax `CheckpointManager`), the resolved config beside them, model identity.

  <workdir>/config.json            the config the run started with (written atomically)
  <workdir>/checkpoints/<step>/    orbax checkpoints of {step, params, batch_stats, opt_state}; last k kept

A workdir belongs to one model: restarting with a config whose `model`/`system` differ is refused (fields
such as num_train_steps or the learning rate may change between restarts).
"""

from __future__ import annotations

import hashlib
import json
import os

from typing import TYPE_CHECKING

import ml_collections
import numpy as np

if TYPE_CHECKING:
  # Imported where used: `jcomp compress` needs model_id, not Orbax (~0.5 s), and `jcomp.zoo`'s lookups
  # (config.json) run before JAX is imported.
  import orbax.checkpoint as ocp

from jcomp import output_files

CONFIG_FILE = "config.json"
MODEL_FIELDS = ("system", "model")


write_atomic = output_files.write_file  # the one atomic, durable writer (temporary file, fsync, rename)


class CheckpointError(ValueError):
  """A workdir or checkpoint that does not fit the request."""


def config_to_json(config: ml_collections.ConfigDict) -> str:
  return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=list)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise CheckpointError(f"{workdir!r} holds no {CONFIG_FILE} (not a jcomp workdir or model)")
  with open(path) as f:
    d = json.load(f)
  _tuples(d["model"]["context"], "kernel_size")
  return ml_collections.ConfigDict(d)


def _tuples(d: dict, key: str) -> None:
  if key in d and isinstance(d[key], list):
    d[key] = tuple(d[key])


def check_compatible(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Raises CheckpointError if `workdir` holds a run of a different model."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f)
  new = json.loads(config_to_json(config))
  diffs = []
  for field in MODEL_FIELDS:
    a, b = _flatten(old.get(field), field), _flatten(new.get(field), field)
    diffs += [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
  if diffs:
    raise CheckpointError(f"workdir {workdir!r} holds a checkpoint of a different config ("
                          + "; ".join(diffs[:4]) + "); use a new --workdir")


def _flatten(d, prefix: str) -> dict:
  if not isinstance(d, dict):
    return {prefix: d}
  out = {}
  for k, v in d.items():
    out.update(_flatten(v, f"{prefix}.{k}"))
  return out


def manager(workdir: str, keep: int) -> ocp.CheckpointManager:
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top,redefined-outer-name
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, "checkpoints")),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top,redefined-outer-name
  mngr.save(step, args=ocp.args.StandardSave(state), force=True)
  mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, abstract_state, step: int | None = None):
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top,redefined-outer-name
  step = mngr.latest_step() if step is None else step
  try:
    return mngr.restore(step, args=ocp.args.StandardRestore(abstract_state))
  except ValueError as e:
    if "tree structures do not match" not in str(e):
      raise
    raise CheckpointError(
        f"the checkpoint at step {step} holds a training state of another structure (e.g. the optimizer groups "
        "of an older jcomp: 'ae' before 'encoder'/'decoder'): resume it with the version that wrote it, or start "
        "a new workdir from its weights with --config.init_from=THAT_WORKDIR") from e


def load_variables(workdir: str) -> dict:
  """{'params', 'batch_stats'} of a workdir's latest checkpoint as host (NumPy) arrays, read from the saved
  tree alone: no model, optimizer or config needed. Raises CheckpointError if there is none."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top,redefined-outer-name
  mngr = manager(workdir, 1)
  try:
    step = mngr.latest_step()
    if step is None:
      raise CheckpointError(f"{workdir!r} holds no checkpoint")
    restored = mngr.restore(step, args=ocp.args.StandardRestore())
  finally:
    mngr.close()
  import jax  # pylint: disable=g-import-not-at-top
  return jax.tree_util.tree_map(np.asarray, {"params": restored["params"],
                                             "batch_stats": restored.get("batch_stats", {})})


def model_id(config: ml_collections.ConfigDict, variables) -> bytes:
  """16-byte identity of a model: SHA-256 of its model config and its weights (bytes, in tree order)."""
  import jax  # pylint: disable=g-import-not-at-top
  h = hashlib.sha256()
  h.update(json.dumps({k: config.to_dict()[k] for k in MODEL_FIELDS}, sort_keys=True, default=list).encode())
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
    h.update(jax.tree_util.keystr(path).encode())
    h.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
  return h.digest()[:16]
