"""Bjøntegaard delta rate (BD-rate) with monotone piecewise-cubic (PCHIP) interpolation.

BD-rate (Bjøntegaard, VCEG-M33, 2001) is the average relative rate difference between two
rate–distortion curves at equal quality: log(rate) is interpolated as a function of the metric for each
curve, both are integrated over the metric range where the curves overlap, and

    BD-rate = exp((∫ log R_test − ∫ log R_anchor) / (hi − lo)) − 1      (in percent),

so −10 % means the test method needs 10 % fewer bits than the anchor for the same quality. As in the
common modern implementations, the interpolant is the shape-preserving PCHIP (Fritsch & Carlson 1980,
with the three-point end slopes of Fritsch & Butland / SciPy's `PchipInterpolator`) instead of the
original cubic polynomial fit; it is integrated exactly. NumPy only.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Derivatives of the PCHIP interpolant at the knots.

  Args:
    x: (N,) strictly increasing knots, N >= 2.
    y: (N,) values.
  Returns:
    (N,) slopes d such that the cubic Hermite spline through (x, y, d) is monotone on every interval
    where the data are.
  """
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  h = np.diff(x)
  delta = np.diff(y) / h
  n = x.size
  if n == 2:
    return np.full(2, delta[0])
  d = np.zeros(n)
  # Interior: weighted harmonic mean of the neighbouring secants, 0 at local extrema.
  w1 = 2 * h[1:] + h[:-1]
  w2 = h[1:] + 2 * h[:-1]
  same_sign = delta[:-1] * delta[1:] > 0
  with np.errstate(divide="ignore", invalid="ignore"):
    hm = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
  d[1:-1] = np.where(same_sign, hm, 0.0)
  d[0] = _end_slope(h[0], h[1], delta[0], delta[1])
  d[-1] = _end_slope(h[-1], h[-2], delta[-1], delta[-2])
  return d


def _end_slope(h0: float, h1: float, m0: float, m1: float) -> float:
  """One-sided three-point slope, limited to keep the end interval monotone."""
  d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
  if np.sign(d) != np.sign(m0):
    return 0.0
  if np.sign(m0) != np.sign(m1) and abs(d) > abs(3 * m0):
    return 3 * m0
  return d


def pchip_interpolate(x: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
  """PCHIP interpolant through (x, y) evaluated at `xq` (clamped to [x[0], x[-1]]); shape of xq."""
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  d = pchip_slopes(x, y)
  xq = np.clip(np.asarray(xq, np.float64), x[0], x[-1])
  k = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, x.size - 2)
  h = x[k + 1] - x[k]
  t = (xq - x[k]) / h
  h00 = (1 + 2 * t) * (1 - t) ** 2
  h10 = t * (1 - t) ** 2
  h01 = t * t * (3 - 2 * t)
  h11 = t * t * (t - 1)
  return h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]


def pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
  """Exact ∫_lo^hi of the PCHIP interpolant through (x, y); x[0] <= lo <= hi <= x[-1]."""
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  d = pchip_slopes(x, y)
  h = np.diff(x)
  # Integral of each full interval: h (y0 + y1) / 2 + h² (d0 − d1) / 12.
  full = h * (y[:-1] + y[1:]) / 2 + h * h * (d[:-1] - d[1:]) / 12
  cumulative = np.concatenate([[0.0], np.cumsum(full)])

  def antiderivative(v: float) -> float:
    k = int(np.clip(np.searchsorted(x, v, side="right") - 1, 0, x.size - 2))
    t = (v - x[k]) / h[k]
    # Antiderivatives (in t) of the four Hermite basis functions.
    a00 = t - t**3 + t**4 / 2
    a10 = t**2 / 2 - 2 * t**3 / 3 + t**4 / 4
    a01 = t**3 - t**4 / 2
    a11 = -(t**3) / 3 + t**4 / 4
    part = y[k] * a00 + h[k] * d[k] * a10 + y[k + 1] * a01 + h[k] * d[k + 1] * a11
    return cumulative[k] + h[k] * part

  return antiderivative(hi) - antiderivative(lo)


def _log_rate_of_metric(rate, metric) -> tuple[np.ndarray, np.ndarray]:
  """(metric, log rate) sorted by metric, finite points with rate > 0 only, equal metrics merged."""
  rate = np.asarray(rate, np.float64).ravel()
  metric = np.asarray(metric, np.float64).ravel()
  if rate.shape != metric.shape:
    raise ValueError(f"rate and metric differ in length: {rate.size} vs {metric.size}.")
  ok = np.isfinite(rate) & np.isfinite(metric) & (rate > 0)
  m, inverse = np.unique(metric[ok], return_inverse=True)
  log_r = np.bincount(inverse, weights=np.log(rate[ok]), minlength=m.size)
  log_r /= np.maximum(np.bincount(inverse, minlength=m.size), 1)
  return m, log_r


