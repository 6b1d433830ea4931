"""End-to-end tests for jcomp.eval.rd (and `jcomp eval`): the runner, its outputs, resuming and its errors."""

import csv
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from jcomp import cli
from jcomp.eval import rd

SWEEPS = {"jpeg420": [20, 80], "webp": [20, 80]}


def smooth_image(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
  """A smooth random uint8 (h, w, 3) image (upsampled coarse noise plus a little grain)."""
  rng = np.random.default_rng(seed)
  coarse = Image.fromarray(rng.uniform(0, 255, size=(h // 8, w // 8, 3)).astype(np.uint8))
  img = np.asarray(coarse.resize((w, h), Image.BICUBIC), np.float64)
  img = img + rng.normal(0, 3, size=img.shape)
  return np.clip(img, 0, 255).astype(np.uint8)


class FakeLearnedCodec:
  """Stands in for jcomp.coding.codec: keeps the top `bits` bits of each value, zlib-packed."""

  def __init__(self, spec: str):
    self.name = spec
    self.bits = {"fake-lo": 3, "fake-hi": 5}[spec]

  def compress(self, img: np.ndarray) -> tuple[bytes, dict]:
    h, w, _ = img.shape
    payload = zlib.compress((img >> (8 - self.bits)).astype(np.uint8).tobytes(), 9)
    data = struct.pack(">HH", h, w) + payload
    return data, {"bpp_est": 0.95 * 8 * len(data) / (h * w)}

  def decompress(self, data: bytes) -> np.ndarray:
    h, w = struct.unpack(">HH", data[:4])
    q = np.frombuffer(zlib.decompress(data[4:]), np.uint8).reshape(h, w, 3)
    return ((q.astype(np.int32) << (8 - self.bits)) + (1 << (7 - self.bits))).astype(np.uint8)


def fake_loader(spec: str) -> FakeLearnedCodec:
  if spec not in ("fake-lo", "fake-hi"):
    raise KeyError(f"no model {spec}")
  return FakeLearnedCodec(spec)


METHODS = ["jpeg420", "webp", "model:fake-lo", "model:fake-hi"]


@pytest.fixture
def image_dir(tmp_path):
  d = tmp_path / "images"
  d.mkdir()
  for i in range(2):
    Image.fromarray(smooth_image(seed=i)).save(d / f"img{i}.png")
  return d


def _rows(out_dir):
  with open(out_dir / "per_image.csv", newline="") as f:
    return list(csv.DictReader(f))


def test_run_eval_writes_rows_summary_table_and_plots(image_dir, tmp_path):
  out = tmp_path / "out"
  result = rd.run_eval(METHODS, str(image_dir), out, save=True, codec_loader=fake_loader,
                       qualities=SWEEPS, progress=False)
  rows = _rows(out)
  assert result.rows_written == len(rows) == 2 * (2 + 2 + 2)
  assert list(rows[0]) == list(rd.CSV_COLUMNS)
  assert {(r["method"], r["setting"]) for r in rows} == {
      ("jpeg420", "q20"), ("jpeg420", "q80"), ("webp", "q20"), ("webp", "q80"),
      ("fake", "lo"), ("fake", "hi")}
  for r in rows:
    assert (int(r["height"]), int(r["width"])) == (64, 96)
    assert 0.0 < float(r["ms_ssim"]) <= 1.0 and float(r["psnr"]) > 10
    assert (r["bpp_est"] == "") == (r["method"] != "fake")
  summary = json.loads((out / "summary.json").read_text())
  assert set(summary["methods"]) == {"jpeg420", "webp", "fake"}
  assert summary["methods"]["fake"]["kind"] == "learned"
  assert set(summary["methods"]["jpeg420"]["settings"]) == {"q20", "q80"}
  curve = summary["methods"]["jpeg420"]["curve"]
  assert len(curve["bpp"]) == len(curve["ms_ssim"]) == len(curve["n_images"]) > 0
  assert set(summary["bd_rate"]["ms_ssim_db"]) == {"jpeg420", "webp", "fake"}
  assert "### MS-SSIM (dB)" in (out / "bd_rate.md").read_text()
  for name in ("rd_ms_ssim.png", "rd_ms_ssim_db.png", "rd_psnr.png"):
    assert (out / name).stat().st_size > 1000
  assert (out / "recon" / "fake" / "lo" / "img0.png").is_file()
  assert (out / "recon" / "jpeg420" / "q80" / "img1.png").is_file()


def test_a_single_learned_model_is_in_the_bd_table_as_one_point(image_dir, tmp_path):
  out = tmp_path / "out"
  summary = rd.run_eval(["jpeg420", "model:fake-lo"], str(image_dir), out, codec_loader=fake_loader,
                        qualities=SWEEPS, progress=False).summary
  assert summary["bd_rate_points"]["fake"] == "one point"
  assert [p["method"] for p in summary["operating_points"]] == ["fake"]
  md = (out / "bd_rate.md").read_text()
  assert md.count("| fake lo | 1 pt: ") == 2  # MS-SSIM and PSNR tables
  assert "### Single operating points" in md


def test_rerun_adds_no_rows(image_dir, tmp_path):
  out = tmp_path / "out"
  rd.run_eval(METHODS, str(image_dir), out, codec_loader=fake_loader, qualities=SWEEPS,
              progress=False)
  before = (out / "per_image.csv").read_text()
  result = rd.run_eval(METHODS, str(image_dir), out, codec_loader=fake_loader, qualities=SWEEPS,
                       progress=False)
  assert result.rows_written == 0 and result.rows_present == 12
  assert (out / "per_image.csv").read_text() == before


def test_a_torn_last_row_is_dropped_and_redone(image_dir, tmp_path):
  out = tmp_path / "out"
  rd.run_eval(["jpeg420"], str(image_dir), out, qualities=SWEEPS, progress=False)
  text = (out / "per_image.csv").read_text()
  lines = text.splitlines(keepends=True)
  (out / "per_image.csv").write_text("".join(lines[:-1]) + lines[-1][:15])  # killed mid-row
  result = rd.run_eval(["jpeg420"], str(image_dir), out, qualities=SWEEPS, progress=False)
  assert result.rows_written == 1
  assert len(_rows(out)) == 4


def test_unreadable_images_are_skipped_and_counted(image_dir, tmp_path, capsys):
  (image_dir / "broken.png").write_bytes(b"this is not a png")
  result = rd.run_eval(["jpeg420"], str(image_dir), tmp_path / "out", qualities=SWEEPS,
                       progress=False)
  assert result.unreadable == ["broken.png"]
  assert {r["image"] for r in _rows(tmp_path / "out")} == {"img0.png", "img1.png"}
  assert "1 unreadable image(s) skipped: broken.png" in capsys.readouterr().err


def test_glob_and_max_images_select_images(image_dir, tmp_path):
  result = rd.run_eval(["jpeg420"], str(image_dir / "*.png"), tmp_path / "out",
                       qualities={"jpeg420": [50]}, max_images=1, progress=False)
  assert result.rows_written == 1
  assert _rows(tmp_path / "out")[0]["image"] == "img0.png"


def test_learned_model_names_split_into_method_and_setting():
  assert rd.split_model_name("mentzer2018-med") == ("mentzer2018", "med")
  assert rd.split_model_name("my_ckpt") == ("my_ckpt", "default")


def test_unknown_model_is_a_one_line_error(image_dir, tmp_path):
  with pytest.raises(rd.EvalError, match="'nonexistent'"):
    rd.run_eval(["model:nonexistent"], str(image_dir), tmp_path / "out", codec_loader=fake_loader)


def test_kodak_anchor_joins_the_tables_only_for_kodak_like_sets(tmp_path):
  d = tmp_path / "kodakish"
  d.mkdir()
  for i in range(2):
    Image.fromarray(smooth_image(seed=i)).save(d / f"kodim{i + 1:02d}.png")
  summary = rd.run_eval(["jpeg420"], str(d), tmp_path / "out", progress=False,
                        qualities={"jpeg420": [5, 30, 90]}).summary
  label = "Mentzer2018 (paper) on 24 Kodak images"  # measured on all 24, drawn against 2
  assert summary["methods"][label]["kind"] == "anchor"
  assert label in summary["bd_rate"]["ms_ssim_db"]
  assert label not in summary["bd_rate"]["psnr"]


def test_main_exits_nonzero_on_an_empty_image_set(tmp_path, capsys):
  (tmp_path / "empty").mkdir()
  code = cli.main(["eval", "--images", str(tmp_path / "empty"), "--out", str(tmp_path / "out"),
                   "--codecs=jpeg420"])
  err = capsys.readouterr().err.strip()
  assert code != 0
  assert err.startswith("error: No images found") and len(err.splitlines()) == 1


def test_main_exits_nonzero_on_an_unknown_codec(image_dir, tmp_path, capsys):
  code = cli.main(["eval", "--images", str(image_dir), "--out", str(tmp_path / "out"),
                   "--codecs=jpeg420,jpeg9000"])
  err = capsys.readouterr().err.strip()
  assert code != 0
  assert "Unknown codec(s) 'jpeg9000'" in err and "choices:" in err and len(err.splitlines()) == 1


def test_main_exits_nonzero_without_any_method(image_dir, tmp_path, capsys):
  code = cli.main(["eval", "--images", str(image_dir), "--out", str(tmp_path / "out"),
                   "--codecs=none"])
  assert code != 0
  assert "No method" in capsys.readouterr().err


def test_main_runs_a_sweep_given_on_the_command_line(image_dir, tmp_path):
  code = cli.main(["eval", "--images", str(image_dir), "--out", str(tmp_path / "out"), "--codecs=jpeg420",
                   "--sweep=jpeg420=10,60", "--no-progress"])
  assert code == 0
  assert {r["setting"] for r in _rows(tmp_path / "out")} == {"q10", "q60"}


def test_tfds_images_are_read_through_data_source(tmp_path, monkeypatch):
  import sys
  import types
  calls = []

  def data_source(name, split):
    calls.append((name, split))
    return [{"image": smooth_image(seed=3)}, {"image": smooth_image(seed=4)[..., :1]}]

  monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(data_source=data_source))
  refs = rd.image_refs("tfds:toy:validation")
  assert calls == [("toy", "validation")]
  assert [r.name for r in refs] == ["toy/validation/00000", "toy/validation/00001"]
  assert refs[1].load().shape == (64, 96, 3)
  result = rd.run_eval(["jpeg420"], "tfds:toy", tmp_path / "out", qualities={"jpeg420": [50]},
                       progress=False)
  assert result.rows_written == 2 and calls[-1] == ("toy", "test")


def test_a_retrained_model_under_the_same_name_is_refused_not_skipped(image_dir, tmp_path):
  out, ids = tmp_path / "out", {"fake-lo": b"\x01" * 16}

  def loader(spec):
    codec = fake_loader(spec)
    codec.model_id = ids[spec]
    return codec

  rd.run_eval(["model:fake-lo"], str(image_dir), out, codec_loader=loader, progress=False)
  assert json.loads((out / "models.json").read_text()) == {"fake/lo": "01" * 16}
  assert rd.run_eval(["model:fake-lo"], str(image_dir), out, codec_loader=loader,
                     progress=False).rows_present == 2  # the same model: resumes
  ids["fake-lo"] = b"\x02" * 16
  with pytest.raises(rd.EvalError, match="fake/lo written by model 0101.*this fake/lo is model 0202"):
    rd.run_eval(["model:fake-lo"], str(image_dir), out, codec_loader=loader, progress=False)
