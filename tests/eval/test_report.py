"""Tests for jcomp.eval.report: from per-image rows to the BD-rate tables and their caveats (no codec run)."""

import json

import pytest

from jcomp.eval import anchors, report


def _row(method, setting, image, bpp, psnr, ms_ssim=None):
  ms_ssim = 1 - 10 ** (-(psnr - 14) / 10) if ms_ssim is None else ms_ssim  # any increasing map will do
  return {"method": method, "setting": setting, "image": image, "bpp_real": str(bpp), "bpp_est": "",
          "ms_ssim": str(ms_ssim), "psnr": str(psnr), "encode_s": "0.01", "decode_s": "0.01"}


def _sweep(method, image, bpps, psnr_of):
  return [_row(method, f"q{i}", image, b, psnr_of(b)) for i, b in enumerate(bpps)]


def test_bd_rates_use_only_the_bpp_range_that_all_images_cover(tmp_path):
  # Image "y" ends at 0.5 bpp. "better" equals "codec" wherever both images contribute and is far better on
  # "x" alone above 0.5 bpp: averaging there (the paper's rule) would credit it, the tables must not.
  rows = (_sweep("codec", "x", [0.1, 0.3, 0.5, 0.8, 1.0], lambda b: 25 + 10 * b)
          + _sweep("codec", "y", [0.1, 0.3, 0.5], lambda b: 30 + 10 * b)
          + _sweep("better", "x", [0.1, 0.3, 0.5, 0.8, 1.0], lambda b: 25 + 10 * b + 8 * (b > 0.6))
          + _sweep("better", "y", [0.1, 0.3, 0.5], lambda b: 30 + 10 * b))
  summary = report.write_summaries(tmp_path, rows)
  assert summary["bd_rate_points"]["better"] == "grid"
  assert summary["bd_rate"]["psnr"]["better"]["codec"] == pytest.approx(0.0, abs=1e-9)
  curve = summary["methods"]["codec"]["curve"]
  assert max(curve["bpp"]) == pytest.approx(1.0) and curve["n_images_total"] == 2  # all kept in the json


def test_a_single_learned_model_has_its_row_with_the_nearest_comparison(tmp_path):
  rows = []
  for image, shift in (("a", 0.0), ("b", 2.0)):
    rows += _sweep("jpeg420", image, [0.1, 0.3, 0.6, 1.0], lambda b, s=shift: 24 + 8 * b + s)
    rows.append(_row("mentzer2018-compact", "0.30", image, 0.3, 29.0 + shift))
  summary = report.write_summaries(tmp_path, rows)
  assert summary["bd_rate_points"]["mentzer2018-compact"] == "one point"
  assert summary["bd_rate"]["psnr"]["mentzer2018-compact"] == {"jpeg420": None}  # no BD-rate from one point
  [point] = summary["operating_points"]
  assert point["reference"] == "jpeg420" and point["bpp"] == pytest.approx(0.3)
  assert point["psnr"]["reference_at_bpp"] == pytest.approx(27.4)
  # JPEG's mean reaches the model's mean 30 dB at 0.625 bpp: the model needs 52 % fewer bits there.
  assert point["psnr"]["rate_delta_pct"] == pytest.approx(-52.0, abs=0.2)
  md = (tmp_path / "bd_rate.md").read_text()
  assert "| mentzer2018-compact 0.30 | 1 pt: -52.0 % |" in md
  assert "### Single operating points" in md and "| mentzer2018-compact 0.30 | 0.300 |" in md


def test_a_method_missing_images_says_how_many_it_has(tmp_path):
  rows = (_sweep("jpeg420", "a", [0.1, 0.5], lambda b: 24 + 8 * b)
          + _sweep("jpeg420", "b", [0.1, 0.5], lambda b: 25 + 8 * b)
          + _sweep("webp", "a", [0.1, 0.5], lambda b: 26 + 8 * b))
  summary = report.write_summaries(tmp_path, rows)
  assert summary["methods"]["webp"]["label"] == "webp (1 of 2 images)"
  assert "label" not in summary["methods"]["jpeg420"]


@pytest.mark.parametrize("n_images, caveat", [(3, True), (24, False)])
def test_the_kodak_anchor_carries_a_caveat_unless_all_24_images_were_evaluated(tmp_path, n_images, caveat):
  rows = []
  for i in range(n_images):
    rows += _sweep("jpeg420", f"kodim{i + 1:02d}.png", [0.1, 0.5, 1.0], lambda b: 24 + 8 * b)
  names = sorted({r["image"] for r in rows})
  summary = report.write_summaries(tmp_path, rows, "imgs", report.select_anchors("auto", "imgs", names))
  label = "Mentzer2018 (paper)" + (" on 24 Kodak images" if caveat else "")
  assert summary["methods"][label]["n_images"] == 24
  md = (tmp_path / "bd_rate.md").read_text()
  assert f"| {label} |" in md
  assert ("measured on 24 Kodak images, not on 3 Kodak images" in md) == caveat


def test_summary_json_is_strict_json(tmp_path):
  rows = [_row("jpeg420", "q1", "a", 0.2, 25.0), _row("mentzer2018-compact", "0.30", "a", 0.3, 27.0)]
  report.write_summaries(tmp_path, rows)
  text = (tmp_path / "summary.json").read_text()
  assert "NaN" not in text and "Infinity" not in text
  assert json.loads(text)["n_images"] == 1


def test_anchor_selection_by_name_and_auto():
  assert report.select_anchors("none", "kodak", []) == []
  assert [a.name for a in report.select_anchors("auto", "data/kodak", [])] == anchors.list_anchors()
  with pytest.raises(ValueError, match="Unknown anchor"):
    report.select_anchors("nope", "x", [])