def bd_rate(anchor_rate: Sequence[float], anchor_metric: Sequence[float],
            test_rate: Sequence[float], test_metric: Sequence[float]) -> float:
  """BD-rate of the test curve relative to the anchor, in percent.

  Args:
    anchor_rate, anchor_metric: the reference curve, (N,) rates (e.g. bpp; any positive unit, the
      same for both curves) and metric values (higher is better, e.g. PSNR or MS-SSIM in dB).
    test_rate, test_metric: the compared curve, (M,) each.
  Returns:
    Average rate difference at equal metric in percent (negative: the test method saves bits), or NaN
    where a curve has fewer than two distinct usable points or the metric ranges do not overlap.
  """
  ma, la = _log_rate_of_metric(anchor_rate, anchor_metric)
  mt, lt = _log_rate_of_metric(test_rate, test_metric)
  if ma.size < 2 or mt.size < 2:
    return math.nan
  lo, hi = max(ma[0], mt[0]), min(ma[-1], mt[-1])
  if not hi > lo:
    return math.nan
  diff = (pchip_integral(mt, lt, lo, hi) - pchip_integral(ma, la, lo, hi)) / (hi - lo)
  return float(np.expm1(diff) * 100.0)


def point_rate_delta(anchor_rate: Sequence[float], anchor_metric: Sequence[float], rate: float,
                     metric: float) -> float:
  """Rate difference of one operating point relative to a curve at equal quality, in percent.

  The one-point stand-in for BD-rate (which averages over a quality range and so needs two points):
  100 · (rate / R_anchor(metric) − 1), with log R_anchor PCHIP-interpolated in the metric as in `bd_rate`.

  Args:
    anchor_rate, anchor_metric: the reference curve, (N,) each.
    rate, metric: the point (same units).
  Returns:
    Percent (negative: the point needs fewer bits than the curve at its quality); NaN if the curve has
    fewer than two usable points or `metric` lies outside its range.
  """
  ma, la = _log_rate_of_metric(anchor_rate, anchor_metric)
  if ma.size < 2 or not (math.isfinite(rate) and math.isfinite(metric) and rate > 0):
    return math.nan
  if not ma[0] <= metric <= ma[-1]:
    return math.nan
  log_anchor = float(pchip_interpolate(ma, la, np.asarray(metric)))
  return float(np.expm1(math.log(rate) - log_anchor) * 100.0)


Curve = tuple[Sequence[float], Sequence[float]]


def n_points(curve: Curve) -> int:
  """Distinct usable points of a (rate, metric) curve: what BD-rate can use."""
  return int(_log_rate_of_metric(*curve)[0].size)


def bd_rate_table(curves: Mapping[str, Curve]) -> dict[str, dict[str, float]]:
  """BD-rate of every curve against every curve of at least two points.

  Args:
    curves: method name → (rate (N,), metric (N,)).
  Returns:
    table[test][anchor] = BD-rate (%) of `test` relative to `anchor` (0 on the diagonal, NaN where
    undefined), for every test method and the anchors with >= 2 points. A test method with a single point
    keeps its row, all NaN (see `point_rate_table`).
  """
  refs = [a for a in curves if n_points(curves[a]) >= 2]
  return {t: {a: (0.0 if a == t else bd_rate(*curves[a], *curves[t])) for a in refs} for t in curves}


def point_rate_table(curves: Mapping[str, Curve]) -> dict[str, dict[str, float]]:
  """For each single-point method, `point_rate_delta` against every curve of at least two points.

  Returns:
    table[point method][anchor] = % (NaN outside the anchor's quality range).
  """
  refs = [a for a in curves if n_points(curves[a]) >= 2]
  out = {}
  for t, (rate, metric) in curves.items():
    m, log_r = _log_rate_of_metric(rate, metric)
    if m.size == 1:
      out[t] = {a: point_rate_delta(*curves[a], float(np.exp(log_r[0])), float(m[0])) for a in refs}
  return out


def _cell(v: float) -> str:
  return "–" if not math.isfinite(v) else f"{v:+.1f} %"


def table_to_markdown(table: Mapping[str, Mapping[str, float]], title: str,
                      points: Mapping[str, Mapping[str, float]] | None = None) -> str:
  """A markdown table: one row per test method, one column per anchor; NaN shown as "–".

  Rows in `points` (single-point methods, `point_rate_table`) show "1 pt: " and the point's rate difference
  at equal quality instead of a BD-rate.
  """
  points = points or {}
  methods = list(table)
  anchors = list(next(iter(table.values()))) if table else []
  if not anchors:
    return (f"### {title}\n\nNo curve of two or more points to compare {', '.join(methods) or 'anything'} "
            "with.\n")
  lines = [f"### {title}", "",
           "| method \\ vs. | " + " | ".join(anchors) + " |",
           "| --- |" + " ---: |" * len(anchors)]
  for m in methods:
    if m in points:
      cells = [f"1 pt: {_cell(points[m].get(a, math.nan))}" for a in anchors]
    else:
      cells = [_cell(table[m][a]) for a in anchors]
    lines.append(f"| {m} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"
