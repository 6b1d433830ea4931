"""The README's usage runs as written: every command of its "Then:" block and its "Python API" block, in a
temporary folder (the two quick-start commands train for minutes and are left out).

What is substituted, and only this (the commands themselves run unchanged):
  * photo.png is a small generated image (64x48) written into the folder;
  * DIR, the image folder of `jcomp eval`, is a folder named DIR there holding one small generated image.
"""

import os
import re
import shlex
import subprocess

import numpy as np
from PIL import Image

from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import PYTHON, REPO_ROOT, fast_compilation, subprocess_env

README = (REPO_ROOT / "README.md").read_text()


def _block(marker: str, lang: str) -> str:
  """The first ```lang code block after the line `marker`."""
  assert marker in README, f"README has no {marker!r}"
  found = re.compile(rf"^```{lang}\n(.*?)^```$", re.S | re.M).search(README, README.index(marker))
  assert found, f"no ```{lang} block after {marker!r}"
  return found.group(1)


def _photo(folder, seed: int = 1) -> bytes:
  """SUBSTITUTE: photo.png, a small generated image."""
  Image.fromarray(synthetic_image(seed, 48, 64)).save(folder / "photo.png")
  return (folder / "photo.png").read_bytes()


def test_the_then_block_runs_as_written(tmp_path):
  commands = [shlex.split(line, comments=True) for line in _block("\nThen:\n", "bash").splitlines()]
  commands = [c for c in commands if c]
  assert len(commands) >= 4 and all(c[0] == "jcomp" for c in commands), commands
  original = _photo(tmp_path)
  (tmp_path / "DIR").mkdir()  # SUBSTITUTE: DIR, one small image
  Image.fromarray(synthetic_image(2, 40, 56)).save(tmp_path / "DIR" / "a.png")
  outputs = []
  for command in commands:
    proc = subprocess.run([PYTHON, "-m", "jcomp", *command[1:]], cwd=tmp_path, env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, (command, proc.stderr[-3000:])
    outputs.append(proc.stdout)
  joined = "\n".join(outputs)
  assert "mentzer2018-compact-0.30" in outputs[0]                     # jcomp models
  assert "photo.jcomp" in joined and "bpp" in joined                 # compress -v, --target-bpp
  assert (tmp_path / "photo.png").read_bytes() == original           # the input was never overwritten
  decoded = np.asarray(Image.open(tmp_path / "photo_decoded.png"))  # decompress's default output name
  assert decoded.shape == (48, 64, 3)
  chosen = [out for out in outputs if "for 0.4 bpp" in out]        # --target-bpp prints its choice
  assert chosen and re.search(r"mentzer2018-compact-\d\.\d\d for 0\.4 bpp \(tried ", chosen[0]), outputs
  assert (tmp_path / "rd" / "summary.json").exists()


def test_the_python_api_block_runs_as_written(tmp_path, monkeypatch, capsys):
  code = _block("\n## Python API\n", "python")
  _photo(tmp_path, seed=3)
  monkeypatch.chdir(tmp_path)
  namespace = {}
  with fast_compilation():
    exec(compile(code, "README.md (Python API)", "exec"), namespace)  # pylint: disable=exec-used
  x, data, y, codec, choice = (namespace[k] for k in ("x", "data", "y", "codec", "choice"))
  assert isinstance(data, bytes) and y.dtype == np.uint8 and y.shape == x.shape == (48, 64, 3)
  with fast_compilation():
    np.testing.assert_array_equal(y, codec.codec.reconstruct(x))
  assert choice.name.startswith("mentzer2018-compact-") and choice.bpp == 8 * len(choice.data) / (48 * 64)
  assert choice.name in capsys.readouterr().out
  assert os.listdir(tmp_path) == ["photo.png"]  # the API writes no files
