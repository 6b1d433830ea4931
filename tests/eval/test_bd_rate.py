"""Tests for jcomp.eval.bd_rate: PCHIP and the Bjøntegaard delta rate."""

import math

import numpy as np
import pytest

from jcomp.eval import bd_rate as bd

RATE = np.array([0.12, 0.25, 0.5, 0.9, 1.6])
METRIC = np.array([11.0, 13.5, 16.2, 18.9, 21.7])  # e.g. MS-SSIM dB, increasing with rate.


def test_bd_rate_of_a_curve_against_itself_is_zero():
  assert bd.bd_rate(RATE, METRIC, RATE, METRIC) == pytest.approx(0.0, abs=1e-12)


def test_bd_rate_of_the_same_curve_at_ninety_percent_rate_is_minus_ten_percent():
  assert bd.bd_rate(RATE, METRIC, 0.9 * RATE, METRIC) == pytest.approx(-10.0, abs=0.1)
  assert bd.bd_rate(RATE, METRIC, 1.25 * RATE, METRIC) == pytest.approx(25.0, abs=0.1)


def test_bd_rate_is_antisymmetric_in_log_rate():
  a = bd.bd_rate(RATE, METRIC, RATE * np.array([0.8, 0.85, 0.9, 0.95, 0.9]), METRIC)
  b = bd.bd_rate(RATE * np.array([0.8, 0.85, 0.9, 0.95, 0.9]), METRIC, RATE, METRIC)
  assert math.log1p(a / 100) == pytest.approx(-math.log1p(b / 100), abs=1e-12)


def test_bd_rate_only_integrates_over_the_overlapping_metric_range():
  # log rate linear in the metric, so PCHIP through any subset is exact. The test curve covers the
  # upper half of the metric range and is 20 % cheaper there; the lower half must not count.
  metric = np.linspace(10.0, 20.0, 9)
  rate = 0.05 * np.exp(0.3 * metric)
  test_rate = np.where(metric < 15.0, 0.5, 0.8) * rate
  assert bd.bd_rate(rate, metric, test_rate[4:], metric[4:]) == pytest.approx(-20.0, abs=1e-9)
  assert bd.bd_rate(rate, metric, test_rate, metric) < -20.0


def test_bd_rate_is_nan_without_overlap_or_with_a_single_point():
  assert math.isnan(bd.bd_rate(RATE, METRIC, RATE, METRIC + 100))
  assert math.isnan(bd.bd_rate(RATE, METRIC, RATE[:1], METRIC[:1]))


def test_bd_rate_ignores_order_and_non_finite_points():
  perm = np.array([3, 0, 4, 1, 2])
  rate = np.append(0.9 * RATE[perm], 2.0)
  metric = np.append(METRIC[perm], np.inf)
  assert bd.bd_rate(RATE, METRIC, rate, metric) == pytest.approx(-10.0, abs=0.1)


def test_pchip_matches_hand_computed_values():
  # x = 0..3, y = 0, 1, 1, 3: secants 1, 0, 2. Interior slopes are 0 (a zero secant neighbours each),
  # end slopes by the three-point rule: d0 = (3·1 − 1·0)/2 = 1.5, d3 = (3·2 − 1·0)/2 = 3.
  x = np.array([0.0, 1.0, 2.0, 3.0])
  y = np.array([0.0, 1.0, 1.0, 3.0])
  np.testing.assert_allclose(bd.pchip_slopes(x, y), [1.5, 0.0, 0.0, 3.0])
  # At t = 1/2 the Hermite weights are (1/2, h/8, 1/2, −h/8): 0.1875 + 0.5 = 0.6875 on [0, 1].
  np.testing.assert_allclose(bd.pchip_interpolate(x, y, [0.0, 0.5, 1.5, 2.5, 3.0]),
                             [0.0, 0.6875, 1.0, 1.625, 3.0])
  # ∫ over each interval = h (y0 + y1)/2 + h² (d0 − d1)/12: 0.625 + 1 + 1.75.
  assert bd.pchip_integral(x, y, 0.0, 3.0) == pytest.approx(3.375)


