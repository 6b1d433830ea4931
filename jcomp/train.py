"""The one trainer: a jitted, data-parallel train step and the loop, for every system (`jcomp.systems`).

`train_step` updates all parameters of a system with one `optax.multi_transform`: each group the system
labels (ae / centers / context) has its own Adam, L2 weight decay and learning-rate schedule (staircase, or
cosine), and groups in `optim.freeze` are kept fixed. Data parallel: `jit` over a NamedSharding mesh (see
`jcomp.sharding`), several hosts through `jax.distributed`.

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
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jcomp import checkpoint, sharding, systems, zoo
from jcomp.config_lib import lookup
from jcomp.data import sources
from jcomp.models import surgery

Params = Any


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite."""


@flax.struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Params          # {'autoencoder': ..., 'context': ...} (code systems: {'context': ...})
  batch_stats: Params     # BatchNorm statistics of the autoencoder ({} without one)
  opt_state: optax.OptState


def param_labels(system, params: Params) -> Params:
  """The optimizer group of every parameter, as the system labels it."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: system.group(tuple(getattr(p, "key", str(p)) for p in path)), params)


def make_optimizer(config: ml_collections.ConfigDict, system) -> optax.GradientTransformation:
  o = config.optim
  frozen = systems.frozen_groups(config)

  def adam(lr: float, wd: float, group: str) -> optax.GradientTransformation:
    if group in frozen:
      return optax.set_to_zero()
    schedule = lambda step: lr_schedule(config, lr, step)
    return optax.chain(optax.add_decayed_weights(wd), optax.scale_by_adam(),
                       optax.scale_by_learning_rate(schedule))

  tx = optax.multi_transform(
      {"encoder": adam(o.ae_lr, o.ae_weight_decay, "encoder"), "decoder": adam(o.ae_lr, o.ae_weight_decay, "decoder"),
       "centers": adam(o.ae_lr, o.centers_weight_decay, "centers"),
       "context": adam(o.context_lr, o.context_weight_decay, "context")},
      functools.partial(param_labels, system))
  if o.grad_clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(o.grad_clip), tx)
  return tx


def lr_schedule(config: ml_collections.ConfigDict, lr: float, step) -> jnp.ndarray:
  """lr, ramped up linearly over the first warmup_steps (a fresh Adam on trained weights takes full-size steps
  at once: the warmup keeps a fine-tune from wrecking them), then either x lr_decay every lr_decay_steps
  (`optim.schedule = 'staircase'`) or cosine-decayed to lr x lr_decay at num_train_steps ('cosine')."""
  o = config.optim
  warmup = jnp.minimum(1.0, (step + 1) / max(o.warmup_steps, 1))
  return lr * warmup * lookup(SCHEDULES, "optim.schedule", o.schedule)(config, step)


def _staircase(config: ml_collections.ConfigDict, step) -> jnp.ndarray:
  return config.optim.lr_decay ** jnp.floor(step / config.optim.lr_decay_steps)


def _cosine(config: ml_collections.ConfigDict, step) -> jnp.ndarray:
  final, t = config.optim.lr_decay, jnp.minimum(step / max(config.num_train_steps, 1), 1.0)
  return final + (1 - final) * 0.5 * (1 + jnp.cos(jnp.pi * t))


SCHEDULES = {"staircase": _staircase, "cosine": _cosine}  # learning-rate factor at a step


def learning_rates(config: ml_collections.ConfigDict, step) -> dict[str, jnp.ndarray]:
  o = config.optim
  return {"lr_ae": lr_schedule(config, o.ae_lr, step), "lr_context": lr_schedule(config, o.context_lr, step)}


def create_train_state(system, tx, rng) -> TrainState:
  v = system.init(rng)
  return TrainState(step=jnp.zeros((), jnp.int32), params=v["params"], batch_stats=v["batch_stats"],
                    opt_state=tx.init(v["params"]))


def train_step(system, config: ml_collections.ConfigDict, tx, state: TrainState,
               batch: jnp.ndarray) -> tuple[TrainState, dict]:
  """One step on a global batch (uint8). Pure; jit it (see `jit_train_step`)."""
  grad_fn = jax.value_and_grad(functools.partial(system.loss, train=True, step=state.step), has_aux=True)
  (_, (m, new_stats)), grads = grad_fn(state.params, state.batch_stats, batch)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  m.update(learning_rates(config, state.step))
  m["grad_norm"] = optax.tree.norm(grads)
  return state.replace(step=state.step + 1, params=params, batch_stats=new_stats,
                       opt_state=opt_state), m


def eval_step(system, state: TrainState, batch: jnp.ndarray) -> dict:
  """Metrics with BatchNorm running averages on a batch (uint8)."""
  _, (m, _) = system.loss(state.params, state.batch_stats, batch, train=False)
  return m


def jit_train_step(system, config, tx, mesh):
  rep, data = sharding.replicated(mesh), sharding.batch_sharded(mesh)
  return jax.jit(functools.partial(train_step, system, config, tx), in_shardings=(rep, data),
                 out_shardings=(rep, rep), donate_argnums=0)


# ------------------------------------------------------------------------------------------------
# The imperative shell.
# ------------------------------------------------------------------------------------------------

def _validate(config: ml_collections.ConfigDict, system) -> None:
  if config.crop_size % 8:
    raise ValueError(f"crop_size must be a multiple of 8, got {config.crop_size}")
  if config.data.eval_crop_size % 8:
    raise ValueError(f"data.eval_crop_size must be a multiple of 8, got {config.data.eval_crop_size}")
  lookup(SCHEDULES, "optim.schedule", config.optim.schedule)
  system.validate()
  n = jax.device_count()
  if config.batch_size % n:
    raise ValueError(f"batch_size {config.batch_size} is not divisible by the {n} devices")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> TrainState:
  """Trains `config` in `workdir`, resuming from its latest checkpoint. Returns the final state."""
  started = time.time()
  sharding.initialize_distributed()
  system = systems.build(config)
  _validate(config, system)
  # ---- everything that can fail on bad input, before anything is written ----
  checkpoint.check_compatible(workdir, config)
  d = config.data
  train_data = sources.open_source(d.source, d.train_split, d.data_dir, d.manual_dir, d.get("code_shape"))
  eval_batch = sources.eval_images(
      sources.open_source(d.source, d.eval_split, d.data_dir, d.manual_dir, d.get("code_shape")),
      d.num_eval_images, d.eval_crop_size)
  batches = sources.TrainBatches(train_data, config.batch_size, config.crop_size, config.seed,
                                 jax.process_index(), jax.process_count(), cache=d.cache)
  # ---- model, optimizer, sharded state ----
  mesh = sharding.make_mesh()
  tx = make_optimizer(config, system)
  rep = sharding.replicated(mesh)
  init = jax.jit(functools.partial(create_train_state, system, tx), out_shardings=rep)
  rng = jax.random.PRNGKey(config.seed)
  abstract = jax.eval_shape(init, rng)
  mngr = checkpoint.manager(workdir, config.keep_checkpoints)
  resumed = mngr.latest_step()
  if resumed is not None:
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
    print(start_banner(config, workdir, abstract.params, int(state.step), resumed, jax.devices()), flush=True)
  step_fn = jit_train_step(system, config, tx, mesh)
  eval_fn = jax.jit(functools.partial(eval_step, system), in_shardings=(rep, None), out_shardings=rep)
  writer = _writer(workdir)
  it = batches.iterate(int(state.step))

  first_log = []  # (time, step) of the first log line: the ETA's rate leaves out the first step's compile

  def on_log(step, m, items_s):
    now = (time.time(), step)
    first_log[:] = first_log or [now]
    eta = eta_seconds(config.num_train_steps, first_log[0], now, items_s / config.batch_size)
    print(f"{system.log_line(step, m, items_s)} | eta {format_duration(eta)}", flush=True)
    _write_scalars(writer, step, {**m, "items_per_s": items_s}, "train")

  def on_eval(step, state):
    em = jax.device_get(eval_fn(state, eval_batch))
    if jax.process_index() == 0:
      print(system.eval_line(step, em), flush=True)
      _write_scalars(writer, step, em, "eval")

  limit = config.get("max_train_minutes", 0.0)
  deadline = started + 60.0 * limit if limit > 0 else None
  try:
    state = run_loop(config, state, mngr, lambda step: sharding.global_batch(next(it), mesh), step_fn,
                     on_log, on_eval, deadline=deadline)
  finally:
    if writer is not None:
      writer.close()
  finished = int(state.step) == config.num_train_steps or (deadline is not None and time.time() >= deadline)
  report = config.get("report")
  if report and report.images and finished and jax.process_index() == 0:  # not after a SIGTERM
    from jcomp.eval import rd  # pylint: disable=g-import-not-at-top
    print("\n".join(rd.report_trained_model(workdir, report.images, report.codecs, int(state.step))), flush=True)
  return state


def run_loop(config: ml_collections.ConfigDict, state, mngr, batch_at: Callable[[int], Any], step_fn,
             on_log: Callable[[int, dict, float], None], on_eval: Callable[[int, Any], None],
             deadline: float | None = None):
  """The training loop every jcomp system shares: steps, logging, eval, checkpoints, SIGTERM, NaN check.

  Runs `state, metrics = step_fn(state, batch_at(step))` from state.step + 1 to config.num_train_steps.
  Every `log_every_steps` (and at the end) the metrics are fetched, `metrics['loss']` must be finite
  (else TrainingDiverged, without saving), and process 0 calls `on_log(step, metrics, items_per_s)`;
  `on_eval(step, state)` every `eval_every_steps`; checkpoints every `checkpoint_every_steps`. SIGTERM
  saves at the next step (the same step on every process) and returns; so does passing `deadline` (a
  time.time() value, `config.max_train_minutes`). Closes `mngr`; returns the state.
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
      timed_out = deadline is not None and time.time() >= deadline
      stopping = _on_any_process(stop["signal"] is not None or timed_out)  # all stop at the same step
      if step % config.log_every_steps == 0 or last or stopping:
        m = jax.device_get(m)
        _check_finite(m["loss"], last_checked, step)
        last_checked = step
        items_s = (step - n0) * config.batch_size / max(time.time() - t0, 1e-9)
        t0, n0 = time.time(), step
        if jax.process_index() == 0:
          on_log(step, m, items_s)
      if step % config.eval_every_steps == 0 or last:
        on_eval(step, state)
      if step % config.checkpoint_every_steps == 0 or last or stopping:
        _check_finite(jax.device_get(m)["loss"], last_checked, step)
        checkpoint.save(mngr, step, state)
        if jax.process_index() == 0:
          print(f"checkpoint saved at step {step}", flush=True)
      if stopping:
        if jax.process_index() == 0:
          # A stop another process asked for is its SIGTERM (the only signal handled) unless the deadline passed.
          reason = ("reached max_train_minutes" if timed_out and stop["signal"] is None
                    else f"received signal {int(stop['signal'] or signal.SIGTERM)}")
          print(f"{reason}: saved step {step}, exiting", flush=True)
        break
  finally:
    signal.signal(signal.SIGTERM, previous)
    mngr.close()
  return state


