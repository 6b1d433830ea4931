"""The recipes of the shipped models (`jcomp/pretrained/`): every training stage of every model is one command.

  python -m jcomp.main --config=configs/zoo.py:model=mentzer2018-compact-0.30,data=DATA \
      --workdir=OUT/runs/mentzer2018-compact-0.30/stage1
  python -m jcomp.main --config=configs/zoo.py:model=mentzer2018-compact-1.10,stage=2,data=DATA,init_from=W1 \
      --workdir=OUT/runs/mentzer2018-compact-1.10/stage2   # W1: stage 1's workdir
  python configs/zoo.py DATA OUT NAME...   # prints every stage's command (parents first), then the export

`get_config('model=NAME,stage=N,data=DATA,init_from=W')` is the exact config of stage N (1-based, default 1) of
the shipped model NAME, built on `configs/compact.py`: `tests/test_configs.py` checks that the last stage's
`model` and `system` (the fields of the model id), `loss`, `optim` and loop settings equal the model's
`config.json`. Each model card lists its commands (`card.json` "recipe"); `launch/train_zoo.sh` runs them.

How a stage starts (`Stage.start`):
  scratch   fresh weights.
  parent    the weights of the parent model: the shipped one by name unless `init_from` names another (a
            workdir or model directory: your own rebuild of the parent).
  resume    in the previous stage's workdir (the same --workdir), from its last checkpoint, with new settings:
            the original run was stopped and resumed with a lower learning rate.
  previous  the weights of the previous stage: `init_from` = its workdir (required).

`data` (`config_lib.set_data`) defaults to the 1,000-image ImageNet sample the zoo was trained on, as the
repository's `config.json` files name it: the first 900 (sorted) images are trained on, the last 100 held out.
(The from-scratch runs read a folder of those same 900 images and evaluated on 16 of them; only the periodic
eval differs.)

The numbers come from where the runs were recorded: `launch/train_zoo.sh` before the recipes moved here (beta
5000, context LR 1e-3, LR x0.1 at 3/4 of the steps), each model's `card.md` (the fine-tunes' flags),
`config.json` (the last stage's full config) and `train.log` (the logging interval, the stage boundaries).
"""

import os
import shlex
import sys
from typing import NamedTuple

from jcomp import config_lib

DATA = "../shared/data/imagenet-sample-256"  # config.json "data.source" of the fine-tunes (repository-relative)
OUT = "workdirs/zoo"                         # where the cards' commands put workdirs and exported models
_EXPORT = "-m jcomp export"  # WORKDIR OUT_DIR: float16 weights, as shipped


class Stage(NamedTuple):
  start: str      # 'scratch' | 'parent' | 'resume' | 'previous' (module docstring)
  overrides: dict  # dotted config field -> value, on top of the previous stage's config


class Recipe(NamedTuple):
  compact: str    # configs/compact.py's arguments (target bpp, L): the architecture
  parent: str     # the shipped model the first stage starts from ('' = from scratch)
  stages: tuple[Stage, ...]


# The from-scratch runs: 4 at once on one NVIDIA H100, batch 30 of 160x160 crops, bfloat16 convolutions (compact.py's
# defaults). Loop settings from config.json of 0.30 and 0.90 (train.log: a line every 200 steps, eval every 1,000).
_H100 = {"checkpoint_every_steps": 500, "keep_checkpoints": 2, "log_every_steps": 200}

# The fine-tunes on a 2-core CPU (cards of 0.15, 0.50, 1.10): batch 8 of 128x128 crops in float32, the rate
# gradient through the soft assignment (the parents' importance maps are saturated), a 5-step LR warmup; loop
# settings from their config.json.
_CPU = {"batch_size": 8, "crop_size": 128, "model.dtype": "float32", "loss.soft_rate_gradient": True,
        "optim.warmup_steps": 5, "checkpoint_every_steps": 25, "keep_checkpoints": 2, "eval_every_steps": 100000,
        "data.num_eval_images": 8}

# The PSNR family: the MS-SSIM model of the same rate with its decoder fine-tuned for MSE on a 2-core CPU. The
# encoder, the centers and P are frozen (optim.freeze), so the symbols and hence every file's rate are the
# parent's: only the reconstruction changes, and the BatchNorm layers stay in eval mode. loss.distortion = "mse"
# is d = MSE / 255^2 = 10^(-PSNR / 10), so K_d d = 5000 d is 15.8 at 25 dB and 5.0 at 30 dB; with the rate fixed
# the scale only matters to Adam's first steps (it is scale-free), hence the 20-step warmup.
_MSE = {**_CPU, "loss.distortion": "mse", "optim.freeze": ("encoder", "centers", "context"), "optim.ae_lr": 2e-4,
        "optim.warmup_steps": 20, "log_every_steps": 10, "eval_every_steps": 100}


