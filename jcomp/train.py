"""Training of a compression autoencoder and its context model, concurrently (Mentzer et al. 2018, Sec. 3.5).

One jitted `train_step` updates E, D, the centers (eq. 20) and P (eq. 21) together. The two objectives are
one scalar with stop_gradients:

  loss = K_d d(x, x_hat) + beta max(H - t, 0)        H from P with *frozen* params (gradient to E, D, Q)
       + C                                           C from P with a *gradient-stopped input* (gradient to P)

H is the reference code's mean of the masked (eq. 19) and unmasked (eq. 13) bits per symbol. One
`optax.multi_transform` gives each labelled group (ae / centers / context) its own Adam, L2 weight decay and
staircase learning-rate schedule. Data parallel: `jit` over a NamedSharding mesh (see `jcomp.sharding`).

`train_and_evaluate` is the imperative shell: data, resume, loop, logging, eval, checkpoints, signals.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import signal
import time
from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jcomp import checkpoint, losses, sharding
from jcomp.data import sources
from jcomp.models import build_autoencoder, build_context_model, context_kwargs, surgery, to_volume
from jcomp.models.quantizer import quantizer_centers

Params = Any


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite."""


@flax.struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Params          # {'autoencoder': ..., 'context': ...}
  batch_stats: Params     # BatchNorm statistics of the autoencoder
  opt_state: optax.OptState


@flax.struct.dataclass
class Models:
  """The two networks of a system (static: Flax modules hold no state)."""
  autoencoder: nn.Module = flax.struct.field(pytree_node=False)
  context: nn.Module = flax.struct.field(pytree_node=False)


def build_models(config: ml_collections.ConfigDict) -> Models:
  return Models(build_autoencoder(config.model), build_context_model(config.model))


def param_labels(params: Params) -> Params:
  """'context' for P, 'centers' for the quantizer centers, 'ae' for everything else."""
  def label(path, _):
    keys = [getattr(p, "key", str(p)) for p in path]
    if keys[0] == "context":
      return "context"
    return "centers" if "centers" in keys else "ae"
  return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  o = config.optim

  def adam(lr: float, wd: float) -> optax.GradientTransformation:
    schedule = lambda step: lr_schedule(config, lr, step)
    return optax.chain(optax.add_decayed_weights(wd), optax.scale_by_adam(),
                       optax.scale_by_learning_rate(schedule))

  tx = optax.multi_transform(
      {"ae": adam(o.ae_lr, o.ae_weight_decay), "centers": adam(o.ae_lr, o.centers_weight_decay),
       "context": adam(o.context_lr, o.context_weight_decay)}, param_labels)
  if o.grad_clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(o.grad_clip), tx)
  return tx


def lr_schedule(config: ml_collections.ConfigDict, lr: float, step) -> jnp.ndarray:
  """lr x lr_decay every lr_decay_steps (staircase), ramped up linearly over the first warmup_steps (a fresh
  Adam on trained weights takes full-size steps at once: the warmup keeps a fine-tune from wrecking them)."""
  o = config.optim
  warmup = jnp.minimum(1.0, (step + 1) / max(o.get("warmup_steps", 0), 1))
  return lr * warmup * o.lr_decay ** jnp.floor(step / o.lr_decay_steps)


def learning_rates(config: ml_collections.ConfigDict, step) -> dict[str, jnp.ndarray]:
  o = config.optim
  return {"lr_ae": lr_schedule(config, o.ae_lr, step), "lr_context": lr_schedule(config, o.context_lr, step)}


def init_variables(models: Models, config: ml_collections.ConfigDict, rng: jax.Array) -> dict:
  """Fresh {'params', 'batch_stats'} for both networks (float32)."""
  s = config.crop_size
  x = jnp.zeros((1, s, s, 3), jnp.float32)
  k_ae, k_ctx = jax.random.split(rng)
  ae_vars = models.autoencoder.init(k_ae, x, train=False)
  K, h = config.model.num_channels, s // 8
  ctx_vars = models.context.init(k_ctx, jnp.zeros((1, K, h, h)), 0.0)
  return {"params": {"autoencoder": ae_vars["params"], "context": ctx_vars["params"]},
          "batch_stats": ae_vars.get("batch_stats", {})}


def create_train_state(models: Models, config: ml_collections.ConfigDict, tx, rng) -> TrainState:
  v = init_variables(models, config, rng)
  return TrainState(step=jnp.zeros((), jnp.int32), params=v["params"], batch_stats=v["batch_stats"],
                    opt_state=tx.init(v["params"]))


