"""Reporting of an RD evaluation: from the per-image rows (`rd.read_rows`) to the averaged curves (the paper's
bpp-grid rule, `aggregate.py`), published anchors, BD-rate tables (`bd_rate.py`) and plots (`plots.py`).

Writes into the evaluation's folder:
  summary.json    per method: averaged curve (bpp grid, mean MS-SSIM, MS-SSIM dB of it, mean PSNR,
                  n_images per grid point and n_images_total) and plain means per setting; anchors; the
                  BD-rate tables; single operating points against every curve.
  bd_rate.md      BD-rate of every method vs. every curve, on MS-SSIM dB and on PSNR, ready to paste: a
                  method with one point (one learned model) has its row, with its rate difference at equal
                  quality, and its own table of the curves' quality at its bpp; the caveats under the tables.
  rd_ms_ssim.*, rd_ms_ssim_db.*, rd_psnr.*   PNG, PDF and SVG (`plots.py`).
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
from jcomp.eval import points as points_lib

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
  """The points a method enters the BD-rate table with, and their source: its averaged curve at the grid
  points every image covers ("grid") where there are >= 2, else its per-setting means ("setting means"), else
  its single setting ("one point")."""
  if curve is not None and metric in curve.values:
    full = curve.complete()
    if full.bpp.size >= 2:
      return (full.bpp, full.values[metric]), "grid"
  if means:
    pts = [(s["bpp_real"], s.get(metric, math.nan)) for s in means.values()]
    pts = [p for p in pts if all(math.isfinite(v) for v in p)]
    if pts:
      b, v = zip(*sorted(pts))
      return (np.asarray(b), np.asarray(v)), ("setting means" if len(pts) >= 2 else "one point")
  return None, ""


def _labels(kinds: Mapping[str, str], curves: Mapping[str, aggregate.Curve],
            means: Mapping[str, Mapping[str, Any]], n_images: int) -> dict[str, str]:
  """Display names: a single-setting method with its setting ("mentzer2018-compact 0.30"), a method with
  points on fewer images than the evaluation with their count ("webp (3 of 4 images)")."""
  out = {}
  for method, kind in kinds.items():
    if kind == "anchor":
      continue
    label = method
    settings = list(means.get(method, {}))
    if len(settings) == 1 and settings[0] != "default":
      label = f"{method} {settings[0]}"
    n = curves[method].n_total if method in curves else None
    if n is not None and n < n_images:
      label += f" ({n} of {n_images} images)"
    if label != method:
      out[method] = label
  return out


def write_summaries(out_dir: str | os.PathLike, rows: Sequence[Mapping[str, str]], images: str = "",
                    anchors: Sequence[anchors_lib.Anchor] = ()) -> dict[str, Any]:
  """Writes summary.json, bd_rate.md and the RD plots into `out_dir`; returns the summary dict.

  Args:
    out_dir: the evaluation's folder.
    rows: every per-image row (`rd.read_rows`), earlier runs' included.
    images: the image spec, for titles and summary.json.
    anchors: published curves to add (`select_anchors`); labelled with the set they were measured on when
      that is not the evaluated set (`anchors.label_for`).
  """
  from jcomp.eval import plots  # pylint: disable=g-import-not-at-top  # matplotlib only when writing

  out_dir = pathlib.Path(out_dir)
  curves = aggregate.aggregate_rows(rows)
  means = aggregate.setting_means(rows)
  image_names = sorted({r["image"] for r in rows})
  n_images = len(image_names)
  dataset = _detect_dataset(images, image_names)
  kinds = {m: ("classical" if codecs_lib.is_codec_name(m) else "learned")
           for m in set(curves) | set(means)}
  all_curves = dict(curves)
  anchor_by_label = {}
  for a in anchors:
    label = anchors_lib.label_for(a, dataset, n_images)
    all_curves[label] = plots.anchor_curve(a.bpp, a.metrics)
    kinds[label] = "anchor"
    anchor_by_label[label] = a
  labels = _labels(kinds, curves, means, n_images)

  bd_points: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
  bd_sources: dict[str, str] = {}
  for metric in BD_METRICS:
    bd_points[metric] = {}
    for method in sorted(kinds, key=lambda m: ({"classical": 0, "learned": 1}.get(kinds[m], 2), m)):
      p, source = _bd_curve(all_curves.get(method), means.get(method), metric)
      if p is not None:
        bd_points[metric][method] = p
        bd_sources[method] = source
  bd_tables = {metric: bd_rate_lib.bd_rate_table(pts) for metric, pts in bd_points.items()}
  point_tables = {metric: bd_rate_lib.point_rate_table(pts) for metric, pts in bd_points.items()}
  comparisons = points_lib.compare(bd_points)
  unused = sorted(m for m in kinds if m not in bd_sources)

  summary = {
      "images": images,
      "n_images": n_images,
      "grid_step_bpp": aggregate.GRID_STEP_BPP,
      "methods": {},
      "bd_rate": {"convention": "bd_rate[metric][method][reference]: % rate of method vs reference; null for "
                                "a method with one point (see operating_points)",
                  **bd_tables},
      "bd_rate_points": bd_sources,
      "operating_points": comparisons,
  }
  for method in sorted(kinds):
    entry: dict[str, Any] = {"kind": kinds[method]}
    if method in labels:
      entry["label"] = labels[method]
    if method in all_curves:
      entry["curve"] = all_curves[method].to_json()
      if kinds[method] == "anchor":
        del entry["curve"]["n_images"]
    if method in means:
      entry["settings"] = means[method]
    src = anchor_by_label.get(method)
    if src is not None:
      entry["source"] = src.source
      entry["dataset"] = src.dataset
      entry["n_images"] = src.n_images
    summary["methods"][method] = entry
  summary = _json_safe(summary)
  (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
  notes = _notes(bd_sources, point_tables, anchor_by_label, unused, dataset, n_images)
  (out_dir / "bd_rate.md").write_text(_bd_markdown(bd_tables, point_tables, comparisons, labels, notes,
                                                   n_images, images))
  plots.save_rd_plots(all_curves, out_dir, kinds=kinds, setting_means=means, labels=labels,
                      title=f"{_display_name(images)} ({n_images} images)")
  return summary


def _display_name(images: str) -> str:
  """A short name for the image set: the folder's name, the glob's pattern, or the TFDS spec."""
  if not images or images.startswith("tfds:"):
    return images or "images"
  p = pathlib.PurePath(images)
  return p.name if p.name else images


def _notes(sources: Mapping[str, str], point_tables: Mapping[str, Mapping[str, Any]],
           anchors: Mapping[str, anchors_lib.Anchor], unused: Sequence[str], dataset: str,
           n_images: int) -> list[str]:
  """The caveats under the tables, one paragraph each."""
  notes = []
  via = [m for m, s in sources.items() if s == "setting means"]
  if via:
    notes.append(f"Entered with per-setting means (fewer than two grid points that all their images cover): "
                 f"{', '.join(via)}.")
  if any(row for table in point_tables.values() for row in table.values()):
    notes.append("\"1 pt\": the method has a single operating point (e.g. one learned model), and a BD-rate, "
                 "an average over a quality range, needs two. The cell is instead the point's rate relative "
                 "to the column's curve at the point's quality (log-rate PCHIP, as BD-rate), \"–\" where the "
                 "point lies outside that curve's range; \"Single operating points\" below gives each curve's "
                 "quality at the point's bpp.")
  for label, a in anchors.items():
    if label != a.label:
      measured = f"{a.n_images} {a.dataset.capitalize()} images" if a.n_images else "its own images"
      here = f"{n_images} {dataset.capitalize()} images" if dataset else f"these {n_images} images"
      notes.append(f"{a.label} is a published curve measured on {measured}, not on {here}: a guide, not a "
                   "like-for-like comparison.")
  if unused:
    notes.append(f"No finite point, left out: {', '.join(unused)}.")
  return notes


def _bd_markdown(tables: Mapping[str, Mapping[str, Mapping[str, float]]],
                 point_tables: Mapping[str, Mapping[str, Mapping[str, float]]],
                 comparisons: Sequence[Mapping[str, Any]], labels: Mapping[str, str], notes: Sequence[str],
                 n_images: int, images: str) -> str:
  parts = [
      "# BD-rate",
      "",
      f"Images: {_display_name(images)} ({n_images}). Cell = BD-rate of the row method relative to "
      "the column method (negative: the row method needs fewer bits for equal quality); log-rate PCHIP over the "
      "overlapping metric range; \"–\" where the ranges do not overlap. Curves are the paper's "
      f"bpp-grid averages ({aggregate.GRID_STEP_BPP} bpp grid) at the grid points where every image of the "
      "method contributes; MS-SSIM dB is the dB of the mean MS-SSIM.",
      "",
  ]
  for metric, table in tables.items():
    named = {labels.get(m, m): row for m, row in table.items()}
    points = {labels.get(m, m): row for m, row in point_tables.get(metric, {}).items()}
    parts.append(bd_rate_lib.table_to_markdown(
        named, {"ms_ssim_db": "MS-SSIM (dB)", "psnr": "PSNR (dB)"}.get(metric, metric), points))
  parts += [n + "\n" for n in notes]
  if comparisons:
    parts.append(points_lib.to_markdown(comparisons, labels))
  return "\n".join(parts)
