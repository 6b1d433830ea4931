"""launch/refresh_zoo.sh (jcomp.zoo_refresh): continues every shipped model with a recipe at once, evaluates
each before and after on the same held-out crops, and exports exactly the models that improved, within the
file limits of a device run. End to end on CPU with a tiny zoo and a tiny image folder written here."""

import json
import re
import subprocess
import tarfile

import jax
import numpy as np
import pytest
from PIL import Image

from jcomp import systems, zoo, zoo_refresh
from jcomp.coding.codec import Codec
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import PYTHON, REPO_ROOT, fast_compilation, subprocess_env

IMPROVES, FROZEN = "mentzer2018-compact-0.30", "mentzer2018-compact-0.90"  # recipes of one stage each
# The zoo's models at the size of configs/tiny.py (the tiny zoo's models are built with the same fields).
TINY = ["batch_size=2", "crop_size=32", "model.dtype=float32", "model.num_blocks=1", "model.units_per_block=1",
        "model.features=8", "model.num_channels=4", "model.upsample=subpixel", "model.context.features=8",
        "data.eval_crop_size=32", "data.num_eval_images=2"]
STEPS = 20


def _tiny_zoo(root) -> tuple[str, str]:
  """(zoo folder, image folder): 20 images (the last 2 held out); IMPROVES and FROZEN with the same random
  float16 weights (a random init: a bad model, which training improves); a model without a recipe. IMPROVES has a
  card.json and a file derived from its weights."""
  images = root / "images"
  images.mkdir()
  for i in range(20):
    Image.fromarray(synthetic_image(i, 40, 48)).save(images / f"im{i:02d}.png")
  recipes = zoo_refresh.load_recipes()
  variables = None
  for name in (IMPROVES, FROZEN, "no-recipe-model"):
    c = recipes.get_config(f"model={IMPROVES if name == 'no-recipe-model' else name},data={images}")
    for _, key, value in zoo_refresh.parse_sets(TINY, []):
      zoo_refresh.set_field(c, key, value)
    if variables is None:  # one architecture: the recipes differ in loss and optimizer only
      with fast_compilation():
        variables = jax.tree_util.tree_map(np.asarray, jax.jit(systems.build(c).init)(jax.random.PRNGKey(0)))
    zoo.save(c, variables, str(root / "zoo" / name), "float16", card=f"# {name}\n\nA tiny test model.\n")
  (root / "zoo" / IMPROVES / "card.json").write_text(json.dumps({"name": IMPROVES, "train_steps": 100,
                                                                   "images_seen": 800, "kodak_bpp": 0.3}))
  (root / "zoo" / IMPROVES / "integer_context.npz").write_bytes(b"derived from the shipped weights")
  return str(root / "zoo"), str(images)


