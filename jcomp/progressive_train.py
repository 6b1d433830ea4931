"""Training of the `progressive` binary-code entropy model (SPEC §4), reached through `jcomp.main`.

  python -m jcomp.main --config=configs/progressive_synthetic.py --workdir=DIR

`jcomp.train.train_and_evaluate` hands configs with `system = "progressive"` to `train_and_evaluate` here.
Same shape as `jcomp.train`: a pure jitted `train_step` minimising the mean cross-entropy (bits per bit) of
all coded bits, orbax checkpoints through `jcomp.checkpoint` (resume from the latest; a workdir of another
model is refused), console progress, held-out evaluation against a per-layer zeroth-order model, a NaN
check before every save, SIGTERM saves and exits.

Data (`progressive.data.source`): 'synthetic' draws `jcomp.data.synthetic_codes.generate` samples in memory
(example k of the run is seed TRAIN_SEED_BASE + 10**9 * config.seed + k, so resuming at step s sees the
same data; held-out: seeds 0 .. num_eval - 1, what `python -m jcomp.data.synthetic_codes --count=16` writes);
a folder reads every .npz (key `codes`, (H, W, D) in {0, 1}, D = layers x layer_depth, e.g. the symbols of a
binarized jcomp model), holds out the last `num_eval` files and trains on random (height, width) crops.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jcomp import checkpoint
from jcomp.data import synthetic_codes
from jcomp.models import progressive

Params = Any
MODEL_KEYS = ("layer_depth", "layer_count", "features", "cond_layers", "num_residual_units", "kernel_size",
              "dtype")


@flax.struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Params
  opt_state: optax.OptState


def learning_rate(config: ml_collections.ConfigDict) -> optax.Schedule:
  """Cosine decay from `progressive.lr` to lr * lr_final_fraction over num_train_steps (0-based step)."""
  p = config.progressive
  return optax.cosine_decay_schedule(p.lr, max(config.num_train_steps, 1), p.lr_final_fraction)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  p = config.progressive
  tx = optax.adam(learning_rate(config))
  if p.grad_clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(p.grad_clip), tx)
  return tx


def create_train_state(model: progressive.ProgressiveModel, config: ml_collections.ConfigDict, tx,
                       rng: jax.Array) -> TrainState:
  p = config.progressive
  x = jnp.zeros((1, p.data.height, p.data.width, p.layer_count * p.layer_depth), jnp.float32)
  params = model.init(rng, x, jnp.zeros((1,), jnp.int32))["params"]
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def abstract_state(model: progressive.ProgressiveModel, config: ml_collections.ConfigDict) -> TrainState:
  """Shapes and dtypes of a TrainState (for restoring a checkpoint)."""
  tx = make_optimizer(config)
  return jax.eval_shape(functools.partial(create_train_state, model, config, tx), jax.random.PRNGKey(0))


def metrics(model: progressive.ProgressiveModel, params: Params, bits: jnp.ndarray) -> dict:
  """Cross-entropy of codes bits (B, H, W, n * K) in {0, 1}: `bits_per_bit` (mean, the loss) and
  `layer_bits_per_bit` (n,), both in bits per coded bit."""
  k = model.layer_depth
  n = bits.shape[-1] // k
  z = progressive.all_logits(model, params, progressive.to_model_input(bits, model.layer_count, k), n)
  b = progressive.bits_per_bit(z, bits)
  per_layer = b.reshape(*b.shape[:-1], n, k).mean(axis=(0, 1, 2, 4))
  return {"bits_per_bit": jnp.mean(b), "layer_bits_per_bit": per_layer}


def train_step(model, tx, state: TrainState, bits: jnp.ndarray) -> tuple[TrainState, dict]:
  """One Adam step on a batch of codes (B, H, W, n * K) uint8 in {0, 1}. Pure; jit it."""
  def loss_fn(params):
    m = metrics(model, params, bits)
    return m["bits_per_bit"], m
  (_, m), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  m["grad_norm"] = optax.tree.norm(grads)
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), m


def zeroth_order_bits(bits: np.ndarray, layer_depth: int) -> np.ndarray:
  """(n,) bits per bit of a per-layer zeroth-order model: the binary entropy of each layer's frequency of
  ones over `bits` (..., n * K) itself (an oracle baseline: it ignores the cost of sending the frequency)."""
  n = bits.shape[-1] // layer_depth
  p = np.asarray(bits, np.float64).reshape(-1, n, layer_depth).mean(axis=(0, 2))
  with np.errstate(divide="ignore", invalid="ignore"):
    h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
  return np.nan_to_num(h)


# ------------------------------------------------------------------------------------------------
# Data.
# ------------------------------------------------------------------------------------------------

def load_codes(path: str) -> np.ndarray:
  """Codes (H, W, D) uint8 in {0, 1} from an .npz (key `codes`; a leading batch axis of 1 is dropped)."""
  with np.load(path) as f:
    if "codes" not in f:
      raise ValueError(f"{path!r} has no array 'codes' (keys: {sorted(f.keys())})")
    codes = np.asarray(f["codes"])
  if codes.ndim == 4 and codes.shape[0] == 1:
    codes = codes[0]
  if codes.ndim != 3:
    raise ValueError(f"{path!r}: codes must have shape (H, W, D), got {codes.shape}")
  if codes.dtype.kind not in "biu" or (codes.size and (codes.min() < 0 or codes.max() > 1)):
    raise ValueError(f"{path!r}: codes must be integers in {{0, 1}}")
  return codes.astype(np.uint8)


def split_layers(codes: np.ndarray, config: ml_collections.ConfigDict) -> np.ndarray:
  """The coded part of codes (..., D): the first n layers (`progressive.coded_layers`), (..., n * K)."""
  p = config.progressive
  if codes.shape[-1] % p.layer_depth:
    raise ValueError(f"code depth D = {codes.shape[-1]} is not a multiple of layer_depth = {p.layer_depth}")
  n = progressive.coded_layers(p, codes.shape[-1] // p.layer_depth)
  return codes[..., :n * p.layer_depth]


class _Batches:
  """Training batches (B, height, width, n * K) uint8, a pure function of (config, step)."""

  def __init__(self, config: ml_collections.ConfigDict):
    self._c = config
    d = config.progressive.data
    self._files = None
    if d.source != "synthetic":
      files = sorted(glob.glob(os.path.join(d.source, "*.npz")))
      if len(files) <= d.num_eval:
        raise ValueError(f"{d.source!r} holds {len(files)} .npz files; need more than num_eval = "
                         f"{d.num_eval}")
      self._codes = [split_layers(load_codes(f), config) for f in files[:len(files) - d.num_eval]]
      self._eval = [split_layers(load_codes(f), config) for f in files[len(files) - d.num_eval:]]
      for c in self._codes:
        if c.shape[0] < d.height or c.shape[1] < d.width:
          raise ValueError(f"a code of shape {c.shape} is smaller than the crop ({d.height}, {d.width})")
        if c.shape[-1] != self._codes[0].shape[-1]:
          raise ValueError("all codes of the folder must have the same depth D")

  def eval_codes(self) -> list[np.ndarray]:
    d = self._c.progressive.data
    if d.source == "synthetic":
      p = self._c.progressive
      return [split_layers(synthetic_codes.generate(i, d.height, d.width, p.layer_depth, d.layers), self._c)
              for i in range(d.num_eval)]
    return self._eval

  def batch(self, step: int) -> np.ndarray:
    """The batch of step `step` (1-based)."""
    c, d = self._c, self._c.progressive.data
    first = (step - 1) * c.batch_size
    if d.source == "synthetic":
      base = synthetic_codes.TRAIN_SEED_BASE + 10**9 * c.seed + first
      codes = synthetic_codes.generate_batch(range(base, base + c.batch_size), d.height, d.width,
                                             c.progressive.layer_depth, d.layers)
      return split_layers(codes, c)
    rng = np.random.default_rng([c.seed, step])
    out = []
    for i in rng.integers(0, len(self._codes), c.batch_size):
      code = self._codes[i]
      y = rng.integers(0, code.shape[0] - d.height + 1)
      x = rng.integers(0, code.shape[1] - d.width + 1)
      out.append(code[y:y + d.height, x:x + d.width])
    return np.stack(out)


# ------------------------------------------------------------------------------------------------
# The imperative shell.
# ------------------------------------------------------------------------------------------------

def check_compatible(workdir: str, config: ml_collections.ConfigDict) -> None:
  """`checkpoint.check_compatible` plus the `progressive` model fields (MODEL_KEYS)."""
  checkpoint.check_compatible(workdir, config)
  path = os.path.join(workdir, checkpoint.CONFIG_FILE)
  if not os.path.exists(path):
    return
  old = checkpoint.load_config(workdir).get("progressive", {})
  diffs = [f"progressive.{k}: {old.get(k)!r} -> {config.progressive[k]!r}" for k in MODEL_KEYS
           if old.get(k) != config.progressive[k]]
  if diffs:
    raise checkpoint.CheckpointError(f"workdir {workdir!r} holds a checkpoint of a different config ("
                                     + "; ".join(diffs[:4]) + "); use a new --workdir")


def _format(step: int, m: dict, codes_s: float, lr: float) -> str:
  layers = " ".join(f"{v:.3f}" for v in np.asarray(m["layer_bits_per_bit"]))
  return (f"step {step:7d} | {codes_s:7.1f} codes/s | bits/bit {float(m['bits_per_bit']):.4f} | "
          f"layers {layers} | lr {lr:.1e}")


def evaluate(model, params, eval_fn, codes: list[np.ndarray]) -> dict:
  """Mean bits/bit (total and per layer) of the model and of the zeroth-order oracle on held-out codes."""
  ms = [jax.device_get(eval_fn(params, c[None])) for c in codes]
  per_layer = np.mean([m["layer_bits_per_bit"] for m in ms], axis=0)
  zeroth = zeroth_order_bits(np.concatenate([c.reshape(-1, c.shape[-1]) for c in codes]), model.layer_depth)
  return {"bits_per_bit": float(np.mean(per_layer)), "layer_bits_per_bit": per_layer,
          "zeroth_order_bits_per_bit": float(np.mean(zeroth)), "zeroth_order_layers": zeroth}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> TrainState:
  """Trains the progressive model of `config` in `workdir`, resuming from its latest checkpoint."""
  from jcomp import train  # pylint: disable=g-import-not-at-top (train imports us)
  p = config.progressive
  # ---- everything that can fail on bad input, before anything is written ----
  check_compatible(workdir, config)
  model = progressive.build(p)
  batches = _Batches(config)
  eval_codes = batches.eval_codes()
  tx = make_optimizer(config)
  mngr = checkpoint.manager(workdir, config.keep_checkpoints)
  if mngr.latest_step() is not None:
    state = checkpoint.restore(mngr, abstract_state(model, config))
    logging.info("resumed from step %d", int(state.step))
  else:
    state = jax.jit(functools.partial(create_train_state, model, config, tx))(
        jax.random.PRNGKey(config.seed))
  checkpoint.write_atomic(os.path.join(workdir, checkpoint.CONFIG_FILE),
                          checkpoint.config_to_json(config).encode())
  step_fn = jax.jit(functools.partial(train_step, model, tx), donate_argnums=0)
  eval_fn = jax.jit(functools.partial(metrics, model))
  lr_fn = learning_rate(config)

  def on_log(step, m, codes_s):
    print(_format(step, m, codes_s, float(lr_fn(step - 1))), flush=True)

  def on_eval(step, state):
    e = evaluate(model, state.params, eval_fn, eval_codes)
    layers = " ".join(f"{v:.3f}" for v in e["layer_bits_per_bit"])
    zeroth = " ".join(f"{v:.3f}" for v in e["zeroth_order_layers"])
    print(f"eval  {step:7d} | bits/bit {e['bits_per_bit']:.4f} (layers {layers}) | zeroth-order "
          f"{e['zeroth_order_bits_per_bit']:.4f} (layers {zeroth}) | {len(eval_codes)} held-out codes",
          flush=True)

  return train.run_loop(config, state, mngr, batches.batch, step_fn, on_log, on_eval,
                        loss_key="bits_per_bit")


