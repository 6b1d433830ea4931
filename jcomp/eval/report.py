"""Reporting of an RD evaluation: from the per-image rows (`rd.read_rows`) to the averaged curves (the paper's
bpp-grid rule, `aggregate.py`), published anchors, BD-rate tables (`bd_rate.py`) and plots (`plots.py`).

Writes into the evaluation's folder:
  summary.json    per method: averaged curve (bpp grid, mean MS-SSIM, MS-SSIM dB of it, mean PSNR,
                  n_images) and plain means per setting; anchors; the BD-rate tables.
  bd_rate.md      BD-rate of every method vs. every other, on MS-SSIM dB and on PSNR.
  rd_ms_ssim.png, rd_ms_ssim_db.png, rd_psnr.png
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
from typing import Any, Mapping, Sequence

import numpy as np

from jcomp.eval import aggregate
from jcomp.eval import anchors as anchors_lib
from jcomp.eval import bd_rate as bd_rate_lib
from jcomp.eval import codecs as codecs_lib

BD_METRICS = ("ms_ssim_db", "psnr")


def _detect_dataset(images: str, image_names: Sequence[str]) -> str:
  """"kodak" if the set looks like Kodak (its name says so, or every file is kodimNN), else ""."""
  if "kodak" in images.lower():
    return "kodak"
  if image_names and all(re.match(r"kodim\d+\.", pathlib.PurePath(n).name) for n in image_names):
    return "kodak"
  return ""


def select_anchors(anchors: str, images: str, image_names: Sequence[str]) -> list[anchors_lib.Anchor]:
  """The published curves to report: `anchors` is "auto" (those of the data set, detected from `images` and
  the image names), "none", or comma-separated anchor names. Raises ValueError on an unknown name."""
  if anchors == "none":
    return []
  if anchors == "auto":
    dataset = _detect_dataset(images, image_names)
    return anchors_lib.anchors_for(dataset) if dataset else []
  return [anchors_lib.load_anchor(n.strip()) for n in anchors.split(",") if n.strip()]


def _json_safe(v: Any) -> Any:
  if isinstance(v, float):
    return v if math.isfinite(v) else None
  if isinstance(v, dict):
    return {k: _json_safe(x) for k, x in v.items()}
  if isinstance(v, (list, tuple)):
    return [_json_safe(x) for x in v]
  return v


def _bd_curve(curve: aggregate.Curve | None, means: Mapping[str, Mapping[str, float]] | None,
              metric: str) -> tuple[tuple[np.ndarray, np.ndarray] | None, str]:
  """The points a method enters the BD-rate table with: its averaged curve where it has >= 2 grid
  points, else its per-setting means."""
  if curve is not None and metric in curve.values and curve.bpp.size >= 2:
    return (curve.bpp, curve.values[metric]), "grid"
  if means:
    pts = [(s["bpp_real"], s.get(metric, math.nan)) for s in means.values()]
    pts = [p for p in pts if all(math.isfinite(v) for v in p)]
    if len(pts) >= 2:
      b, v = zip(*sorted(pts))
      return (np.asarray(b), np.asarray(v)), "setting means"
  return None, ""


def write_summaries(out_dir: str | os.PathLike, rows: Sequence[Mapping[str, str]], images: str = "",
                    anchors: Sequence[anchors_lib.Anchor] = ()) -> dict[str, Any]:
  """Writes summary.json, bd_rate.md and the RD plots into `out_dir`; returns the summary dict.

  Args:
    out_dir: the evaluation's folder.
    rows: every per-image row (`rd.read_rows`), earlier runs' included.
    images: the image spec, for titles and summary.json.
    anchors: published curves to add (`select_anchors`).
  """
  from jcomp.eval import plots  # pylint: disable=g-import-not-at-top  # matplotlib only when writing

  out_dir = pathlib.Path(out_dir)
  curves = aggregate.aggregate_rows(rows)
  means = aggregate.setting_means(rows)
  kinds = {m: ("classical" if codecs_lib.is_codec_name(m) else "learned")
           for m in set(curves) | set(means)}
  all_curves = dict(curves)
  for a in anchors:
    all_curves[a.label] = plots.anchor_curve(a.bpp, a.metrics)
    kinds[a.label] = "anchor"

  bd_tables, bd_sources = {}, {}
  for metric in BD_METRICS:
    pts = {}
    for method in sorted(kinds, key=lambda m: ({"classical": 0, "learned": 1}.get(kinds[m], 2), m)):
      p, source = _bd_curve(all_curves.get(method), means.get(method), metric)
      if p is not None:
        pts[method] = p
        bd_sources[method] = source
    bd_tables[metric] = bd_rate_lib.bd_rate_table(pts)

  n_images = len({r["image"] for r in rows})
  summary = {
      "images": images,
      "n_images": n_images,
      "grid_step_bpp": aggregate.GRID_STEP_BPP,
      "methods": {},
      "bd_rate": {"convention": "bd_rate[metric][method][reference]: % rate of method vs reference",
                  **bd_tables},
      "bd_rate_points": bd_sources,
  }
  for method in sorted(kinds):
    entry: dict[str, Any] = {"kind": kinds[method]}
    if method in all_curves:
      entry["curve"] = all_curves[method].to_json()
      if kinds[method] == "anchor":
        del entry["curve"]["n_images"]
    if method in means:
      entry["settings"] = means[method]
    src = next((a for a in anchors if a.label == method), None)
    if src is not None:
      entry["source"] = src.source
      entry["dataset"] = src.dataset
    summary["methods"][method] = entry
  summary = _json_safe(summary)
  (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
  (out_dir / "bd_rate.md").write_text(_bd_markdown(bd_tables, bd_sources, n_images, images))
  plots.save_rd_plots(all_curves, out_dir, kinds=kinds, setting_means=means,
                      title=f"{_display_name(images)} ({n_images} images)")
  return summary


def _display_name(images: str) -> str:
  """A short name for the image set: the folder's name, the glob's pattern, or the TFDS spec."""
  if not images or images.startswith("tfds:"):
    return images or "images"
  p = pathlib.PurePath(images)
  return p.name if p.name else images


def _bd_markdown(tables: Mapping[str, Mapping[str, Mapping[str, float]]],
                 sources: Mapping[str, str], n_images: int, images: str) -> str:
  parts = [
      "# BD-rate",
      "",
      f"Images: {_display_name(images)} ({n_images}). Cell = BD-rate of the row method relative to "
      "the column method (negative: the row method needs fewer bits for equal quality); log-rate PCHIP over the "
      "overlapping metric range; \"–\" where the ranges do not overlap. Curves are the paper's "
      "bpp-grid averages (methods with fewer than two grid points enter with their per-setting "
      "means); MS-SSIM dB is the dB of the mean MS-SSIM.",
      "",
  ]
  for metric, table in tables.items():
    parts.append(bd_rate_lib.table_to_markdown(
        table, {"ms_ssim_db": "MS-SSIM (dB)", "psnr": "PSNR (dB)"}.get(metric, metric)))
  via = [m for m, s in sources.items() if s == "setting means"]
  if via:
    parts.append(f"Entered with per-setting means: {', '.join(via)}.\n")
  return "\n".join(parts)
