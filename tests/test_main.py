"""`python -m jcomp.main` on bad input, SIGTERM and divergence: clear one-line errors, workdirs left intact.

Every case runs the real entry point in a subprocess on the tiny config. Bad input must end with exit status
1, a single `error: ...` line on stderr naming the problem, no traceback, and no change at all to the workdir
(file listing, sizes and modification times). SIGTERM saves a checkpoint and exits 0; a NaN loss stops the run
with an error and leaves the last good checkpoint as it was.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import threading

import pytest

from tests.conftest import PYTHON, REPO_ROOT, subprocess_env, tiny_config

TIMEOUT_S = 240


def _main(workdir, *args, config="configs/tiny.py", timeout=TIMEOUT_S) -> subprocess.CompletedProcess:
  cmd = [PYTHON, "-m", "jcomp.main", f"--config={config}", f"--workdir={workdir}", *args]
  return subprocess.run(cmd, cwd=REPO_ROOT, env=subprocess_env(), capture_output=True, text=True,
                        timeout=timeout)


def _snapshot(root) -> dict:
  """{relative path: (size, mtime_ns)} of everything under `root` (empty if it does not exist)."""
  root = pathlib.Path(root)
  if not root.exists():
    return {}
  return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
          for p in sorted(root.rglob("*"))}


def _assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
  assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, proc.stderr[-3000:]
  assert proc.stderr.strip().splitlines()[-1] == errors[0]
  for w in words:
    assert w in errors[0], errors[0]
  return errors[0]


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory) -> pathlib.Path:
  """A workdir of the tiny config with checkpoints at steps 1 and 2."""
  workdir = tmp_path_factory.mktemp("trained") / "workdir"
  proc = _main(workdir, "--config.num_train_steps=2", "--config.checkpoint_every_steps=1",
               "--config.log_every_steps=1", "--config.eval_every_steps=1000")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert sorted(os.listdir(workdir / "checkpoints")) == ["1", "2"]
  return workdir


@pytest.fixture(scope="module")
def data_folders(tmp_path_factory) -> dict[str, pathlib.Path]:
  root = tmp_path_factory.mktemp("data")
  (root / "empty").mkdir()
  (root / "unreadable").mkdir()
  (root / "unreadable" / "a.png").write_bytes(b"\x89PNG not really")
  (root / "unreadable" / "b.jpg").write_bytes(b"")
  return {"missing": root / "missing", "empty": root / "empty", "unreadable": root / "unreadable",
          "tfds": root / "tfds"}


BAD_INPUTS = {
    # name: (config, extra flags, words the error line must contain)
    "missing_data_folder": ("configs/tiny.py:data={missing}", ["--config.data.data_dir={tfds}"],
                            ["no images found", "missing"]),
    "empty_data_folder": ("configs/tiny.py:data={empty}", ["--config.data.data_dir={tfds}"],
                          ["no images found", "empty"]),
    "unreadable_images": ("configs/tiny.py:data={unreadable}", ["--config.data.data_dir={tfds}"],
                          ["unreadable", "none readable"]),
    "config_typo": ("configs/tiny.py", ["--config.batch_sizee=3"], ["batch_sizee", "batch_size"]),
    "missing_config_file": ("configs/no_such_config.py", [], ["no_such_config.py"]),
    "unknown_config_argument": ("configs/tiny.py:dataa=synthetic", [], ["dataa"]),
    "other_model_in_workdir": ("configs/tiny.py", ["--config.model.num_channels=8"],
                               ["different config", "model.num_channels: 4 -> 8"]),
    "crop_not_multiple_of_8": ("configs/tiny.py", ["--config.crop_size=30"], ["crop_size", "multiple of 8"]),
    # A gradient clip adds a state to the optimizer chain: a checkpoint of the old structure cannot resume.
    "other_optimizer_state_in_workdir": ("configs/tiny.py", ["--config.optim.grad_clip=1.0"],
                                         ["another structure", "init_from"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_one_line_error_that_leaves_the_workdir_untouched(case, trained_workdir, data_folders):
  config, flags, words = BAD_INPUTS[case]
  paths = {k: str(v) for k, v in data_folders.items()}
  before = _snapshot(trained_workdir)
  proc = _main(trained_workdir, *[f.format(**paths) for f in flags], config=config.format(**paths))
  _assert_one_line_error(proc, *words)
  assert _snapshot(trained_workdir) == before


def test_a_failed_start_creates_no_workdir(tmp_path, data_folders):
  workdir = tmp_path / "new_workdir"
  proc = _main(workdir, f"--config.data.data_dir={data_folders['tfds']}",
               config=f"configs/tiny.py:data={data_folders['missing']}")
  _assert_one_line_error(proc, "no images found")
  assert not workdir.exists()


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
  workdir = tmp_path / "workdir"
  cmd = [PYTHON, "-m", "jcomp.main", "--config=configs/tiny.py", f"--workdir={workdir}",
         "--config.num_train_steps=100000", "--config.log_every_steps=1",
         "--config.eval_every_steps=100000", "--config.checkpoint_every_steps=100000"]
  proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  watchdog = threading.Timer(TIMEOUT_S, proc.kill)
  watchdog.start()
  try:
    lines = []
    for line in proc.stdout:  # wait until training runs (the handler is installed before step 1)
      lines.append(line)
      if line.startswith("step"):
        break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate()
  finally:
    watchdog.cancel()
    if proc.poll() is None:
      proc.kill()
  out = "".join(lines) + out
  assert proc.returncode == 0, err[-3000:]
  saved = [line for line in out.splitlines() if line.startswith("received signal")]
  assert len(saved) == 1, out[-2000:]
  step = int(saved[0].split("saved step")[1].split(",")[0])
  assert os.listdir(workdir / "checkpoints") == [str(step)]
  assert (workdir / "config.json").exists()


def test_nan_loss_stops_with_an_error_and_keeps_the_last_good_checkpoint(tmp_path, trained_workdir):
  workdir = tmp_path / "workdir"
  shutil.copytree(trained_workdir, workdir)
  before = _snapshot(workdir / "checkpoints")
  # Adam's steps are ~lr: at 1e30 the weights overflow float32 within two steps.
  proc = _main(workdir, "--config.optim.ae_lr=1e30", "--config.num_train_steps=20",
               "--config.log_every_steps=1", "--config.checkpoint_every_steps=1000",
               "--config.eval_every_steps=1000")
  _assert_one_line_error(proc, "loss is nan", "last checkpoint is the last good state")
  assert _snapshot(workdir / "checkpoints") == before
  _assert_checkpoint_is_finite(workdir, step=2)


def _assert_checkpoint_is_finite(workdir, step: int) -> None:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jcomp import checkpoint, systems, train  # pylint: disable=g-import-not-at-top
  config = tiny_config()
  system = systems.build(config)
  tx = train.make_optimizer(config, system)
  abstract = jax.eval_shape(lambda r: train.create_train_state(system, tx, r), jax.random.PRNGKey(0))
  mngr = checkpoint.manager(str(workdir), 3)
  try:
    assert mngr.latest_step() == step
    state = checkpoint.restore(mngr, abstract)
  finally:
    mngr.close()
  assert int(state.step) == step
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(state.params))


@pytest.mark.parametrize("config", ["configs/ccn.py", "configs/ccn_gmm.py"])
def test_ccn_context_models_train_with_the_autoencoder_through_main(tmp_path, config):
  """CCN (logits) and its GMM head are drop-in context models of the same jitted train step."""
  proc = _main(tmp_path / "wd", "--config.num_train_steps=2", "--config.batch_size=2",
               "--config.crop_size=32", "--config.model.dtype=float32", "--config.model.features=8",
               "--config.model.num_channels=4", "--config.model.num_blocks=1",
               "--config.model.units_per_block=1", "--config.log_every_steps=1",
               "--config.eval_every_steps=2", "--config.data.num_eval_images=2",
               "--config.data.eval_crop_size=32", config=f"{config}:data=synthetic")
  assert proc.returncode == 0, proc.stderr[-3000:]
  steps = [l for l in proc.stdout.splitlines() if l.startswith("step ")]
  assert len(steps) == 2 and "nan" not in proc.stdout.lower(), proc.stdout[-2000:]


def test_the_quickstart_trains_on_the_photos_and_reports_its_rd_point(tmp_path):
  """The README's first command, shortened: the packaged config by name, scikit-image's photographs, and the
  closing report (real files of the held-out images next to JPEG's curve; here one small image)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from jcomp.data.synthetic_images import synthetic_image  # pylint: disable=g-import-not-at-top
  Image.fromarray(synthetic_image(5, 48, 64)).save(tmp_path / "held_out.png")
  workdir = tmp_path / "quickstart"
  proc = _main(workdir, "--config.num_train_steps=2", "--config.log_every_steps=1",
               "--config.eval_every_steps=1000", "--config.checkpoint_every_steps=1000",
               f"--config.report.images={tmp_path / 'held_out.png'}", config="quickstart")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "from scratch" in proc.stdout and "step       2" in proc.stdout, proc.stdout
  report = proc.stdout[proc.stdout.index("rate-distortion on"):]
  assert "(1 images, real files)" in report and " bpp, PSNR " in report and "jpeg420" in report, report
  for name in ("rd_psnr.png", "rd_ms_ssim.png", "bd_rate.md", "per_image.csv"):
    assert (workdir / "rd" / "step_2" / name).exists(), name