def _mse_recipe(parent_rate: str, compact: str, steps: int) -> Recipe:
  return Recipe(compact, f"mentzer2018-compact-{parent_rate}", (
      Stage("parent", {**_MSE, "num_train_steps": steps, "optim.lr_decay_steps": steps * 3 // 4}),))


RECIPES = {
    # card: beta = 5000 and context LR 1e-3 (10x the defaults), 8,000 steps, LR x0.1 at 6,000 (launch/train_zoo.sh:
    # --config.loss.beta=5000 --config.optim.context_lr=1e-3, lr_decay_steps = 3/4 of STEPS=8000).
    "mentzer2018-compact-0.30": Recipe("bpp=0.3", "", (
        Stage("scratch", {**_H100, "loss.beta": 5000.0, "optim.context_lr": 1e-3, "num_train_steps": 8000,
                          "optim.lr_decay_steps": 6000}),)),
    # card: the config's defaults (beta = 500, context LR 1e-4), 15,677 steps, LR x0.1 at 11,757 (= 3/4).
    "mentzer2018-compact-0.90": Recipe("bpp=0.9", "", (
        Stage("scratch", {**_H100, "num_train_steps": 15677, "optim.lr_decay_steps": 11757}),)),
    # card: from 0.30, beta 5000. (1) LR (E, D, centers and P) 5e-4, x0.1 at 150; the run was stopped after step
    # 125 (train.log: step 130 logged twice) and (2) resumed from the step-125 checkpoint at 1e-4 to step 200
    # (config.json at commit dc18071: keep 10 checkpoints, a line every 10 steps). (3) 300 steps from those
    # weights at 5e-5, x0.1 at 225, warmup 20 (config.json: keep 2, a line every 5 steps).
    "mentzer2018-compact-0.15": Recipe("bpp=0.15", "mentzer2018-compact-0.30", (
        Stage("parent", {**_CPU, "loss.beta": 5000.0, "optim.ae_lr": 5e-4, "optim.context_lr": 5e-4,
                         "optim.lr_decay_steps": 150, "num_train_steps": 125, "keep_checkpoints": 10,
                         "log_every_steps": 10}),
        Stage("resume", {"optim.ae_lr": 1e-4, "optim.context_lr": 1e-4, "num_train_steps": 200}),
        Stage("previous", {"optim.ae_lr": 5e-5, "optim.context_lr": 5e-5, "optim.lr_decay_steps": 225,
                           "num_train_steps": 300, "optim.warmup_steps": 20, "keep_checkpoints": 2,
                           "log_every_steps": 5}))),
    # card: from 0.90, beta 5000, 600 steps at 5e-4 (E, D, centers and P), x0.1 at 450 (config.json: a line / 10).
    "mentzer2018-compact-0.50": Recipe("bpp=0.50", "mentzer2018-compact-0.90", (
        Stage("parent", {**_CPU, "loss.beta": 5000.0, "optim.ae_lr": 5e-4, "optim.context_lr": 5e-4,
                         "optim.lr_decay_steps": 450, "num_train_steps": 600, "log_every_steps": 10}),)),
    # card: 0.90 with L = 11 centers (its 6 and their midpoints). (1) P only: E, D and centers at LR 0, P at 1e-3,
    # x0.1 at 120, 150 steps, beta 500 (the default). (2) from stage 1's weights, distortion only (beta 0): E, D,
    # centers 3e-5, P 1e-4, x0.1 at 225, 300 steps. train.log: a line every 5 steps in both.
    "mentzer2018-compact-1.10": Recipe("bpp=1.1,centers=11", "mentzer2018-compact-0.90", (
        Stage("parent", {**_CPU, "optim.ae_lr": 0.0, "optim.context_lr": 1e-3, "optim.lr_decay_steps": 120,
                         "num_train_steps": 150, "log_every_steps": 5}),
        Stage("previous", {"loss.beta": 0.0, "optim.ae_lr": 3e-5, "optim.context_lr": 1e-4,
                           "optim.lr_decay_steps": 225, "num_train_steps": 300}))),
    "mentzer2018-compact-mse-0.30": _mse_recipe("0.30", "bpp=0.3", 150),
    "mentzer2018-compact-mse-0.50": _mse_recipe("0.50", "bpp=0.50", 150),
    "mentzer2018-compact-mse-0.90": _mse_recipe("0.90", "bpp=0.9", 100),
}


def get_config(arg=None):
  a = config_lib.parse_arg(arg, model="mentzer2018-compact-0.30", stage="1", data=DATA, init_from="")
  recipe, stage = _recipe(a.model), int(a.stage)
  if not 1 <= stage <= len(recipe.stages):
    raise ValueError(f"{a.model} has stages 1 to {len(recipe.stages)}, not {stage}")
  if recipe.stages[stage - 1].start == "previous" and not a.init_from:
    raise ValueError(f"stage {stage} of {a.model} starts from the weights of stage {stage - 1}: give "
                     f"init_from=<stage {stage - 1}'s workdir>")
  c = config_lib.from_file(f"compact.py:{recipe.compact},data={a.data}", __file__)
  c.init_from = recipe.parent
  for s in recipe.stages[:stage]:
    for key, value in s.overrides.items():
      _set(c, key, value)
    if s.start in ("parent", "previous") and a.init_from:
      c.init_from = a.init_from
  return c


def _recipe(name: str) -> Recipe:
  return config_lib.lookup(RECIPES, "recipe (shipped model)", name)


def _set(c, dotted: str, value) -> None:
  *parents, leaf = dotted.split(".")
  for p in parents:
    c = c[p]
  if leaf not in c:  # a recipe may only set fields config_lib.base() has
    raise KeyError(f"config has no field {dotted!r}")
  c[leaf] = value


def workdirs(name: str, out: str = OUT) -> list[str]:
  """The workdir of each stage of `name` (a 'resume' stage shares its predecessor's)."""
  dirs = []
  for i, s in enumerate(_recipe(name).stages, 1):
    dirs.append(dirs[-1] if s.start == "resume" else os.path.join(out, "runs", name, f"stage{i}"))
  return dirs


def commands(name: str, data: str = DATA, out: str = OUT, parent_workdir: str = "",
             python: str = "python") -> list[str]:
  """The commands that rebuild `name`: one `jcomp.main` per stage, then the export to OUT/NAME (float16
  weights, as shipped). A first stage starts from the shipped parent, or from `parent_workdir` if given."""
  q = shlex.quote
  dirs = workdirs(name, out)
  lines, init = [], ""
  for i, s in enumerate(_recipe(name).stages, 1):
    arg = f"model={name},stage={i},data={data}" if i > 1 else f"model={name},data={data}"
    if s.start != "resume":  # a resumed stage keeps its predecessor's init_from (unused: it restores the workdir)
      init = {"parent": parent_workdir, "previous": dirs[i - 2] if i > 1 else ""}.get(s.start, "")
    arg += f",init_from={init}" if init else ""
    lines.append(f"{python} -m jcomp.main --config={q('configs/zoo.py:' + arg)} --workdir={q(dirs[i - 1])}")
  lines.append(f"{python} {_EXPORT} {q(dirs[-1])} {q(os.path.join(out, name))}")
  return lines


def plan(names: list[str], data: str = DATA, out: str = OUT, python: str = "python") -> list[tuple[int, str, str]]:
  """(wave, name, command) for rebuilding `names` into OUT: a model whose parent is among `names` starts from
  that rebuild (one wave later) instead of the shipped parent."""
  for name in names:
    _recipe(name)
  wave = {}
  def wave_of(name):
    if name not in wave:
      parent = RECIPES[name].parent
      wave[name] = wave_of(parent) + 1 if parent in names else 0
    return wave[name]
  rows = []
  for name in sorted(names, key=lambda n: (wave_of(n), names.index(n))):
    parent = RECIPES[name].parent
    parent_workdir = workdirs(parent, out)[-1] if parent in names else ""
    rows += [(wave_of(name), name, cmd) for cmd in commands(name, data, out, parent_workdir, python)]
  return rows


if __name__ == "__main__":  # launch/train_zoo.sh: `python configs/zoo.py DATA OUT NAME...` -> WAVE<tab>NAME<tab>COMMAND
  if len(sys.argv) < 4:
    sys.exit(f"usage: {sys.argv[0]} DATA OUT NAME...  (NAME: one of {', '.join(sorted(RECIPES))})")
  try:
    rows = plan(list(dict.fromkeys(sys.argv[3:])), sys.argv[1], sys.argv[2], shlex.quote(sys.executable))
  except ValueError as e:
    sys.exit(f"error: {e}")
  for row in rows:
    print(*row, sep="\t")