def test_pchip_reproduces_linear_data_and_its_integral():
  x = np.array([0.0, 0.5, 2.0, 3.5])
  y = 2.0 * x - 1.0
  xq = np.linspace(0.0, 3.5, 17)
  np.testing.assert_allclose(bd.pchip_interpolate(x, y, xq), 2.0 * xq - 1.0, atol=1e-12)
  assert bd.pchip_integral(x, y, 0.3, 2.7) == pytest.approx((2.7**2 - 2.7) - (0.3**2 - 0.3))


def test_pchip_preserves_monotonicity():
  x = np.array([0.0, 1.0, 1.2, 3.0, 3.1, 5.0])
  y = np.array([0.0, 0.1, 2.0, 2.05, 4.0, 4.1])
  values = bd.pchip_interpolate(x, y, np.linspace(0, 5, 2001))
  assert np.all(np.diff(values) >= -1e-12)


def test_pchip_matches_scipy_when_available():
  interpolate = pytest.importorskip("scipy.interpolate")
  rng = np.random.default_rng(0)
  for n in (2, 3, 6, 11):
    x = np.sort(rng.choice(200, n, replace=False)) / 9.0
    y = rng.normal(size=n)
    ref = interpolate.PchipInterpolator(x, y)
    xq = np.linspace(x[0], x[-1], 50)
    np.testing.assert_allclose(bd.pchip_interpolate(x, y, xq), ref(xq), atol=1e-10)
    assert bd.pchip_integral(x, y, x[0], x[-1]) == pytest.approx(ref.integrate(x[0], x[-1]))


def test_table_has_zero_diagonal_and_renders_nan_as_dash():
  table = bd.bd_rate_table({"a": (RATE, METRIC), "b": (0.9 * RATE, METRIC),
                            "c": (RATE, METRIC + 100)})
  assert table["a"]["a"] == 0.0
  assert table["b"]["a"] == pytest.approx(-10.0, abs=0.1)
  assert math.isnan(table["c"]["a"])
  md = bd.table_to_markdown(table, "MS-SSIM (dB)")
  assert "| b | -10.0 % | +0.0 % | – |" in md


def test_point_rate_delta_is_the_rate_difference_at_the_points_quality():
  # log rate linear in the metric: PCHIP is exact, so a point at 80 % of the curve's rate is −20 %.
  metric = np.linspace(10.0, 20.0, 6)
  rate = 0.05 * np.exp(0.3 * metric)
  q = 13.3
  assert bd.point_rate_delta(rate, metric, 0.8 * 0.05 * math.exp(0.3 * q), q) == pytest.approx(-20.0)
  assert math.isnan(bd.point_rate_delta(rate, metric, 0.1, 25.0))  # above the curve's quality range
  assert math.isnan(bd.point_rate_delta(rate[:1], metric[:1], 0.1, 10.0))  # no curve


def test_a_single_point_method_keeps_its_row_but_is_no_column():
  curves = {"a": (RATE, METRIC), "one": ([0.9 * 0.5], [16.2])}
  table = bd.bd_rate_table(curves)
  assert list(table) == ["a", "one"] and list(table["one"]) == ["a"]
  assert math.isnan(table["one"]["a"])
  points = bd.point_rate_table(curves)
  assert list(points) == ["one"] and points["one"]["a"] == pytest.approx(-10.0)
  md = bd.table_to_markdown(table, "MS-SSIM (dB)", points)
  assert "| one | 1 pt: -10.0 % |" in md and "| a | +0.0 % |" in md


def test_a_table_without_any_curve_to_compare_with_says_so():
  curves = {"one": ([0.3], [12.0])}
  md = bd.table_to_markdown(bd.bd_rate_table(curves), "PSNR (dB)", bd.point_rate_table(curves))
  assert md == "### PSNR (dB)\n\nNo curve of two or more points to compare one with.\n"
