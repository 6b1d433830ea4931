"""launch/train_zoo.sh trains the compact config at the given rates and exports loadable models."""

import subprocess

import numpy as np

from jcomp.coding.codec import Codec
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import PYTHON, REPO_ROOT, subprocess_env

TINY = ("--config.batch_size=2 --config.crop_size=32 --config.model.dtype=float32 --config.model.num_blocks=1 "
        "--config.model.units_per_block=1 --config.model.features=16 --config.model.context.features=8 "
        "--config.eval_every_steps=1000 --config.checkpoint_every_steps=1000")


def test_train_zoo_trains_every_rate_and_exports_models_that_round_trip(tmp_path):
  out = tmp_path / "zoo"
  env = subprocess_env(STEPS="2", PYTHON=PYTHON, PARALLEL="1", EXTRA=TINY)
  proc = subprocess.run(["bash", "launch/train_zoo.sh", "synthetic", str(out), "0.2", "0.6"], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:] + (out / "run-0.2.log").read_text()[-3000:]
  for rate, bpp in (("0.2", 0.2), ("0.6", 0.6)):
    codec = Codec.load(str(out / f"mentzer2018-compact-{rate}"))
    assert codec.config.loss.target_bits_per_symbol == bpp * 64 / codec.config.model.num_channels
    assert codec.config.loss.beta == 5000 and codec.config.num_train_steps == 2
    image = synthetic_image(2, 24, 32)
    np.testing.assert_array_equal(codec.decompress(codec.compress(image).data), codec.reconstruct(image))


def test_train_zoo_without_rates_prints_usage_and_fails(tmp_path):
  proc = subprocess.run(["bash", "launch/train_zoo.sh", "synthetic", str(tmp_path)], cwd=REPO_ROOT,
                        env=subprocess_env(), capture_output=True, text=True)
  assert proc.returncode == 2 and "usage:" in proc.stderr