def test_refresh_trains_all_models_at_once_and_exports_exactly_the_improved_ones(tmp_path):
  zoo_dir, images = _tiny_zoo(tmp_path)
  out, work = tmp_path / "out", tmp_path / "work"
  # IMPROVES: 20 steps at a high rate, off the clock (a fixed run: deterministic); FROZEN: every group frozen
  # (weights and BatchNorm statistics kept) until the training deadline, 30 s into the 3 minutes (the rest is
  # reserved so that a loaded 2-core machine finishes IMPROVES' steps): the same weights evaluated twice.
  extra = [f"--zoo={zoo_dir}", "--reserve_minutes=2.5", "--progress_seconds=5", "--eval_images=2",
           "--eval_batch=1", "--set=log_every_steps=5", "--set=eval_every_steps=1000"] + [
      f"--set={s}" for s in TINY] + [
      f"--set={IMPROVES}:num_train_steps={STEPS}", f"--set={IMPROVES}:max_train_minutes=0",
      f"--set={IMPROVES}:optim.ae_lr=0.003", f"--set={FROZEN}:optim.freeze=('ae','centers','context')"]
  env = subprocess_env(PYTHON=PYTHON, DATA=images, WORK=str(work), EXTRA=" ".join(extra),
                       TFDS_DATA_DIR=str(tmp_path / "tfds"))
  proc = subprocess.run(["bash", "launch/refresh_zoo.sh", "3", str(out)], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=400)
  logs = "".join(p.read_text()[-2000:] for p in sorted(work.glob("*.log")))
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:] + logs
  rows = {r["name"]: r for r in json.loads((out / "summary.json").read_text())}
  assert sorted(rows) == [IMPROVES, FROZEN]  # every shipped model with a recipe, and only those
  assert not (work / "no-recipe-model").exists()
  # Progress while running (each model's last line; at the end, the step it reached), and the table.
  assert re.search(rf"\] {IMPROVES}: finished \(exit 0\) after step +{STEPS} \|", proc.stdout), proc.stdout
  assert f"] {FROZEN}: " in proc.stdout and f"| {IMPROVES} | improved | {STEPS} |" in proc.stdout
  # Concurrent: the training periods overlap.
  a, b = rows[IMPROVES], rows[FROZEN]
  assert a["train_start"] < b["train_end"] and b["train_start"] < a["train_end"]
  # The frozen model ran until the deadline, and its evaluations are the same numbers: one function, one set
  # of crops, weights that did not move.
  assert b["steps"] > 0 and "reached max_train_minutes" in (work / f"{FROZEN}.log").read_text()
  assert b["after"] == b["before"] and b["verdict"] == "not improved" and not b.get("exported")
  assert a["steps"] == STEPS and a["after"]["loss"] < a["before"]["loss"] and a["verdict"] == "improved"
  # OUT: the summaries and one archive holding exactly the improved model, within the limits.
  files = sorted(p.name for p in out.iterdir())
  assert files == ["models-1.tar", "summary.json", "summary.md"] and a["exported"] == "models-1.tar"
  assert all((out / f).stat().st_size <= 16 * 2**20 for f in files) and len(files) <= 8
  unpacked = tmp_path / "unpacked"
  with tarfile.open(out / "models-1.tar") as tar:
    assert sorted(tar.getnames()) == sorted(f"{IMPROVES}/{f}" for f in (
        "card.json", "card.md", "config.json", "train.log", "weights.npz"))
    tar.extractall(unpacked)
  model = unpacked / IMPROVES
  # A model directory ready to commit: the shipped config.json, a card with the new id and the refresh.
  assert (model / "config.json").read_bytes() == (tmp_path / "zoo" / IMPROVES / "config.json").read_bytes()
  card = json.loads((model / "card.json").read_text())
  codec = Codec.load(str(model))
  assert card["model_id"] == codec.model_id.hex() == a["model_id"] != a["from_model_id"]
  assert card["train_steps"] == 100 + STEPS and card["images_seen"] == 800 + 2 * STEPS
  refresh = card["refreshes"][-1]
  assert refresh["steps"] == STEPS and refresh["measured_before_refresh"] == ["kodak_bpp"]
  # A file derived from the previous weights is not shipped with the new ones, but named for regeneration.
  assert refresh["regenerate"] == a["regenerate"] == ["integer_context.npz"]
  assert {f"--config.num_train_steps={STEPS}", "--config.optim.ae_lr=0.003"} <= set(refresh["command"].split())
  assert f"## Refresh 1: {STEPS} more steps" in (model / "card.md").read_text()
  assert (model / "train.log").read_text().count("\nstep ") >= STEPS // 5
  # The reported numbers are those of the exported weights: evaluated again here, the same.
  config = zoo_refresh.config_from_dict(json.loads((work / IMPROVES / "plan.json").read_text())["config"])
  config.data.data_dir = str(tmp_path / "tfds")  # the folder's dataset as the run built it
  crops = zoo_refresh.imagenettest_crops(config, 2)
  with fast_compilation():
    evaluate = zoo_refresh.evaluator(config, 1)
    again = evaluate(zoo.load(str(model))[1], crops)
  assert again["loss"] == pytest.approx(a["after"]["loss"], rel=1e-5)


