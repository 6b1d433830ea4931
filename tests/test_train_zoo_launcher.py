"""launch/train_zoo.sh runs the recipes of configs/zoo.py (a parent, then its fine-tune's stages) and exports
loadable models."""

import json
import subprocess

import numpy as np

from jcomp.coding.codec import Codec
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import PYTHON, REPO_ROOT, subprocess_env

TINY = ("--config.num_train_steps=2 --config.batch_size=2 --config.crop_size=32 --config.model.dtype=float32 "
        "--config.model.num_blocks=1 --config.model.units_per_block=1 --config.model.features=16 "
        "--config.model.context.features=8 --config.eval_every_steps=1000 --config.checkpoint_every_steps=1000")
PARENT, CHILD = "mentzer2018-compact-0.30", "mentzer2018-compact-0.15"


def test_train_zoo_rebuilds_a_parent_and_its_fine_tune_and_exports_models_that_round_trip(tmp_path):
  out = tmp_path / "zoo"
  env = subprocess_env(PYTHON=PYTHON, PARALLEL="1", EXTRA=TINY)
  proc = subprocess.run(["bash", "launch/train_zoo.sh", "synthetic", str(out), CHILD, PARENT], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=900)
  logs = "".join(p.read_text()[-3000:] for p in sorted(out.glob("*.log")))
  assert proc.returncode == 0, proc.stderr[-3000:] + logs
  parent, child = Codec.load(str(out / PARENT)), Codec.load(str(out / CHILD))
  # The recipe's settings, under the smoke test's tiny model and step count.
  assert parent.config.loss.beta == 5000 and parent.config.optim.context_lr == 1e-3
  assert parent.config.loss.target_bits_per_symbol == 0.3 * 64 / 32
  assert child.config.loss.target_bits_per_symbol == 0.15 * 64 / 32 and child.config.optim.ae_lr == 5e-5
  assert child.config.num_train_steps == 2 and child.config.model.features == 16
  # The fine-tune started from the parent trained here (its stage 1; stage 2 resumed that workdir at 1e-4,
  # stage 3 started from it), not from the shipped parent.
  stage1 = json.loads((out / "runs" / CHILD / "stage1" / "config.json").read_text())
  assert stage1["init_from"] == str(out / "runs" / PARENT / "stage1") and stage1["optim"]["ae_lr"] == 1e-4
  assert child.config.init_from == str(out / "runs" / CHILD / "stage1")
  image = synthetic_image(2, 24, 32)
  for codec in (parent, child):
    np.testing.assert_array_equal(codec.decompress(codec.compress(image).data), codec.reconstruct(image))


def test_train_zoo_without_models_prints_usage_and_fails(tmp_path):
  proc = subprocess.run(["bash", "launch/train_zoo.sh", "synthetic", str(tmp_path)], cwd=REPO_ROOT,
                        env=subprocess_env(), capture_output=True, text=True)
  assert proc.returncode == 2 and "usage:" in proc.stderr


def test_train_zoo_with_an_unknown_model_names_the_choices_and_trains_nothing(tmp_path):
  proc = subprocess.run(["bash", "launch/train_zoo.sh", "synthetic", str(tmp_path / "zoo"), "mentzer2018-0.3"],
                        cwd=REPO_ROOT, env=subprocess_env(PYTHON=PYTHON), capture_output=True, text=True)
  assert proc.returncode != 0 and "mentzer2018-compact-0.30" in proc.stderr
  assert not (tmp_path / "zoo").exists()