def forward(models: Models, config: ml_collections.ConfigDict, params: Params, batch_stats: Params,
            x: jnp.ndarray, train: bool, step=None):
  """The whole system on a batch x (B, H, W, 3) float32 in [0, 255].

  Returns (loss, (metrics, new_batch_stats)); metrics in bits per symbol (`bits_per_symbol`, `H`), bpp
  (`bpp_est` = MC K / 64: the kept symbols, what a file codes), MS-SSIM, PSNR (dB).
  """
  c = config
  ae_vars = {"params": params["autoencoder"], "batch_stats": batch_stats}
  if train:
    out, updates = models.autoencoder.apply(ae_vars, x, train=True, mutable=["batch_stats"])
    new_stats = updates["batch_stats"]
  else:
    out, new_stats = models.autoencoder.apply(ae_vars, x, train=False), batch_stats
  centers = quantizer_centers(params["autoencoder"].get("quant"), c.model.quantizer)
  pad = jax.lax.stop_gradient(centers[0])
  kw = context_kwargs(models.context, jax.lax.stop_gradient(centers))  # the GMM head's bins
  values, symbols, mask = (to_volume(out[k]) for k in ("values", "symbols", "mask"))
  # P learns on its own loss (eq. 21): gradient-stopped input.
  bits_p = losses.symbol_bits(
      models.context.apply({"params": params["context"]}, jax.lax.stop_gradient(values), pad, **kw), symbols)
  coding = losses.coding_cost(bits_p)
  # E, D, Q see P frozen (eq. 20).
  logits_ae = models.context.apply({"params": jax.lax.stop_gradient(params["context"])}, values, pad, **kw)
  if c.loss.get("soft_rate_gradient", False):
    bits_ae = losses.symbol_bits_soft_gradient(logits_ae, symbols, to_volume(out["latents"]),
                                               jax.lax.stop_gradient(centers), c.model.sigma)
  else:
    bits_ae = losses.symbol_bits(logits_ae, symbols)
  masked = losses.masked_coding_cost(bits_ae, mask)
  h_est = 0.5 * (masked + losses.coding_cost(bits_ae))
  dist, dm = losses.distortion(x, out["x_hat"], c.loss.distortion)
  beta = c.loss.beta
  if step is not None and c.loss.rate_warmup_steps > 0:
    beta = jnp.where(step >= c.loss.rate_warmup_steps, beta, 0.0)
  # The rate each importance map was designed with: Li et al.'s kept bits, Mentzer et al.'s coding cost.
  h_rate = losses.kept_bits(mask) if c.model.importance == "li" else h_est
  rate = losses.rate_term(h_rate, beta, c.loss.target_bits_per_symbol)
  loss = c.loss.distortion_weight * dist + rate + coding
  K = c.model.num_channels
  m = dict(loss=loss, distortion=dist, rate_term=rate, bits_per_symbol=coding, H=h_est,
           bpp_est=masked * K / 64.0, importance=jnp.mean(out["mask"]), **dm)
  return loss, (m, new_stats)


def train_step(models: Models, config: ml_collections.ConfigDict, tx, state: TrainState,
               batch: jnp.ndarray) -> tuple[TrainState, dict]:
  """One step on a global batch (B, S, S, 3) uint8. Pure; jit it (see `jit_train_step`)."""
  x = batch.astype(jnp.float32)
  grad_fn = jax.value_and_grad(
      functools.partial(forward, models, config, train=True, step=state.step), has_aux=True)
  (_, (m, new_stats)), grads = grad_fn(state.params, state.batch_stats, x)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  m.update(learning_rates(config, state.step))
  m["grad_norm"] = optax.tree.norm(grads)
  return state.replace(step=state.step + 1, params=params, batch_stats=new_stats,
                       opt_state=opt_state), m


def eval_step(models: Models, config: ml_collections.ConfigDict, state: TrainState,
              batch: jnp.ndarray) -> dict:
  """Metrics with BatchNorm running averages on a batch (B, S, S, 3) uint8."""
  _, (m, _) = forward(models, config, state.params, state.batch_stats, batch.astype(jnp.float32),
                      train=False)
  return m


def jit_train_step(models, config, tx, mesh):
  rep, data = sharding.replicated(mesh), sharding.batch_sharded(mesh)
  return jax.jit(functools.partial(train_step, models, config, tx), in_shardings=(rep, data),
                 out_shardings=(rep, rep), donate_argnums=0)


# ------------------------------------------------------------------------------------------------
# The imperative shell.
# ------------------------------------------------------------------------------------------------

