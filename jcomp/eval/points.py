"""Single operating points against reference curves: how a method with one point (one learned model) is
reported, since a BD-rate needs a curve on both sides.

For a point (bpp, quality) and a reference curve (bpp (N,), quality (N,)) the comparison is the reference's
quality at the point's bpp (linear in bpp, as the grid average is) and the point's rate difference at equal
quality (`bd_rate.point_rate_delta`). Qualities are the BD-rate metrics: MS-SSIM dB and PSNR dB.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from jcomp.eval import bd_rate as bd_rate_lib

Curve = tuple[Sequence[float], Sequence[float]]


def quality_at(bpp: Sequence[float], quality: Sequence[float], at: float) -> float:
  """The curve's quality at `at` bpp, linear between its points; NaN outside [min bpp, max bpp]."""
  b = np.asarray(bpp, np.float64)
  q = np.asarray(quality, np.float64)
  ok = np.isfinite(b) & np.isfinite(q)
  b, q = b[ok], q[ok]
  if b.size == 0 or not b.min() - 1e-9 <= at <= b.max() + 1e-9:
    return math.nan
  order = np.argsort(b)
  return float(np.interp(at, b[order], q[order]))


def compare(curves: Mapping[str, Mapping[str, Curve]]) -> list[dict[str, Any]]:
  """Every single-point method against every reference curve (>= 2 points of some metric).

  Args:
    curves: metric → method → (bpp (N,), quality (N,)), as entered in the BD-rate tables.
  Returns:
    One dict per (point method, reference), in the order of `curves`: "method", "reference", "bpp" and per
    metric {"value", "reference_at_bpp", "reference_bpp_range" ([lo, hi] or None), "rate_delta_pct"} (NaN
    where the reference lacks the metric or the point is outside its range).
  """
  points: dict[str, tuple[float, dict[str, float]]] = {}
  refs: list[str] = []
  for metric, by_method in curves.items():
    for method, c in by_method.items():
      n = bd_rate_lib.n_points(c)
      if n == 1:
        b, q = (float(np.asarray(v, np.float64)[0]) for v in c)
        points.setdefault(method, (b, {}))[1][metric] = q
      elif n >= 2 and method not in refs:
        refs.append(method)
  out = []
  for method, (b, values) in points.items():
    for ref in refs:
      row: dict[str, Any] = {"method": method, "reference": ref, "bpp": b}
      for metric, q in values.items():
        ref_curve = curves[metric].get(ref)
        entry = {"value": q, "reference_at_bpp": math.nan, "reference_bpp_range": None,
                 "rate_delta_pct": math.nan}
        if ref_curve is not None and bd_rate_lib.n_points(ref_curve) >= 2:
          rb = np.asarray(ref_curve[0], np.float64)
          entry.update(reference_at_bpp=quality_at(*ref_curve, b),
                       reference_bpp_range=[float(np.nanmin(rb)), float(np.nanmax(rb))],
                       rate_delta_pct=bd_rate_lib.point_rate_delta(*ref_curve, b, q))
        row[metric] = entry
      out.append(row)
  return out


def _ms_ssim(db: float) -> str:
  if not math.isfinite(db):
    return "–"
  return f"{1.0 - 10.0 ** (-db / 10.0):.4f} ({db:.2f} dB)"


def _db(v: float) -> str:
  return f"{v:.2f}" if math.isfinite(v) else "–"


def _at(entry: Mapping[str, Any] | None, fmt) -> str:
  """The reference's quality at the point's bpp; outside its range, the range it has."""
  if entry is None or entry["reference_bpp_range"] is None:
    return "–"
  if math.isfinite(entry["reference_at_bpp"]):
    return fmt(entry["reference_at_bpp"])
  lo, hi = entry["reference_bpp_range"]
  return f"– (curve: {lo:.2f}–{hi:.2f} bpp)"


def to_markdown(rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str] | None = None) -> str:
  """The comparisons as a markdown table: the point's bpp and quality, and each reference's quality at that
  bpp (outside its range: the range). `labels`: method → name to show (e.g. with its setting)."""
  labels = labels or {}
  lines = ["### Single operating points", "",
           "| method | bpp | MS-SSIM | PSNR (dB) | reference | reference MS-SSIM at this bpp | "
           "reference PSNR (dB) at this bpp |",
           "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
  for r in rows:
    ms, ps = r.get("ms_ssim_db"), r.get("psnr")
    lines.append(f"| {labels.get(r['method'], r['method'])} | {r['bpp']:.3f} | "
                 f"{_ms_ssim(ms['value']) if ms else '–'} | {_db(ps['value']) if ps else '–'} | "
                 f"{labels.get(r['reference'], r['reference'])} | {_at(ms, _ms_ssim)} | {_at(ps, _db)} |")
  return "\n".join(lines) + "\n"
