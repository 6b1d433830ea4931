"""One accelerator for MINUTES minutes: continue training every shipped model at once, keep those that improved.

  launch/refresh_zoo.sh MINUTES OUT [NAME...]      (= python -m jcomp.zoo_refresh MINUTES OUT [NAME...] [flags])

Models: NAMEs, or every shipped model (`--zoo`, default `jcomp/pretrained/`) that has a recipe in
`configs/zoo.py`. Each trains in a worker process of its own, all at once on the one accelerator (each with an
equal share of its memory), in `--work`/NAME/run:

  config  the last stage of the model's recipe (`configs/zoo.py`: its loss, batch, crops, optimizer groups)
          from the shipped weights (`init_from`), at the learning rates that stage *ended* with, held constant
          after a 20-step warmup (the shipped models carry no Adam state; restarting at the stage's initial rates
          would first undo its annealing); `--lr=stage` keeps the stage's own schedule from its start instead.
          It runs until the training deadline (`max_train_minutes`), with the trainer's periodic eval on the
          first `data.num_eval_images` ImageNetTest crops every 500 steps. `--set [NAME:]FIELD=VALUE` changes
          any field (of one model with NAME:), but not the model itself.
  eval    before training, the shipped weights; after it, the continued ones as exported (float16): the same
          function on the same ImageNetTest crops (the last 10 % of the data's images, the last 100 of the
          ImageNet sample; `--eval_images` center crops of `data.eval_crop_size`), with the recipe's own loss
          K_d d + beta max(H - t, 0) + C (its distortion: MS-SSIM or MSE) in inference mode, as means over
          batches of `--eval_batch` crops.
  export  a model whose loss fell by more than `--min_gain` (relative) becomes a model directory ready to
          commit: the shipped config.json (the recipe's last stage, unchanged: the refresh is not a recipe
          stage), float16 weights, card.json (new model id, steps and images added, a "refreshes" entry with
          both evaluations and the command that reproduces it), card.md (a "Refresh" section), train.log (the
          refresh's lines appended).

Files: OUT receives only summary.json, summary.md and the improved model directories packed into tar files
(members NAME/..., no compression), at most `--max_file_mib` MiB each (two 6.6 MB models a file) and
`--max_files` files in all: a device run returns 8 files of 16 MiB. Models that do not fit stay (listed) in
--work/NAME/model. Unpack with `tar -xf OUT/models-1.tar -C jcomp/pretrained`. OUT must be new or empty.
--work keeps the workdirs, per-model logs (NAME.log) and results: re-running continues the same runs.
Time: training stops `--reserve_minutes` before the MINUTES (from the start of the command) are up, for the
final eval, export and packing; a worker still running at MINUTES is stopped and reported as failed.
Progress: every `--progress_seconds`, each model's last log line. Bad input: one-line error, exit status 1;
exit status 1 too if a model's worker failed (the others are still evaluated and exported).
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import time
from typing import Any, Sequence

import jax
import ml_collections
import numpy as np

from jcomp import checkpoint, systems, train, zoo
from jcomp.data import sources

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES_FILE = os.path.join(REPO_ROOT, "configs", "zoo.py")
# Loop settings of a refresh, over the recipe's (a GPU runs many more steps than the CPU fine-tunes logged).
REFRESH = {"log_every_steps": 50, "eval_every_steps": 500, "checkpoint_every_steps": 1000, "keep_checkpoints": 1}
WARMUP_STEPS = 20        # at least: a fresh Adam on trained weights
UNTIL_DEADLINE = 10**9   # num_train_steps (and, for --lr=end, lr_decay_steps) when the clock ends the run
MIB = 1 << 20
SUMMARY_FILES = ("summary.json", "summary.md")
CARD_FILES = ("card.json", "card.md", "train.log")
# card.json fields measured with real files on the weights before a refresh (re-measure with `jcomp eval`).
MEASURED_BEFORE = ("kodak_bpp", "kodak_bpp_est", "kodak_ms_ssim", "kodak_psnr", "imagenettest")


class RefreshError(ValueError):
  """Bad input: printed as one line, exit status 1."""


# ------------------------------------------------------------------------------------------------
# Planning (pure).
# ------------------------------------------------------------------------------------------------

def load_recipes(path: str = RECIPES_FILE):
  """The recipes module (`configs/zoo.py`: RECIPES, get_config, DATA)."""
  if not os.path.isfile(path):
    raise RefreshError(f"recipes file {path!r} not found")
  spec = importlib.util.spec_from_file_location("zoo_recipes", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def shipped_names(zoo_dir: str, recipes) -> list[str]:
  """The models of `zoo_dir` (a weights file) that have a recipe, sorted."""
  if not os.path.isdir(zoo_dir):
    return []
  return sorted(n for n in os.listdir(zoo_dir)
                if n in recipes.RECIPES and os.path.exists(os.path.join(zoo_dir, n, zoo.WEIGHTS_FILE)))


def select_models(requested: Sequence[str], zoo_dir: str, recipes) -> list[str]:
  """`requested` (deduplicated, in order) or every shipped model with a recipe; RefreshError if one is not."""
  available = shipped_names(zoo_dir, recipes)
  names = list(dict.fromkeys(requested)) or available
  unknown = [n for n in names if n not in available]
  if unknown:
    raise RefreshError(f"not a shipped model with a recipe in {zoo_dir}: {', '.join(unknown)} (choose from "
                       f"{', '.join(available) or 'none'})")
  if not names:
    raise RefreshError(f"no shipped model with a recipe in {zoo_dir}")
  return names


def parse_sets(items: Sequence[str], names: Sequence[str]) -> list[tuple[str | None, str, Any]]:
  """'[NAME:]FIELD=VALUE' -> (NAME or None, FIELD, VALUE as a Python literal, else the string)."""
  out = []
  for item in items:
    target, field = None, item
    head, sep, rest = item.partition(":")
    if sep and "=" not in head:
      target, field = head, rest
      if target not in names:
        raise RefreshError(f"--set {item!r}: {target!r} is not one of the models refreshed ({', '.join(names)})")
    key, sep, text = field.partition("=")
    if not sep or not key:
      raise RefreshError(f"--set {item!r}: expected [NAME:]FIELD=VALUE")
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    out.append((target, key, value))
  return out


def set_field(c: ml_collections.ConfigDict, dotted: str, value: Any) -> None:
  """c.<dotted> = value; RefreshError for a field config_lib.base() lacks or a value of another type."""
  *parents, leaf = dotted.split(".")
  node = c
  for p in parents:
    if p not in node or not isinstance(node[p], ml_collections.ConfigDict):
      raise RefreshError(f"config has no field {dotted!r}")
    node = node[p]
  if leaf not in node or isinstance(node[leaf], ml_collections.ConfigDict):
    raise RefreshError(f"config has no field {dotted!r}")
  try:
    node[leaf] = value
  except TypeError as e:
    raise RefreshError(f"config field {dotted!r}: {e}") from e


def final_lr_factor(config: ml_collections.ConfigDict) -> float:
  """The schedule's factor at the stage's last step (`train.SCHEDULES`, warmup over)."""
  schedule = train.SCHEDULES[config.optim.schedule]
  return float(schedule(config, max(config.num_train_steps - 1, 0)))


def recipe_config(recipes, name: str, data: str, init_from: str) -> ml_collections.ConfigDict:
  """The config of the last stage of `name`'s recipe, starting from `init_from`."""
  stage = len(recipes.RECIPES[name].stages)
  return recipes.get_config(f"model={name},stage={stage},data={data},init_from={init_from}")


