"""Tests for jcomp.eval.points: a single operating point against reference curves."""

import math

import numpy as np
import pytest

from jcomp.eval import points


def test_quality_at_is_linear_in_bpp_and_nan_outside_the_curve():
  assert points.quality_at([0.2, 0.4, 0.8], [10.0, 14.0, 16.0], 0.3) == pytest.approx(12.0)
  assert points.quality_at([0.8, 0.2, 0.4], [16.0, 10.0, 14.0], 0.6) == pytest.approx(15.0)
  assert math.isnan(points.quality_at([0.2, 0.4], [10.0, 14.0], 0.1))


def _curves():
  bpp = np.array([0.2, 0.4, 0.8])
  return {
      "ms_ssim_db": {"jpeg": (bpp, np.array([8.0, 10.0, 12.0])), "paper": (bpp, np.array([12.0, 14.0, 16.0])),
                     "model": (np.array([0.3]), np.array([11.0]))},
      "psnr": {"jpeg": (bpp, np.array([26.0, 30.0, 34.0])), "model": (np.array([0.3]), np.array([29.0]))},
  }


def test_compare_gives_each_references_quality_at_the_points_bpp_and_rate_at_its_quality():
  rows = points.compare(_curves())
  assert [(r["method"], r["reference"]) for r in rows] == [("model", "jpeg"), ("model", "paper")]
  jpeg, paper = rows
  assert jpeg["bpp"] == pytest.approx(0.3)
  assert jpeg["ms_ssim_db"]["reference_at_bpp"] == pytest.approx(9.0)
  assert jpeg["psnr"]["reference_at_bpp"] == pytest.approx(28.0)
  # JPEG reaches the point's 11 dB between 0.4 and 0.8 bpp, so the point needs fewer bits; the paper's curve
  # is at 11 dB below its range.
  assert jpeg["ms_ssim_db"]["rate_delta_pct"] < -25
  assert math.isnan(paper["ms_ssim_db"]["rate_delta_pct"])
  assert paper["ms_ssim_db"]["reference_at_bpp"] == pytest.approx(13.0)
  assert paper["psnr"]["value"] == 29.0 and math.isnan(paper["psnr"]["reference_at_bpp"])


def test_markdown_names_the_range_of_a_reference_that_does_not_reach_the_point():
  curves = _curves()
  curves["ms_ssim_db"]["model"] = (np.array([0.1]), np.array([7.0]))
  curves["psnr"]["model"] = (np.array([0.1]), np.array([29.0]))
  md = points.to_markdown(points.compare(curves), {"model": "model 0.10"})
  assert "| model 0.10 | 0.100 | 0.8005 (7.00 dB) | 29.00 | jpeg | – (curve: 0.20–0.80 bpp) |" in md


def test_no_single_point_method_gives_no_rows():
  curves = _curves()
  del curves["ms_ssim_db"]["model"], curves["psnr"]["model"]
  assert points.compare(curves) == []
