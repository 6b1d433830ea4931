"""Configs by name from any folder (`--config=med`, `med.py:rate=low`, `zoo:model=...`); paths still work."""

import json
import os
import subprocess

import pytest

from jcomp import checkpoint, config_lib
from jcomp import main as jcomp_main
from tests.conftest import PYTHON, REPO_ROOT, subprocess_env


def _json(c) -> dict:
  return json.loads(checkpoint.config_to_json(c))


def test_packaged_configs_are_the_checkouts_configs_folder():
  assert sorted(f[:-3] for f in os.listdir(REPO_ROOT / "configs") if f.endswith(".py")) == config_lib.config_names()
  assert {"med", "quickstart", "zoo", "tiny"} <= set(config_lib.config_names())


@pytest.mark.parametrize("name, path", [
    ("med", "med.py"), ("med.py:rate=low", "med.py:rate=low"), ("quickstart", "quickstart.py"),
    ("zoo:model=mentzer2018-compact-0.30", "zoo.py:model=mentzer2018-compact-0.30"),
    ("compact.py:bpp=0.3,data=synthetic", "compact.py:bpp=0.3,data=synthetic")])
def test_a_name_from_another_folder_gives_the_config_of_the_file(name, path, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert config_lib.resolve(name) == os.path.join(config_lib.CONFIGS_DIR, path)
  assert _json(config_lib.from_file(name)) == _json(config_lib.from_file(str(REPO_ROOT / "configs" / path)))


def test_an_existing_path_wins_over_a_name_and_unknown_names_list_the_choices(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  (tmp_path / "med.py").write_text("from jcomp import config_lib\n"
                                   "def get_config(arg=None):\n"
                                   "  c = config_lib.base()\n  c.seed = 123\n  return c\n")
  assert config_lib.resolve("med.py:x=1") == "med.py:x=1" and config_lib.from_file("med.py").seed == 123
  assert config_lib.from_file("med").seed == 0  # no file 'med' here: the packaged config
  with pytest.raises(FileNotFoundError, match=r"'nope' not found.*: ccn, .*med, .*zoo\)"):
    config_lib.resolve("nope:rate=low")
  with pytest.raises(FileNotFoundError, match="no_such/med.py"):
    config_lib.resolve("no_such/med.py")  # a path is never taken for a name


def test_main_resolves_both_forms_of_the_config_flag_and_leaves_overrides_alone(monkeypatch):
  argv = ["main", "--config=tiny:data=synthetic", "--config.batch_size=2", "--workdir=w"]
  assert jcomp_main._resolve_config(argv) == [
      "main", f"--config={config_lib.CONFIGS_DIR}/tiny.py:data=synthetic", "--config.batch_size=2", "--workdir=w"]
  assert jcomp_main._resolve_config(["main", "--config", "med"]) == [
      "main", "--config", os.path.join(config_lib.CONFIGS_DIR, "med.py")]
  monkeypatch.chdir(REPO_ROOT)  # from the checkout a path is kept as given
  assert jcomp_main._resolve_config(["main", "--config=configs/med.py:rate=low"]) == [
      "main", "--config=configs/med.py:rate=low"]


def _main_from(cwd, *args) -> subprocess.CompletedProcess:
  return subprocess.run([PYTHON, "-m", "jcomp.main", *args], cwd=cwd, env=subprocess_env(), capture_output=True,
                        text=True, timeout=300)


def test_jcomp_main_takes_a_config_name_from_any_folder(tmp_path):
  # The tiny config by name, on a missing data folder: it got as far as opening the data (one-line error).
  proc = _main_from(tmp_path, f"--config=tiny:data={tmp_path / 'missing'}", f"--workdir={tmp_path / 'w'}",
                    f"--config.data.data_dir={tmp_path / 'tfds'}")
  assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith("error: no images found"), \
      proc.stderr[-2000:]
  proc = _main_from(tmp_path, "--config=nope.py", f"--workdir={tmp_path / 'w'}")
  assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1].startswith("error: invalid flag: config file 'nope.py' not found")
  assert not (tmp_path / "w").exists()