def start_banner(config: ml_collections.ConfigDict, workdir: str, params, step: int, resumed: int | None,
                 devices) -> str:
  """What a run is about to do (printed once at its start): devices, parameter count per top-level group
  (`params`: arrays or ShapeDtypeStructs), steps, batch, and where it starts (a resumed step or init_from)."""
  count = lambda tree: sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree))
  groups = ", ".join(f"{k} {count(v):,}" for k, v in params.items()) if len(params) > 1 else ""
  kinds = ", ".join(sorted({d.device_kind for d in devices}))
  start = (f"resumed from step {resumed}" if resumed is not None else
           f"init_from {config.init_from}" if config.init_from else f"from scratch (seed {config.seed})")
  return "\n".join([
      f"training {config.system} in {workdir}",
      f"  devices     {len(devices)} x {kinds} ({jax.process_count()} process{'es' * (jax.process_count() > 1)})",
      f"  parameters  {count(params):,}" + (f" ({groups})" if groups else ""),
      f"  steps       {step} -> {config.num_train_steps} ({config.num_train_steps - step} to go)",
      f"  batch       {config.batch_size} ({config.batch_size // max(len(devices), 1)} per device) of "
      f"{config.crop_size}x{config.crop_size} crops",
      f"  start       {start}"])


def eta_seconds(total: int, first: tuple[float, int], now: tuple[float, int], steps_per_s: float) -> float:
  """Seconds from the (time, step) point `now` to step `total`, at the mean rate since the point `first`; at
  the first point itself, `steps_per_s` (its interval's rate, compile included). inf if there is no rate."""
  (t0, s0), (t1, s1) = first, now
  rate = (s1 - s0) / (t1 - t0) if s1 > s0 and t1 > t0 else steps_per_s
  return (total - s1) / rate if rate > 0 else math.inf


def format_duration(seconds: float) -> str:
  """Seconds -> 'H:MM:SS' ('-' if not finite)."""
  if not math.isfinite(seconds):
    return "-"
  m, s = divmod(int(round(max(seconds, 0))), 60)
  return f"{m // 60}:{m % 60:02d}:{s:02d}"


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
  """{'params', 'batch_stats'} (host arrays) of `source`: a workdir's latest checkpoint, a shipped model's name
  or an exported model directory (`config.init_from`: Li et al.'s stage 2, fine-tuning a zoo model)."""
  _, variables = zoo.load(source)
  return jax.tree_util.tree_map(np.asarray, variables)


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
