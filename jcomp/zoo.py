"""Trained models by name: export from a workdir, load by name or path, list with their model cards.

A model directory holds `config.json`, `weights.npz` (params and BatchNorm statistics, float16 or float32,
keys are '/'-joined tree paths) and `card.md`. Shipped models live in `jcomp/pretrained/<name>/` inside the package
(names `<system>-<rate>`, as CompressAI's zoo); any workdir of `jcomp.main` loads too (latest checkpoint).
Lookups (`names`, `card`, `resolve`, `config_json`) import no JAX, so the CLI can check a file against a model's
config before it pays for JAX; loading and exporting import it when called.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

from typing import TYPE_CHECKING

import numpy as np

from jcomp import checkpoint  # imports no JAX at load time

if TYPE_CHECKING:
  import ml_collections


ZOO_DIR = os.path.join(os.path.dirname(__file__), "pretrained")
WEIGHTS_FILE = "weights.npz"
INTEGER_FILE = "integer_context.npz"  # the context model's integer version (`jcomp.models.integer`), optional


class ModelNotFound(ValueError):
  pass


def _flatten(tree, prefix=()) -> dict[str, np.ndarray]:
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(_flatten(v, prefix + (k,)))
    else:
      out["/".join(prefix + (k,))] = np.asarray(v)
  return out


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
  out: dict = {}
  for key, v in flat.items():
    node = out
    *parents, leaf = key.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = v
  return out


def variables_from_workdir(workdir: str) -> tuple[ml_collections.ConfigDict, dict, int]:
  """(config, {'params', 'batch_stats'} as float32 NumPy trees, step) of a workdir's latest checkpoint."""
  import jax  # pylint: disable=g-import-not-at-top
  config = checkpoint.load_config(workdir)
  mngr = checkpoint.manager(workdir, 1)
  step = mngr.latest_step()
  mngr.close()
  if step is None:
    raise ModelNotFound(f"workdir {workdir!r} holds no checkpoint")
  v = checkpoint.load_variables(workdir)
  return config, jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), v), int(step)


def export(workdir: str, out_dir: str, dtype: str = "float16", card: str = "") -> str:
  """Writes config.json, weights.npz (in `dtype`) and card.md of a workdir's latest checkpoint."""
  config, variables, step = variables_from_workdir(workdir)
  return save(config, variables, out_dir, dtype, card or f"Exported from step {step}.\n")


def save(config: ml_collections.ConfigDict, variables: dict, out_dir: str, dtype: str = "float16",
         card: str = "") -> str:
  """Writes a model directory: config.json, weights.npz (in `dtype`), card.md."""
  flat = {k: v.astype(dtype) for k, v in _flatten(variables).items()}
  buf = io.BytesIO()
  np.savez(buf, **flat)
  os.makedirs(out_dir, exist_ok=True)
  checkpoint.write_atomic(os.path.join(out_dir, WEIGHTS_FILE), buf.getvalue())
  checkpoint.write_atomic(os.path.join(out_dir, checkpoint.CONFIG_FILE),
                          checkpoint.config_to_json(config).encode())
  checkpoint.write_atomic(os.path.join(out_dir, "card.md"),
                          (card or "A jcomp model.\n").encode())
  return out_dir


def resolve(spec: str) -> str:
  """A model name of the zoo, a model directory or a workdir -> its directory."""
  if os.path.isdir(os.path.join(ZOO_DIR, spec)):
    return os.path.join(ZOO_DIR, spec)
  if os.path.isdir(spec) and os.path.exists(os.path.join(spec, checkpoint.CONFIG_FILE)):
    return spec
  raise ModelNotFound(f"unknown model {spec!r}: not a zoo name ({', '.join(names()) or 'none shipped'}) "
                      "nor a workdir/model directory with config.json")


def load(spec: str) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
  """(config, {'params', 'batch_stats'} float32) of a zoo name, model directory or workdir."""
  import jax  # pylint: disable=g-import-not-at-top
  path = resolve(spec)
  weights = os.path.join(path, WEIGHTS_FILE)
  if os.path.exists(weights):
    with np.load(weights) as f:
      flat = {k: jax.device_put(np.asarray(f[k], np.float32)) for k in f.files}  # cast on the host: no XLA op
    return checkpoint.load_config(path), _unflatten(flat)
  config, variables, _ = variables_from_workdir(path)
  return config, jax.device_put(variables)


def config_json(spec: str) -> dict:
  """The config of a zoo name, model directory or workdir as stored (config.json, a plain dict)."""
  with open(os.path.join(resolve(spec), checkpoint.CONFIG_FILE)) as f:
    return json.load(f)


def load_integer(spec: str):
  """The integer context model (`jcomp.models.integer.IntegerContextModel`) stored beside a model's weights
  (`INTEGER_FILE`, written by `jcomp quantize-context`), or None if it has none."""
  from jcomp.models import integer
  path = os.path.join(resolve(spec), INTEGER_FILE)
  if not os.path.exists(path):
    return None
  with open(path, "rb") as f:
    return integer.IntegerContextModel.from_bytes(f.read())


def names() -> list[str]:
  if not os.path.isdir(ZOO_DIR):
    return []
  return sorted(d for d in os.listdir(ZOO_DIR) if os.path.exists(os.path.join(ZOO_DIR, d, WEIGHTS_FILE)))


def card(name: str) -> dict:
  """The zoo entry's `card.json` (name, target rate, Kodak bpp and MS-SSIM, ...), {} if absent."""
  path = os.path.join(ZOO_DIR, name, "card.json")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)
