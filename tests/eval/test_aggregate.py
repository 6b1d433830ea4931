"""Tests for jcomp.eval.aggregate: the paper's bpp-grid averaging."""

import math

import numpy as np
import pytest

from jcomp.eval import aggregate


def test_grid_is_the_multiples_of_the_step_inside_the_range():
  np.testing.assert_allclose(aggregate.bpp_grid(0.12, 0.31, 0.05), [0.15, 0.2, 0.25, 0.3])
  np.testing.assert_allclose(aggregate.bpp_grid(0.1, 0.2, 0.05), [0.1, 0.15, 0.2])
  assert aggregate.bpp_grid(0.11, 0.14, 0.05).size == 0


def test_image_curve_is_linear_between_points_and_nan_outside():
  grid = np.array([0.05, 0.1, 0.2, 0.3, 0.4])
  out = aggregate.interpolate_image_curve([0.3, 0.1], [0.9, 0.5], grid)
  np.testing.assert_allclose(out[1:4], [0.5, 0.7, 0.9])
  assert np.isnan(out[0]) and np.isnan(out[4])


def test_average_of_toy_curves_uses_only_covering_images():
  # Image a: metric = bpp on [0.1, 0.5]; image b: metric = 2·bpp on [0.2, 0.4].
  per_image = {
      "a": (np.array([0.1, 0.5]), {"m": np.array([0.1, 0.5])}),
      "b": (np.array([0.2, 0.3, 0.4]), {"m": np.array([0.4, 0.6, 0.8])}),
  }
  curve = aggregate.average_curves(per_image, step=0.05)
  np.testing.assert_allclose(curve.bpp, [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5])
  expected = [0.1, 0.15, 0.3, 0.375, 0.45, 0.525, 0.6, 0.45, 0.5]
  np.testing.assert_allclose(curve.values["m"], expected)
  np.testing.assert_array_equal(curve.n_images, [1, 1, 2, 2, 2, 2, 2, 1, 1])


def test_grid_points_covered_by_no_image_are_dropped_not_extrapolated():
  per_image = {
      "low": (np.array([0.1, 0.2]), {"m": np.array([1.0, 2.0])}),
      "high": (np.array([0.4, 0.5]), {"m": np.array([4.0, 5.0])}),
  }
  curve = aggregate.average_curves(per_image, step=0.05)
  np.testing.assert_allclose(curve.bpp, [0.1, 0.15, 0.2, 0.4, 0.45, 0.5])
  np.testing.assert_allclose(curve.values["m"], [1.0, 1.5, 2.0, 4.0, 4.5, 5.0])
  assert curve.n_images.tolist() == [1] * 6


def test_min_images_drops_thinly_covered_grid_points():
  per_image = {
      "a": (np.array([0.1, 0.5]), {"m": np.array([0.1, 0.5])}),
      "b": (np.array([0.2, 0.4]), {"m": np.array([0.4, 0.8])}),
  }
  curve = aggregate.average_curves(per_image, step=0.1, min_images=2)
  np.testing.assert_allclose(curve.bpp, [0.2, 0.3, 0.4])


def _rows():
  rows = []
  for image, scale in (("x.png", 1.0), ("y.png", 0.5)):
    for setting, bpp in (("q10", 0.1), ("q50", 0.3), ("q90", 0.5)):
      rows.append({"method": "codec", "setting": setting, "image": image, "bpp_real": str(bpp),
                   "bpp_est": "", "ms_ssim": str(0.9 + scale * bpp / 10), "psnr": str(30 + 10 * bpp),
                   "encode_s": "0.01", "decode_s": "0.02"})
  return rows


def test_aggregate_rows_averages_strings_from_the_csv_and_adds_ms_ssim_db():
  curves = aggregate.aggregate_rows(_rows(), step=0.1)
  curve = curves["codec"]
  assert curve.n_total == 2
  np.testing.assert_allclose(curve.bpp, [0.1, 0.2, 0.3, 0.4, 0.5])
  np.testing.assert_allclose(curve.values["psnr"], 30 + 10 * curve.bpp)
  np.testing.assert_allclose(curve.values["ms_ssim"], 0.9 + 0.75 * curve.bpp / 10)
  np.testing.assert_allclose(curve.values["ms_ssim_db"],
                             -10 * np.log10(1 - curve.values["ms_ssim"]), rtol=1e-5)


def test_setting_means_are_plain_means_over_images_ordered_by_rate():
  means = aggregate.setting_means(_rows())["codec"]
  assert list(means) == ["q10", "q50", "q90"]
  assert means["q50"]["bpp_real"] == pytest.approx(0.3)
  assert means["q50"]["ms_ssim"] == pytest.approx(0.9 + 0.75 * 0.03)
  assert means["q50"]["n_images"] == 2
  assert math.isnan(means["q50"]["bpp_est"])


def test_complete_keeps_the_grid_points_every_image_covers():
  # Image b stops at 0.4 bpp: past it the average is a's alone, and would jump if drawn as one curve.
  per_image = {
      "a": (np.array([0.1, 0.5]), {"m": np.array([0.1, 0.5])}),
      "b": (np.array([0.2, 0.4]), {"m": np.array([0.4, 0.8])}),
  }
  curve = aggregate.average_curves(per_image, step=0.1)
  assert curve.n_total == 2
  np.testing.assert_array_equal(curve.complete_mask(), [False, True, True, True, False])
  full = curve.complete()
  np.testing.assert_allclose(full.bpp, [0.2, 0.3, 0.4])
  np.testing.assert_allclose(full.values["m"], [0.3, 0.45, 0.6])
  assert full.to_json()["n_images_total"] == 2


def test_a_curve_of_unknown_image_count_is_complete_everywhere():
  curve = aggregate.Curve(np.array([0.1, 0.2]), {"m": np.array([1.0, 2.0])}, np.zeros(2, np.int64))
  assert curve.complete_mask().all() and "n_images_total" not in curve.to_json()
