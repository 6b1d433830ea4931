"""Where `jcomp compress/decompress` write, and how: never onto an input, never into half a file."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jcomp import cli, output_files
from tests.coding.conftest import tiny_model_dir  # pylint: disable=unused-import  # a fixture
from tests.conftest import subprocess_env


@pytest.fixture
def image_file(tmp_path) -> str:
  path = tmp_path / "k.png"
  Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 24, 3), np.uint8)).save(path)
  return str(path)


def _main(capsys, *argv: str) -> tuple[int, str]:
  status = cli.main(list(argv))
  return status, capsys.readouterr().err


def test_out_path_refuses_the_input_itself_also_through_links(image_file, tmp_path):
  os.symlink(image_file, tmp_path / "sym.png")
  os.link(image_file, tmp_path / "hard.png")
  same = [image_file, os.path.join(str(tmp_path), ".", "k.png"), str(tmp_path / "sym.png"),
          str(tmp_path / "hard.png")]
  for out in same:
    with pytest.raises(cli.CliError, match="is the input file .* itself"):
      cli._out_path(image_file, out, ".jcomp", many=False)
  with pytest.raises(cli.CliError, match="is the input file"):  # decompress x.png: x.png next to itself
    cli._out_path(image_file, None, ".png", many=False)
  assert cli._out_path(image_file, None, ".jcomp", many=False) == str(tmp_path / "k.jcomp")


def test_compress_onto_its_own_input_is_refused_even_with_force(image_file, tiny_model_dir, capsys):
  before = open(image_file, "rb").read()
  status, err = _main(capsys, "compress", f"--model={tiny_model_dir}", image_file, "-o", image_file, "--force")
  assert status == 1 and err.startswith("error: output ") and "is the input file" in err and err.count("\n") == 1
  assert open(image_file, "rb").read() == before


def test_decompress_onto_its_input_or_into_a_folder_is_refused(tmp_path, capsys):
  src = tmp_path / "x.jcomp"
  src.write_bytes(b"JCMP\x04 not decoded: the output is refused first")
  status, err = _main(capsys, "decompress", str(src), "-o", str(src), "--force")
  assert status == 1 and "is the input file" in err and err.count("\n") == 1
  (tmp_path / "dir").mkdir()
  status, err = _main(capsys, "decompress", str(src), "-o", str(tmp_path / "dir"), "--force")
  assert status == 1 and err == f"error: output {tmp_path / 'dir'} is a folder: name an output file\n"
  assert src.read_bytes().startswith(b"JCMP\x04 not decoded")


def test_write_replaces_only_with_force_and_follows_the_umask(tmp_path):
  path = str(tmp_path / "out.bin")
  cli._write(path, b"one", force=False)
  with pytest.raises(cli.CliError, match="exists"):
    cli._write(path, b"two", force=False)
  cli._write(path, b"two", force=True)
  assert open(path, "rb").read() == b"two" and os.listdir(tmp_path) == ["out.bin"]
  mask = os.umask(0)
  os.umask(mask)
  assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask


def test_the_temporary_file_is_recognisable_and_synced_before_the_rename(tmp_path, monkeypatch):
  calls = []
  fsync, replace = os.fsync, os.replace
  monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}"))),
                                               fsync(fd))[1])
  monkeypatch.setattr(os, "replace", lambda a, b: (calls.append(("replace", os.path.basename(a))), replace(a, b))[1])
  cli._write(str(tmp_path / "out.png"), b"data", force=False)
  assert [c[0] for c in calls] == ["fsync", "replace", "fsync"]
  assert calls[0][1] is False and calls[2][1] is True  # the file, then the folder
  assert re.fullmatch(rf"\.out\.png\.jcomp-tmp-{os.getpid()}-\w+", calls[1][1]), calls


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch, error):
  path = tmp_path / "out.png"
  path.write_bytes(b"old")

  def fail(_):
    raise error
  monkeypatch.setattr(os, "fsync", fail)
  if isinstance(error, OSError):
    with pytest.raises(cli.CliError, match=f"^cannot write {re.escape(str(path))}: No space left on device$"):
      cli._write(str(path), b"new", force=True)
  else:
    with pytest.raises(KeyboardInterrupt):
      cli._write(str(path), b"new", force=True)
  assert os.listdir(tmp_path) == ["out.png"] and path.read_bytes() == b"old"


def test_a_write_over_the_file_size_limit_is_one_line_and_leaves_nothing(tmp_path):
  script = ("import sys\nfrom jcomp import cli\ntry:\n  cli._write(sys.argv[1], b'x' * 100000, False)\n"
            "except cli.CliError as e:\n  print(f'error: {e}', file=sys.stderr); sys.exit(1)")
  r = subprocess.run(["sh", "-c", 'ulimit -f 4 && exec "$0" "$@"', sys.executable, "-c", script,
                      str(tmp_path / "big.png")], capture_output=True, text=True, env=subprocess_env(), timeout=60,
                     check=False)  # at most 4 blocks of 512 or 1024 bytes
  assert r.returncode == 1 and r.stderr == f"error: cannot write {tmp_path / 'big.png'}: File too large\n", r
  assert os.listdir(tmp_path) == []


def test_unwritable_places_are_one_line_errors(tmp_path):
  (tmp_path / "file").write_bytes(b"")
  with pytest.raises(cli.CliError, match="^cannot create folder .*file: File exists$"):
    cli._write(str(tmp_path / "file" / "out.png"), b"x", force=False)
  if os.geteuid() == 0:
    return  # root writes anywhere: the permission case cannot happen
  (tmp_path / "ro").mkdir(mode=0o500)
  with pytest.raises(cli.CliError, match="^cannot write .*: Permission denied$"):
    cli._write(str(tmp_path / "ro" / "out.png"), b"x", force=False)


def test_check_target_is_also_usable_alone(tmp_path):
  with pytest.raises(output_files.OutputError, match="is a folder"):
    output_files.check_target(str(tmp_path), force=True)
  output_files.check_target(str(tmp_path / "new"), [str(tmp_path / "other")])
