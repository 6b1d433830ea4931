"""`jcomp compress / decompress` on several files: a progress bar on a terminal only, -q for silence, and a
default output name that never is the original image."""

import io

import pytest
from PIL import Image

from jcomp import cli, config_lib, zoo
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import fast_compilation, random_variables


class _Terminal(io.StringIO):
  def isatty(self):
    return True


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  c = config_lib.base()
  c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 4, 8, 1, 1
  c.model.upsample, c.model.context.features = "subpixel", 8
  return zoo.save(c, random_variables(c, 0), str(tmp_path_factory.mktemp("model")), dtype="float32")


def _images(folder, n=2):
  paths = []
  for i in range(n):
    paths.append(str(folder / f"im{i}.png"))
    Image.fromarray(synthetic_image(i, 16, 24)).save(paths[-1])
  return paths


def test_several_files_show_a_progress_bar_on_a_terminal_only(model_dir, tmp_path, monkeypatch, capsys):
  paths = _images(tmp_path)
  with fast_compilation():
    assert cli.main(["compress", f"--model={model_dir}", *paths]) == 0  # captured stderr: not a terminal
    out, err = capsys.readouterr()
    assert out.count(".jcomp: ") == 2 and err == ""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert cli.main(["decompress", f"--model={model_dir}", *[p[:-4] + ".jcomp" for p in paths]]) == 0
    assert "/2 [" in terminal.getvalue() and "file" in terminal.getvalue()  # tqdm: n/2 [elapsed, rate]
    assert capsys.readouterr().out.count("_decoded.png: 24x16") == 2
    terminal.truncate(0)
    assert cli.main(["compress", f"--model={model_dir}", "-q", "--force", *paths]) == 0
    assert terminal.getvalue() == "" and capsys.readouterr().out == ""  # -q: no bar, no lines
    assert cli.main(["compress", f"--model={model_dir}", paths[0], "--force"]) == 0
    assert terminal.getvalue() == ""  # one file: no bar


def test_decompress_never_defaults_to_the_original_image(model_dir, tmp_path, capsys):
  photo = _images(tmp_path, 1)[0]
  original = open(photo, "rb").read()
  with fast_compilation():
    assert cli.main(["compress", f"--model={model_dir}", photo]) == 0
    assert cli.main(["decompress", str(tmp_path / "im0.jcomp"), f"--model={model_dir}"]) == 0
  assert open(photo, "rb").read() == original
  assert Image.open(tmp_path / "im0_decoded.png").size == (24, 16)
  assert "im0.jcomp -> " in capsys.readouterr().out


def test_target_bpp_options_are_checked_before_any_work(tmp_path, capsys):
  photo = _images(tmp_path, 1)[0]
  assert cli.main(["compress", "--model=x", "--strict", photo]) == 1
  assert cli.main(["compress", "--target-bpp=0", photo]) == 1
  assert cli.main(["compress", "--target-bpp=0.3", "--family=nope", photo]) == 1
  errors = capsys.readouterr().err.splitlines()
  assert errors[0] == "error: --strict and --family choose among models for --target-bpp: pass --target-bpp"
  assert errors[1] == "error: --target-bpp must be positive, got 0.0"
  assert errors[2].startswith("error: unknown model family 'nope'; choose one of ['mentzer2018-compact'")
  with pytest.raises(SystemExit):
    cli.main(["compress", "--model=x", "--target-bpp=0.3", photo])  # argparse: one or the other
  assert not list(tmp_path.glob("*.jcomp"))