def _validate(config: ml_collections.ConfigDict) -> None:
  if config.crop_size % 8:
    raise ValueError(f"crop_size must be a multiple of 8, got {config.crop_size}")
  if config.data.eval_crop_size % 8:
    raise ValueError(f"data.eval_crop_size must be a multiple of 8, got {config.data.eval_crop_size}")
  if config.loss.get("soft_rate_gradient", False) and config.model.quantizer != "centers":
    raise ValueError("loss.soft_rate_gradient needs model.quantizer='centers' (it differentiates the soft "
                     f"assignment to the learned centers), got {config.model.quantizer!r}")
  n = jax.device_count()
  if config.batch_size % n:
    raise ValueError(f"batch_size {config.batch_size} is not divisible by the {n} devices")


def _format(step: int, m: dict, img_s: float) -> str:
  return (f"step {step:7d} | {img_s:7.1f} img/s | loss {m['loss']:.4f} | bpp_est {m['bpp_est']:.3f} | "
          f"ms_ssim {m['ms_ssim']:.4f} | psnr {m['psnr']:.2f} | H {m['H']:.3f} | "
          f"imp {m['importance']:.2f} | lr {m['lr_ae']:.1e}")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> TrainState:
  """Trains `config` in `workdir`, resuming from its latest checkpoint. Returns the final state."""
  if config.system == "progressive": from jcomp import progressive_train; return progressive_train.train_and_evaluate(config, workdir)
  sharding.initialize_distributed()
  _validate(config)
  # ---- everything that can fail on bad input, before anything is written ----
  checkpoint.check_compatible(workdir, config)
  d = config.data
  train_images = sources.open_source(d.source, d.train_split, d.data_dir, d.get("manual_dir", ""))
  eval_images = sources.eval_images(
      sources.open_source(d.source, d.eval_split, d.data_dir, d.get("manual_dir", "")),
      d.num_eval_images, d.eval_crop_size)
  batches = sources.TrainBatches(train_images, config.batch_size, config.crop_size, config.seed,
                                 jax.process_index(), jax.process_count(), cache=d.cache)
  # ---- model, optimizer, sharded state ----
  mesh = sharding.make_mesh()
  models = build_models(config)
  tx = make_optimizer(config)
  rep = sharding.replicated(mesh)
  init = jax.jit(functools.partial(create_train_state, models, config, tx), out_shardings=rep)
  rng = jax.random.PRNGKey(config.seed)
  abstract = jax.eval_shape(init, rng)
  mngr = checkpoint.manager(workdir, config.keep_checkpoints)
  if mngr.latest_step() is not None:
    state = checkpoint.restore(mngr, _sharded_abstract(abstract, rep))
    logging.info("resumed from step %d", int(state.step))
  else:
    state = init(rng)
    if config.init_from:
      loaded = load_variables(config.init_from)
      # K may grow (32 -> 64) and L be refined (6 -> 11); a no-op when the shapes match.
      loaded["params"] = surgery.grow(loaded["params"], jax.device_get(state.params))
      state = state.replace(params=merge_variables(state.params, loaded["params"]),
                            batch_stats=merge_variables(state.batch_stats, loaded["batch_stats"]))
  if jax.process_index() == 0:
    checkpoint.write_atomic(os.path.join(workdir, checkpoint.CONFIG_FILE),
                            checkpoint.config_to_json(config).encode())
  step_fn = jit_train_step(models, config, tx, mesh)
  eval_fn = jax.jit(functools.partial(eval_step, models, config), in_shardings=(rep, None),
                    out_shardings=rep)
  writer = _writer(workdir)
  it = batches.iterate(int(state.step))

  def on_log(step, m, img_s):
    print(_format(step, m, img_s), flush=True)
    _write_scalars(writer, step, {**m, "img_per_s": img_s}, "train")

  def on_eval(step, state):
    em = jax.device_get(eval_fn(state, eval_images))
    if jax.process_index() == 0:
      print(f"eval  {step:7d} | bpp_est {em['bpp_est']:.3f} | ms_ssim {em['ms_ssim']:.4f} | "
            f"psnr {em['psnr']:.2f} | imp {em['importance']:.2f}", flush=True)
      _write_scalars(writer, step, em, "eval")

  try:
    return run_loop(config, state, mngr, lambda step: sharding.global_batch(next(it), mesh), step_fn,
                    on_log, on_eval)
  finally:
    if writer is not None:
      writer.close()


