"""What a training run prints: the start banner, an ETA on each log line (which `jcomp curves` still parses),
and a line for every checkpoint saved."""

import re

import jax
import numpy as np

from jcomp import train
from jcomp.experiments import training_curves
from tests.conftest import fast_compilation


def _progressive_config(**overrides):
  from configs import progressive_synthetic  # pylint: disable=g-import-not-at-top
  c = progressive_synthetic.get_config()
  c.model.context.layer_depth, c.model.context.layer_count = 2, 2
  c.data.code_shape, c.crop_size, c.data.eval_crop_size, c.data.num_eval_images = (8, 8, 2, 2), 8, 8, 2
  c.batch_size, c.num_train_steps, c.log_every_steps, c.eval_every_steps, c.checkpoint_every_steps = 2, 3, 1, 100, 2
  c.update(overrides)
  return c


def test_eta_uses_the_rate_since_the_first_log_line_and_formats_as_hours_minutes_seconds():
  # First line: its own interval's rate (compile included); later: the mean since the first line.
  assert train.eta_seconds(100, (0.0, 10), (0.0, 10), steps_per_s=0.5) == 180
  assert train.eta_seconds(100, (5.0, 10), (25.0, 50), steps_per_s=0.1) == 25  # 2 steps/s, 50 to go
  assert train.eta_seconds(100, (0.0, 10), (0.0, 10), steps_per_s=0.0) == float("inf")
  assert [train.format_duration(s) for s in (0, 59.6, 3599, 3600 * 25 + 61, float("inf"))] == [
      "0:00:00", "0:01:00", "0:59:59", "25:01:01", "-"]


def test_banner_names_devices_parameters_steps_batch_and_the_start():
  c = _progressive_config(init_from="workdirs/parent")
  params = {"autoencoder": {"w": jax.ShapeDtypeStruct((3, 4), np.float32)}, "context": {"b": np.zeros(5)}}
  fresh = train.start_banner(c, "wd", params, 0, None, jax.devices())
  assert f"  devices     {jax.device_count()} x " in fresh and "(1 process)" in fresh
  assert "  parameters  17 (autoencoder 12, context 5)" in fresh and "  steps       0 -> 3 (3 to go)" in fresh
  assert "  batch       2 (2 per device) of 8x8 crops" in fresh and "  start       init_from workdirs/parent" in fresh
  resumed = train.start_banner(c, "wd", params, 2, 2, jax.devices())
  assert "  start       resumed from step 2" in resumed and "2 -> 3 (1 to go)" in resumed
  assert not any(line.startswith(("step ", "eval ")) for line in fresh.splitlines())  # not a log line


def test_a_run_prints_the_banner_log_lines_with_an_eta_and_each_saved_checkpoint(tmp_path, capsys):
  workdir = str(tmp_path / "wd")
  with fast_compilation():
    train.train_and_evaluate(_progressive_config(), workdir)
    first = capsys.readouterr().out
    train.train_and_evaluate(_progressive_config(num_train_steps=4), workdir)
    second = capsys.readouterr().out
  assert first.startswith(f"training progressive in {workdir}\n") and "from scratch (seed 0)" in first
  assert "  steps       0 -> 3 (3 to go)" in first and "resumed from step 3" in second
  steps = [line for line in first.splitlines() if line.startswith("step ")]
  assert len(steps) == 3 and all(re.search(r" \| eta \d+:\d\d:\d\d$", line) for line in steps), steps
  assert steps[-1].endswith("| eta 0:00:00")
  assert re.findall(r"checkpoint saved at step (\d+)", first) == ["2", "3"]
  assert re.findall(r"checkpoint saved at step (\d+)", second) == ["4"]
  log = training_curves.parse_log(first)["train"]
  np.testing.assert_array_equal(log["step"], [1, 2, 3])
  assert "eta" not in log and np.all(np.isfinite(log["lr"]))  # 'eta H:MM:SS' is no number of the curves