# ------------------------------------------------------------------------------------------------
# The pure parts.
# ------------------------------------------------------------------------------------------------

def test_refresh_config_continues_the_last_stage_at_the_rates_it_ended_with():
  recipes = zoo_refresh.load_recipes()
  stage = zoo_refresh.recipe_config(recipes, "mentzer2018-compact-1.10", "DATA", "W")  # stage 2 of 2
  sets = zoo_refresh.parse_sets(["batch_size=16", "mentzer2018-compact-0.90:optim.ae_lr=1.0"],
                                ["mentzer2018-compact-1.10", "mentzer2018-compact-0.90"])
  c = zoo_refresh.refresh_config(stage, "/zoo/m", "end", sets, "mentzer2018-compact-1.10")
  # Stage 2: E, D, centers 3e-5 and P 1e-4, x0.1 at 225 of 300 steps: it ended at 3e-6 and 1e-5.
  assert (c.optim.ae_lr, c.optim.context_lr) == (3e-6, 1e-5) and c.optim.lr_decay_steps > 10**8
  assert c.init_from == "/zoo/m" and c.optim.warmup_steps == 20 and c.batch_size == 16  # another's set skipped
  assert c.loss.beta == 0.0 and c.loss.to_dict() == stage.loss.to_dict()  # the recipe's own loss
  assert c.model.to_dict() == stage.model.to_dict() and c.num_train_steps > 10**8
  kept = zoo_refresh.refresh_config(stage, "/zoo/m", "stage")
  assert (kept.optim.ae_lr, kept.optim.lr_decay_steps) == (3e-5, 225)
  with pytest.raises(zoo_refresh.RefreshError, match="no field 'optim.nope'"):
    zoo_refresh.refresh_config(stage, "/zoo/m", "end", [(None, "optim.nope", 1)])


def test_reproduce_command_is_the_recipe_stage_with_the_refresh_settings():
  recipes = zoo_refresh.load_recipes()
  c = zoo_refresh.refresh_config(zoo_refresh.recipe_config(recipes, "mentzer2018-compact-0.90", "D", "/z/m"), "/z/m")
  cmd = zoo_refresh.reproduce_command(recipes, "mentzer2018-compact-0.90", "D", c, 1234)
  assert cmd.startswith("python -m jcomp.main --config=configs/zoo.py:model=mentzer2018-compact-0.90,data=D "
                        "--workdir=workdirs/zoo/runs/mentzer2018-compact-0.90/refresh ")
  # A from-scratch stage reads no init_from argument: a flag sets it. LR 4e-3 and 1e-4, x0.1 at 11,757 of 15,677.
  for flag in ("--config.init_from=mentzer2018-compact-0.90", "--config.num_train_steps=1234",
               "--config.optim.ae_lr=0.0004", "--config.optim.context_lr=1e-05", "--config.optim.warmup_steps=20"):
    assert flag in cmd.split(), flag
  assert "max_train_minutes" not in cmd and "/z/m" not in cmd
  # A fine-tune's stage reads it (stage 2 of 2 of 1.10: from the previous stage's weights).
  c = zoo_refresh.refresh_config(zoo_refresh.recipe_config(recipes, "mentzer2018-compact-1.10", "D", "/z/m"), "/z/m")
  cmd = zoo_refresh.reproduce_command(recipes, "mentzer2018-compact-1.10", "D", c, 10)
  arg = "model=mentzer2018-compact-1.10,stage=2,data=D,init_from=mentzer2018-compact-1.10"
  assert f"--config=configs/zoo.py:{arg} " in cmd
  assert "--config.init_from" not in cmd and "--config.optim.ae_lr=3e-06" in cmd.split()