def run_loop(config: ml_collections.ConfigDict, state, mngr, batch_at: Callable[[int], Any], step_fn,
             on_log: Callable[[int, dict, float], None], on_eval: Callable[[int, Any], None],
             loss_key: str = "loss"):
  """The training loop every jcomp system shares: steps, logging, eval, checkpoints, SIGTERM, NaN check.

  Runs `state, metrics = step_fn(state, batch_at(step))` from state.step + 1 to config.num_train_steps.
  Every `log_every_steps` (and at the end) the metrics are fetched, `metrics[loss_key]` must be finite
  (else TrainingDiverged, without saving), and process 0 calls `on_log(step, metrics, items_per_s)`;
  `on_eval(step, state)` every `eval_every_steps`; checkpoints every `checkpoint_every_steps`. SIGTERM
  saves at the next step (the same step on every process) and returns. Closes `mngr`; returns the state.
  """
  stop = {"signal": None}
  previous = signal.signal(signal.SIGTERM, lambda s, f: stop.update(signal=s))
  start = int(state.step)
  last_checked = start
  t0, n0 = time.time(), start
  try:
    for step in range(start + 1, config.num_train_steps + 1):
      state, m = step_fn(state, batch_at(step))
      last = step == config.num_train_steps
      stopping = _on_any_process(stop["signal"] is not None)  # all processes stop at the same step
      if step % config.log_every_steps == 0 or last or stopping:
        m = jax.device_get(m)
        _check_finite(m[loss_key], last_checked, step)
        last_checked = step
        items_s = (step - n0) * config.batch_size / max(time.time() - t0, 1e-9)
        t0, n0 = time.time(), step
        if jax.process_index() == 0:
          on_log(step, m, items_s)
      if step % config.eval_every_steps == 0 or last:
        on_eval(step, state)
      if step % config.checkpoint_every_steps == 0 or last or stopping:
        _check_finite(jax.device_get(m)[loss_key], last_checked, step)
        checkpoint.save(mngr, step, state)
      if stopping:
        if jax.process_index() == 0:
          print(f"received signal {int(signal.SIGTERM)}: saved step {step}, exiting", flush=True)
        break
  finally:
    signal.signal(signal.SIGTERM, previous)
    mngr.close()
  return state


def _on_any_process(flag: bool) -> bool:
  """`flag` of any process, on every process: SIGTERM reaches the processes at different steps, and one that
  stopped alone would leave the others waiting in a collective."""
  if jax.process_count() == 1:
    return flag
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def _check_finite(loss, since: int, step: int) -> None:
  if not math.isfinite(float(loss)):
    raise TrainingDiverged(f"loss is {float(loss)} at a step in ({since}, {step}]; stopped without "
                           "saving: the last checkpoint is the last good state")


def _sharded_abstract(abstract, sharding_):
  return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding_),
                                abstract)


def load_variables(source: str) -> dict:
  """{'params', 'batch_stats'} (host arrays) of the latest checkpoint in workdir `source`, restored with the
  source's own config (so it may differ from the current one: `config.init_from`, Li et al.'s stage 2).
  `source` may also be a shipped model's name or an exported model directory (fine-tuning a zoo model)."""
  from jcomp import zoo  # pylint: disable=g-import-not-at-top (zoo imports train lazily too)
  if not os.path.isdir(source) or os.path.exists(os.path.join(source, zoo.WEIGHTS_FILE)):
    _, variables = zoo.load(source)
    return jax.tree_util.tree_map(np.asarray, variables)
  config = checkpoint.load_config(source)
  models = build_models(config)
  tx = make_optimizer(config)
  abstract = jax.eval_shape(lambda r: create_train_state(models, config, tx, r), jax.random.PRNGKey(0))
  mngr = checkpoint.manager(source, 1)
  if mngr.latest_step() is None:
    raise checkpoint.CheckpointError(f"{source!r} holds no checkpoint to initialise from")
  restored = checkpoint.restore(mngr, abstract)
  mngr.close()
  return {"params": restored.params, "batch_stats": restored.batch_stats}


def merge_variables(target, source):
  """`target` with every leaf that `source` has at the same path and shape replaced by source's."""
  if isinstance(target, dict):
    return {k: merge_variables(v, source[k]) if isinstance(source, dict) and k in source else v
            for k, v in target.items()}
  if getattr(source, "shape", None) == getattr(target, "shape", ()) and hasattr(source, "shape"):
    value = np.asarray(source, target.dtype)
    return jax.device_put(value, target.sharding) if hasattr(target, "sharding") else value
  return target


def _writer(workdir: str):
  if jax.process_index() != 0:
    return None
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  return SummaryWriter(os.path.join(workdir, "tensorboard"))


def _write_scalars(writer, step: int, m: dict, prefix: str) -> None:
  if writer is None:
    return
  for k, v in m.items():
    if np.ndim(v) == 0:
      writer.add_scalar(f"{prefix}/{k}", float(v), step)
  writer.flush()