def refresh_config(stage: ml_collections.ConfigDict, shipped_dir: str, lr: str = "end",
                   sets: Sequence[tuple[str | None, str, Any]] = (), name: str = "") -> ml_collections.ConfigDict:
  """The recipe's last stage `stage` continued from `shipped_dir` (module docstring); `sets` last (those
  targeted at another model than `name` skipped)."""
  c = copy.deepcopy(stage)
  c.init_from = shipped_dir
  if lr == "end":
    factor = final_lr_factor(stage)
    c.optim.ae_lr = float(f"{stage.optim.ae_lr * factor:.6g}")
    c.optim.context_lr = float(f"{stage.optim.context_lr * factor:.6g}")
    c.optim.schedule, c.optim.lr_decay_steps = "staircase", UNTIL_DEADLINE
  elif lr != "stage":
    raise RefreshError(f"--lr must be 'end' or 'stage', not {lr!r}")
  c.optim.warmup_steps = max(c.optim.warmup_steps, WARMUP_STEPS)
  c.num_train_steps = UNTIL_DEADLINE
  for key, value in REFRESH.items():
    set_field(c, key, value)
  for target, key, value in sets:
    if target in (None, name):
      set_field(c, key, value)
  return c


def model_diffs(a: dict, b: dict) -> list[str]:
  """The model-identity fields (`checkpoint.MODEL_FIELDS`) in which config dicts a and b differ."""
  fa, fb = (_leaves({k: d.get(k) for k in checkpoint.MODEL_FIELDS}) for d in (a, b))
  return [f"{k}: {fa.get(k)!r} -> {fb.get(k)!r}" for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def _leaves(d: Any, prefix: str = "") -> dict:
  if not isinstance(d, dict):
    return {prefix.rstrip("."): d}
  out = {}
  for k, v in d.items():
    out.update(_leaves(v, f"{prefix}{k}."))
  return out


def reproduce_command(recipes, name: str, data: str, config: ml_collections.ConfigDict, steps: int,
                      python: str = "python") -> str:
  """The `jcomp.main` command that reruns a refresh of `steps` steps from the shipped model `name`: its recipe's
  last stage and, as --config flags, every field the refresh changed (num_train_steps = steps, no time limit;
  init_from = name, in the config argument where the stage reads it, else as a flag)."""
  stages = recipes.RECIPES[name].stages
  init_from = name if stages[-1].start in ("parent", "previous") else ""
  base = recipe_config(recipes, name, data, init_from)
  target = copy.deepcopy(config)
  target.init_from, target.num_train_steps, target.max_train_minutes = name, steps, 0.0
  old, new = (_leaves(json.loads(checkpoint.config_to_json(c))) for c in (base, target))
  flags = [f"--config.{k}={_flag(v)}" for k, v in sorted(new.items()) if old.get(k) != v]
  arg = (f"model={name}" + (f",stage={len(stages)}" if len(stages) > 1 else "") + f",data={data}"
         + (f",init_from={init_from}" if init_from else ""))
  workdir = os.path.join(recipes.OUT, "runs", name, "refresh")
  return " ".join([python, "-m jcomp.main", shlex.quote(f"--config=configs/zoo.py:{arg}"),
                   shlex.quote(f"--workdir={workdir}")] + [shlex.quote(f) for f in flags])


def _flag(v: Any) -> str:
  return repr(tuple(v)) if isinstance(v, list) else str(v)


def gain(result: dict) -> float:
  """Relative fall of the eval loss (positive = better); -inf without both evaluations."""
  if result.get("status") != "ok":
    return -float("inf")
  before, after = result["before"]["loss"], result["after"]["loss"]
  return (before - after) / abs(before) if before else -float("inf")


def tar_size(file_sizes: Sequence[int]) -> int:
  """Bytes of a ustar archive of files of these sizes: a 512-byte header and 512-byte blocks each, two zero
  blocks, padded to tarfile's record size."""
  blocks = sum(512 + -(-s // 512) * 512 for s in file_sizes) + 1024
  return -(-blocks // tarfile.RECORDSIZE) * tarfile.RECORDSIZE


def pack_plan(sizes: dict[str, list[int]], order: Sequence[str], max_bytes: int,
              max_archives: int) -> tuple[list[list[str]], list[str]]:
  """Models (file sizes of each) into at most `max_archives` archives of at most `max_bytes`, first fit in
  `order` (best first): (archives, models left out)."""
  archives: list[list[str]] = []
  left = []
  for name in order:
    for members in archives:
      if tar_size([s for m in members + [name] for s in sizes[m]]) <= max_bytes:
        members.append(name)
        break
    else:
      if len(archives) < max_archives and tar_size(sizes[name]) <= max_bytes:
        archives.append([name])
      else:
        left.append(name)
  return archives, left


def refreshed_card(card: dict, name: str, result: dict, command: str) -> dict:
  """The shipped `card` (card.json) of the refreshed model: its model id, steps and images added, a
  "refreshes" entry; the real-file results are the shipped weights' until re-measured."""
  card = copy.deepcopy(card)
  card.setdefault("name", name)
  card["model_id"] = result["model_id"]
  for key, add in (("train_steps", result["steps"]), ("images_seen", result["images_seen"])):
    if key in card:
      card[key] += add
  card.setdefault("refreshes", []).append({
      "from_model_id": result["from_model_id"], "steps": result["steps"], "images_seen": result["images_seen"],
      "batch_size": result["batch_size"], "crop_size": result["crop_size"], "device": result["device"],
      "concurrent_models": result["concurrent_models"], "train_minutes": round(result["train_s"] / 60, 2),
      "imagenettest_crops": {"n": result["eval_n"], "size": result["eval_size"], "before": result["before"],
                             "after": result["after"]},
      "loss_change": -gain(result), "command": command,
      "measured_before_refresh": [k for k in MEASURED_BEFORE if k in card],
      "regenerate": result.get("regenerate", [])})
  return card


def refreshed_card_md(card_md: str, name: str, result: dict, command: str, config: ml_collections.ConfigDict,
                      data: str) -> str:
  """The shipped card.md with a section on the refresh (`config`: the refresh's)."""
  row = lambda label, m: (f"| {label} | {m['loss']:.4f} | {m['bpp_est']:.4f} | {m['ms_ssim']:.4f} | "
                          f"{m['psnr']:.2f} |")
  r, o, s = result, config.optim, result["crop_size"]
  stale = "Results with real files above (Kodak, ImageNetTest) are the previous weights' until re-measured " \
          f"(`jcomp eval --models={name} --images=... --out=...`; card.json lists them in its last refresh's " \
          "\"measured_before_refresh\")"
  if r.get("regenerate"):
    stale += f"; so are {', '.join(f'`{f}`' for f in r['regenerate'])}, derived from the previous weights"
  section = [
      f"## Refresh {len(card_md_refreshes(card_md)) + 1}: {r['steps']} more steps on {r['device']}",
      f"Continued from the weights with model id `{r['from_model_id']}` (the previous version of this model) by "
      f"`launch/refresh_zoo.sh` (`jcomp.zoo_refresh`): the last stage of the recipe with learning rates "
      f"{o.ae_lr:g} (E, D, centers) and {o.context_lr:g} (P), {o.warmup_steps}-step warmup, batch "
      f"{r['batch_size']} of {s}x{s} crops: {r['steps']} steps / {r['images_seen']:,} crops in "
      f"{r['train_s'] / 60:.1f} min, {r['concurrent_models']} models sharing the device. On {r['eval_n']} "
      f"ImageNetTest center crops of {r['eval_size']}x{r['eval_size']} (estimated rate, no files) the recipe's "
      f"loss fell by {100 * gain(r):.2f} %:",
      "| weights | loss | bpp_est | MS-SSIM | PSNR (dB) |\n| --- | ---: | ---: | ---: | ---: |\n"
      f"{row('before', r['before'])}\n{row('after', r['after'])}",
      stale + ".",
      f"Reproduce (from the previous weights exported as `{name}`; data {data}):\n\n```\n{command}\n```"]
  head = card_md.rstrip("\n") if card_md.strip() else f"# {name}"
  return "\n\n".join([head] + section) + "\n"


def card_md_refreshes(card_md: str) -> list[str]:
  return [line for line in card_md.splitlines() if line.startswith("## Refresh ")]


def summary_markdown(rows: Sequence[dict]) -> str:
  """The summary table of a refresh, one row per model (`collect`'s rows)."""
  lines = ["| model | verdict | steps | loss before | loss after | change | bpp_est | MS-SSIM | PSNR | exported |",
           "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |"]
  for r in rows:
    b, a = r.get("before") or {}, r.get("after") or {}
    one = lambda m, k, fmt: format(m[k], fmt) if k in m else "-"
    pair = lambda k, fmt: f"{one(b, k, fmt)} -> {one(a, k, fmt)}"
    change = f"{-100 * gain(r):+.2f} %" if r.get("status") == "ok" else "-"
    lines.append(f"| {r['name']} | {r['verdict']} | {r.get('steps', '-')} | {one(b, 'loss', '.4f')} | "
                 f"{one(a, 'loss', '.4f')} | {change} | {pair('bpp_est', '.4f')} | {pair('ms_ssim', '.4f')} | "
                 f"{pair('psnr', '.2f')} | {r.get('exported') or '-'} |")
  return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Evaluation (the worker's and the tests').
# ------------------------------------------------------------------------------------------------

def imagenettest_crops(config: ml_collections.ConfigDict, count: int) -> np.ndarray:
  """The first `count` images of the config's held-out split, center-cropped: (N, S, S, 3) uint8."""
  d = config.data
  return sources.eval_images(sources.open_source(d.source, d.eval_split, d.data_dir, d.manual_dir), count,
                             d.eval_crop_size)


def evaluator(config: ml_collections.ConfigDict, batch: int):
  """evaluate(variables, crops) -> {metric: mean} of the config's system loss in inference mode, means over
  batches of `batch` crops (weighted by their size)."""
  system = systems.build(config)
  fn = jax.jit(lambda v, x: system.loss(v["params"], v["batch_stats"], x, train=False)[1][0])

  def evaluate(variables: dict, crops: np.ndarray) -> dict[str, float]:
    totals: dict[str, float] = {}
    for i in range(0, len(crops), batch):
      chunk = crops[i:i + batch]
      for k, v in jax.device_get(fn(variables, chunk)).items():
        if np.ndim(v) == 0:
          totals[k] = totals.get(k, 0.0) + float(v) * len(chunk)
    return {k: v / len(crops) for k, v in sorted(totals.items())}

  return evaluate


def _line(m: dict) -> str:
  return (f"loss {m['loss']:.4f} | bpp_est {m['bpp_est']:.4f} | ms_ssim {m['ms_ssim']:.4f} | "
          f"psnr {m['psnr']:.2f}")


# ------------------------------------------------------------------------------------------------
# The worker: one model, in a process of its own.
# ------------------------------------------------------------------------------------------------

def config_from_dict(d: dict) -> ml_collections.ConfigDict:
  """A config from its JSON form (tuples restored)."""
  d = copy.deepcopy(d)
  d["model"]["context"]["kernel_size"] = tuple(d["model"]["context"]["kernel_size"])
  d["optim"]["freeze"] = tuple(d["optim"]["freeze"])
  return ml_collections.ConfigDict(d)


def worker(plan_path: str) -> int:
  """Evaluates the shipped model, trains until the deadline, exports the result (float16) to plan['model_dir']
  and evaluates it; writes plan['result']."""
  from jcomp.data.sources import DataError  # pylint: disable=g-import-not-at-top
  with open(plan_path) as f:
    plan = json.load(f)
  config = config_from_dict(plan["config"])
  result = {"name": plan["name"], "batch_size": config.batch_size, "crop_size": config.crop_size,
            "device": jax.devices()[0].device_kind, "concurrent_models": plan["concurrent_models"]}
  shipped_config, shipped = zoo.load(plan["shipped"])
  crops = imagenettest_crops(config, plan["eval_images"])
  result.update(eval_n=len(crops), eval_size=int(crops.shape[1]), from_model_id=checkpoint.model_id(
      shipped_config, shipped).hex())
  evaluate = evaluator(config, plan["eval_batch"])
  result["before"] = evaluate(shipped, crops)
  print(f"ImageNetTest crops ({len(crops)}), shipped:   {_line(result['before'])}", flush=True)
  if plan["train_deadline"] is not None:  # else a --set max_train_minutes of this model's
    config.max_train_minutes = max(plan["train_deadline"] - time.time(), 0.6) / 60.0  # at least one step
  print(f"training {plan['name']} for at most {config.max_train_minutes:.2f} min (0: to step "
        f"{config.num_train_steps}) in {plan['workdir']}", flush=True)
  result["train_start"] = time.time()
  try:
    train.train_and_evaluate(config, plan["workdir"])
    result["status"] = "ok"
  except train.TrainingDiverged as e:  # an outcome (not improved), not a failure of the refresh
    result.update(status="diverged", error=str(e))
  except (DataError, checkpoint.CheckpointError) as e:
    result.update(status="failed", error=str(e))
  result["train_end"] = time.time()
  result["train_s"] = result["train_end"] - result["train_start"]
  if result["status"] == "ok":
    _, variables, step = zoo.variables_from_workdir(plan["workdir"])
    zoo.save(shipped_config, variables, plan["model_dir"], "float16")
    with open(os.path.join(plan["shipped"], checkpoint.CONFIG_FILE), "rb") as f:  # byte for byte
      checkpoint.write_atomic(os.path.join(plan["model_dir"], checkpoint.CONFIG_FILE), f.read())
    _, exported = zoo.load(plan["model_dir"])
    result.update(steps=step, images_seen=step * config.batch_size,
                  model_id=checkpoint.model_id(shipped_config, exported).hex(), after=evaluate(exported, crops))
    print(f"ImageNetTest crops ({len(crops)}), refreshed: {_line(result['after'])}", flush=True)
  checkpoint.write_atomic(plan["result"], json.dumps(result, indent=2).encode())
  return 0 if result["status"] != "failed" else 1


# ------------------------------------------------------------------------------------------------
# The shell: plan, run the workers side by side, decide, pack.
# ------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m jcomp.zoo_refresh", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("minutes", type=float, help="wall-clock budget of the whole command")
  p.add_argument("out", help="new or empty folder: summary.json, summary.md, models-K.tar")
  p.add_argument("names", nargs="*", help="models (default: every shipped model with a recipe)")
  p.add_argument("--data", default=None, help="images (default: the recipes' DATA, the ImageNet sample)")
  p.add_argument("--work", default=os.path.join("workdirs", "zoo_refresh"), help="workdirs, logs, results")
  p.add_argument("--zoo", default=zoo.ZOO_DIR, help="folder of the shipped model directories")
  p.add_argument("--recipes", default=RECIPES_FILE, help="the recipes file (configs/zoo.py)")
  p.add_argument("--set", dest="sets", action="append", default=[], metavar="[NAME:]FIELD=VALUE",
                 help="config override, for every model or one (repeatable)")
  p.add_argument("--lr", choices=("end", "stage"), default="end",
                 help="end: the rates the last stage ended with, constant; stage: its schedule from its start")
  p.add_argument("--min_gain", type=float, default=1e-3, help="relative fall of the eval loss to export")
  p.add_argument("--reserve_minutes", type=float, default=1.5, help="after training: eval, export, packing")
  p.add_argument("--eval_images", type=int, default=100, help="ImageNetTest crops (all 100 of the sample)")
  p.add_argument("--eval_batch", type=int, default=10)
  p.add_argument("--progress_seconds", type=float, default=30.0)
  p.add_argument("--max_files", type=int, default=8, help="files in OUT, the two summaries included")
  p.add_argument("--max_file_mib", type=float, default=16.0)
  p.add_argument("--mem_fraction", type=float, default=0.9, help="of the accelerator's memory, split evenly")
  return p


def _check_args(args) -> None:
  if args.minutes <= args.reserve_minutes:
    raise RefreshError(f"MINUTES ({args.minutes:g}) must exceed --reserve_minutes ({args.reserve_minutes:g})")
  if args.eval_images < 1 or args.eval_batch < 1:
    raise RefreshError("--eval_images and --eval_batch must be at least 1")
  if args.max_files < len(SUMMARY_FILES) + 1:
    raise RefreshError(f"--max_files must be at least {len(SUMMARY_FILES) + 1} (the summaries and an archive)")
  if os.path.exists(args.out) and (not os.path.isdir(args.out) or os.listdir(args.out)):
    raise RefreshError(f"{args.out} exists and is not an empty folder (choose a new OUT)")


def plan_models(args, recipes, names: Sequence[str], t0: float) -> list[dict]:
  """One worker plan per model; RefreshError if a config is bad or would change a shipped model."""
  data = args.data or recipes.DATA
  sets = parse_sets(args.sets, names)
  plans = []
  for name in names:
    shipped = os.path.abspath(os.path.join(args.zoo, name))
    try:
      config = refresh_config(recipe_config(recipes, name, data, shipped), shipped, args.lr, sets, name)
    except (KeyError, ValueError) as e:
      raise RefreshError(f"{name}: {e}") from e
    config_json = json.loads(checkpoint.config_to_json(config))
    with open(os.path.join(shipped, checkpoint.CONFIG_FILE)) as f:
      diffs = model_diffs(json.load(f), config_json)
    if diffs:
      raise RefreshError(f"{name}: the refresh would change the shipped model ({'; '.join(diffs[:3])})")
    work = os.path.abspath(os.path.join(args.work, name))
    own_limit = any(key == "max_train_minutes" and target in (None, name) for target, key, _ in sets)
    plans.append({"name": name, "shipped": shipped, "config": config_json, "data": data,
                  "workdir": os.path.join(work, "run"), "model_dir": os.path.join(work, "model"),
                  "result": os.path.join(work, "result.json"), "log": work + ".log",
                  "train_deadline": None if own_limit else t0 + 60.0 * (args.minutes - args.reserve_minutes),
                  "eval_images": args.eval_images, "eval_batch": args.eval_batch, "concurrent_models": len(names)})
  return plans


PROGRESS_LINES = ("step ", "eval ", "ImageNetTest", "training ", "reached ", "received ")  # a worker's own


def _last_line(path: str, prefixes: tuple[str, ...] = ()) -> str:
  """The log's last line (starting with one of `prefixes` if given: the trainer's and worker's own lines, not
  library warnings)."""
  try:
    with open(path, "rb") as f:
      f.seek(max(os.path.getsize(path) - 8192, 0))
      lines = [l.strip() for l in f.read().decode(errors="replace").splitlines() if l.strip()]
  except OSError:
    return ""
  if prefixes:
    lines = [l for l in lines if l.startswith(prefixes)] or ["starting"]
  return lines[-1] if lines else ""


def run_workers(plans: Sequence[dict], env: dict, t0: float, minutes: float, progress_s: float) -> dict[str, int]:
  """Starts a worker per plan, prints each model's last log line every `progress_s`, stops workers still
  running at t0 + minutes; {name: exit status}."""
  procs = {}
  for plan in plans:
    os.makedirs(os.path.dirname(plan["result"]), exist_ok=True)
    if os.path.exists(plan["result"]):
      os.unlink(plan["result"])  # of an earlier refresh
    plan_path = os.path.join(os.path.dirname(plan["result"]), "plan.json")
    checkpoint.write_atomic(plan_path, json.dumps(plan, indent=2).encode())
    with open(plan["log"], "ab") as log:
      procs[plan["name"]] = subprocess.Popen([sys.executable, "-m", "jcomp.zoo_refresh", "--worker", plan_path],
                                             stdout=log, stderr=subprocess.STDOUT, env=env)
  print(f"refreshing {len(plans)} models for {minutes:g} min: logs in {os.path.dirname(plans[0]['log'])}",
        flush=True)
  codes: dict[str, int] = {}
  next_report, terminated = time.time() + progress_s, None
  try:
    while len(codes) < len(procs):
      time.sleep(0.5)
      now = time.time()
      for plan in plans:
        name = plan["name"]
        if name not in codes and procs[name].poll() is not None:
          codes[name] = procs[name].returncode
          done = (f"after {_last_line(plan['log'], ('step ',))}" if codes[name] == 0 else
                  f"{_last_line(plan['log'])}")  # how far it trained, or why it failed
          print(f"[{_clock(now - t0)}] {name}: finished (exit {codes[name]}) {done}", flush=True)
      if now >= next_report and len(codes) < len(procs):
        next_report = now + progress_s
        for plan in plans:
          if plan["name"] not in codes:
            print(f"[{_clock(now - t0)}] {plan['name']}: {_last_line(plan['log'], PROGRESS_LINES)}", flush=True)
      if now >= t0 + 60.0 * minutes and terminated is None:
        terminated = now
        for name, p in procs.items():
          if name not in codes:
            print(f"[{_clock(now - t0)}] {name}: still running at the time limit: stopping it", flush=True)
            p.send_signal(signal.SIGTERM)
      if terminated is not None and now >= terminated + 20:
        for name, p in procs.items():
          if name not in codes:
            p.kill()
  finally:
    for p in procs.values():
      if p.poll() is None:
        p.kill()
        p.wait()
  return codes


def _clock(seconds: float) -> str:
  return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def collect(plans: Sequence[dict], codes: dict[str, int], min_gain: float) -> list[dict]:
  """A row per model: its worker's result and the verdict."""
  rows = []
  for plan in plans:
    try:
      with open(plan["result"]) as f:
        r = json.load(f)
    except (OSError, ValueError):
      r = {"name": plan["name"], "status": "failed", "error": f"exit {codes.get(plan['name'])}: "
           f"{_last_line(plan['log'])}"}
    status = r.get("status")
    r["verdict"] = ("improved" if gain(r) > min_gain else "not improved") if status == "ok" else status
    r["log"] = plan["log"]
    rows.append(r)
  return rows


def write_model_files(plan: dict, row: dict, recipes) -> list[str]:
  """Completes the exported model directory of an improved model (cards, train.log); its files, sorted. Files
  of the shipped directory that the refresh does not write were derived from the previous weights: they are
  listed in row['regenerate'] and in the cards."""
  d, shipped, name = plan["model_dir"], plan["shipped"], plan["name"]
  files = sorted(set(os.listdir(d)) | set(CARD_FILES))
  row["regenerate"] = sorted(f for f in os.listdir(shipped) if f not in files and not f.startswith("."))
  config = config_from_dict(plan["config"])
  command = reproduce_command(recipes, name, plan["data"], config, row["steps"])
  read = lambda p: open(p).read() if os.path.exists(p) else ""
  card = json.loads(read(os.path.join(shipped, "card.json")) or "{}")
  write = lambda f, text: checkpoint.write_atomic(os.path.join(d, f), text.encode())
  write("card.json", json.dumps(refreshed_card(card, name, row, command), indent=2) + "\n")
  write("card.md", refreshed_card_md(read(os.path.join(shipped, "card.md")), name, row, command, config,
                                     plan["data"]))
  log = read(os.path.join(shipped, "train.log"))
  lines = [l for l in read(plan["log"]).splitlines() if l.startswith(("step ", "eval "))]
  write("train.log", log + ("\n" if log and not log.endswith("\n") else "") + f"# refresh: {command}\n"
        + "".join(l + "\n" for l in lines))
  return [f for f in files if not f.startswith(".")]


def publish(out: str, plans: Sequence[dict], rows: list[dict], recipes, max_files: int, max_bytes: int) -> None:
  """Writes the improved models' directories, packs them into OUT/models-K.tar and writes the summaries."""
  by_name = {p["name"]: p for p in plans}
  improved = sorted((r for r in rows if r["verdict"] == "improved"), key=gain, reverse=True)
  files = {r["name"]: write_model_files(by_name[r["name"]], r, recipes) for r in improved}
  sizes = {n: [os.path.getsize(os.path.join(by_name[n]["model_dir"], f)) for f in fs] for n, fs in files.items()}
  archives, left = pack_plan(sizes, [r["name"] for r in improved], max_bytes, max_files - len(SUMMARY_FILES))
  os.makedirs(out, exist_ok=True)
  for i, members in enumerate(archives, 1):
    path = os.path.join(out, f"models-{i}.tar")
    tmp = path + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
      for name in members:
        for f in files[name]:
          tar.add(os.path.join(by_name[name]["model_dir"], f), arcname=f"{name}/{f}")
    os.replace(tmp, path)
    if os.path.getsize(path) > max_bytes:
      raise RuntimeError(f"{path} is {os.path.getsize(path)} bytes, over {max_bytes}")
    for r in rows:
      if r["name"] in members:
        r["exported"] = os.path.basename(path)
  for r in rows:
    if r["name"] in left:
      r["exported"] = f"no room in OUT: {by_name[r['name']]['model_dir']}"
  table = summary_markdown(rows) + "".join(
      f"\n{r['name']}: regenerate {', '.join(r['regenerate'])} (derived from the previous weights)"
      for r in rows if r.get("regenerate") and r.get("exported")) + "\n"
  checkpoint.write_atomic(os.path.join(out, "summary.json"), (json.dumps(rows, indent=2) + "\n").encode())
  checkpoint.write_atomic(os.path.join(out, "summary.md"), (
      "# Zoo refresh\n\nLoss: each recipe's own, on the same ImageNetTest crops before and after (the exported "
      "float16 weights). Unpack: `tar -xf OUT/models-K.tar -C jcomp/pretrained`, then re-measure the cards' "
      "real-file results (`jcomp eval`).\n\n" + table).encode())
  print(table, end="", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
  """`python -m jcomp.zoo_refresh MINUTES OUT [NAME...] [flags]` -> exit status."""
  t0 = time.time()
  args = build_parser().parse_intermixed_args(sys.argv[1:] if argv is None else list(argv))
  try:
    _check_args(args)
    recipes = load_recipes(args.recipes)
    names = select_models(args.names, args.zoo, recipes)
    plans = plan_models(args, recipes, names, t0)
    c = config_from_dict(plans[0]["config"])  # every model reads the same data: build it once, here
    imagenettest_crops(c, 1)
  except (RefreshError, sources.DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  for plan in plans:
    c = config_from_dict(plan["config"])
    print(f"{plan['name']}: the last stage of its recipe from {plan['shipped']}, LR {c.optim.ae_lr:g} (E, D, "
          f"centers) / {c.optim.context_lr:g} (P), batch {c.batch_size} of {c.crop_size}x{c.crop_size}, loss "
          f"{c.loss.distortion_weight:g} {c.loss.distortion} + {c.loss.beta:g} rate", flush=True)
  env = dict(os.environ, XLA_PYTHON_CLIENT_MEM_FRACTION=f"{args.mem_fraction / len(plans):.3f}",
             PYTHONUNBUFFERED="1")
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  codes = run_workers(plans, env, t0, args.minutes, args.progress_seconds)
  rows = collect(plans, codes, args.min_gain)
  publish(args.out, plans, rows, recipes, args.max_files, int(args.max_file_mib * MIB))
  failed = [r["name"] for r in rows if r["verdict"] == "failed"]
  if failed:
    print(f"failed: {', '.join(failed)} (logs: {', '.join(r['log'] for r in rows if r['name'] in failed)})",
          file=sys.stderr)
  return 1 if failed else 0


def run(argv: Sequence[str]) -> int:
  if argv[:1] == ["--worker"] and len(argv) == 2:
    return worker(argv[1])
  # This process only plans and packs: it must not take the accelerator (nor preallocate its memory).
  jax.config.update("jax_platforms", "cpu")
  return main(argv)


if __name__ == "__main__":
  sys.exit(run(sys.argv[1:]))