def test_verdicts_of_improved_unchanged_diverged_and_failed_workers(tmp_path):
  metrics = lambda loss: {"loss": loss, "bpp_est": 0.3, "ms_ssim": 0.95, "psnr": 27.0}
  results = {"up": {"status": "ok", "before": metrics(100.0), "after": metrics(99.0), "steps": 5},
             "noise": {"status": "ok", "before": metrics(100.0), "after": metrics(99.99), "steps": 5},
             "nan": {"status": "diverged", "before": metrics(100.0), "error": "loss is nan"}}
  plans = []
  for name in ("up", "noise", "nan", "killed"):  # killed: no result file
    plans.append({"name": name, "result": str(tmp_path / f"{name}.json"), "log": str(tmp_path / f"{name}.log")})
    if name in results:
      (tmp_path / f"{name}.json").write_text(json.dumps({"name": name, **results[name]}))
  (tmp_path / "killed.log").write_text("step 3 | ...\nMemoryError: out of memory\n")
  rows = zoo_refresh.collect(plans, {"killed": -9}, min_gain=1e-3)
  assert [r["verdict"] for r in rows] == ["improved", "not improved", "diverged", "failed"]
  assert rows[3]["error"] == "exit -9: MemoryError: out of memory"
  table = zoo_refresh.summary_markdown(rows)
  assert "| up | improved | 5 | 100.0000 | 99.0000 | -1.00 % |" in table and "| killed | failed | - | - | - | - |" in table


def test_pack_plan_fits_eight_zoo_models_in_four_files_and_reports_what_does_not_fit():
  sizes = {f"m{i}": [6_562_166, 1_500, 4_500, 12_000] for i in range(8)}  # weights, config, cards, log
  order = [f"m{i}" for i in range(8)]
  archives, left = zoo_refresh.pack_plan(sizes, order, 16 * 2**20, 6)
  assert archives == [["m0", "m1"], ["m2", "m3"], ["m4", "m5"], ["m6", "m7"]] and left == []
  archives, left = zoo_refresh.pack_plan(sizes, order, 16 * 2**20, 1)  # room for two: the best two
  assert archives == [["m0", "m1"]] and left == order[2:]
  assert zoo_refresh.pack_plan({"big": [17 * 2**20]}, ["big"], 16 * 2**20, 6) == ([], ["big"])


def test_tar_size_is_the_size_tarfile_writes(tmp_path):
  sizes = [0, 1, 511, 512, 513, 20_000]
  for i, s in enumerate(sizes):
    (tmp_path / f"f{i}").write_bytes(b"x" * s)
  with tarfile.open(tmp_path / "a.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
    for i in range(len(sizes)):
      tar.add(tmp_path / f"f{i}", arcname=f"model/f{i}")
  assert (tmp_path / "a.tar").stat().st_size == zoo_refresh.tar_size(sizes)


@pytest.mark.parametrize("args, message", [
    (["5", "OUT", "mentzer2018-compact-0.31"], "not a shipped model with a recipe"),
    (["5", "OUT", "--set=mentzer2018-compact-0.15:batch_size=4", "mentzer2018-compact-0.30"], "not one of"),
    (["5", "OUT", "--set=model.features=8", "mentzer2018-compact-0.30"], "would change the shipped model"),
    (["1", "OUT"], "must exceed --reserve_minutes"),
    (["5", "FULL"], "not an empty folder"),
])
def test_bad_input_is_one_line_and_exit_status_1_before_anything_runs(tmp_path, capsys, args, message):
  (tmp_path / "FULL").mkdir()
  (tmp_path / "FULL" / "mine.txt").write_text("a user's file")
  args = [str(tmp_path / a) if a in ("OUT", "FULL") else a for a in args]
  assert zoo_refresh.main(args + ["--data=synthetic", f"--work={tmp_path / 'work'}"]) == 1
  err = capsys.readouterr().err
  assert message in err and err.count("\n") == 1
  assert not (tmp_path / "OUT").exists() and not (tmp_path / "work").exists()
  assert (tmp_path / "FULL" / "mine.txt").read_text() == "a user's file"


def test_launcher_without_arguments_prints_usage():
  proc = subprocess.run(["bash", "launch/refresh_zoo.sh", "5"], cwd=REPO_ROOT, env=subprocess_env(),
                        capture_output=True, text=True)
  assert proc.returncode == 2 and "usage:" in proc.stderr
