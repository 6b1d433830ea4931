"""Figures of an RD evaluation: rate–distortion curves (as Mentzer et al. 2018, Fig. 1).

Matplotlib with the Agg backend (no display needed). Functions take arrays and curves and write PNGs;
they compute nothing about images themselves. Curve styles: classical codecs solid lines, learned
methods lines with markers at their per-setting mean points, published anchors dashed.
"""

from __future__ import annotations

import math
import pathlib
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from jcomp import metrics as metrics_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from jcomp.eval.aggregate import Curve  # pylint: disable=g-import-not-at-top,wrong-import-position

MS_SSIM_FLOOR = 0.8
METRIC_LABELS = {"ms_ssim": "MS-SSIM", "ms_ssim_db": "MS-SSIM [dB]", "psnr": "PSNR [dB]"}


def plot_rd(curves: Mapping[str, Curve], metric: str, path: str | pathlib.Path,
            kinds: Mapping[str, str] | None = None,
            setting_means: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
            title: str | None = None, bpp_max: float | None = 2.0) -> None:
  """Writes a bpp-vs-`metric` PNG with one line per method.

  Args:
    curves: method → averaged Curve (anchors included, as curves).
    metric: "ms_ssim", "ms_ssim_db" or "psnr"; methods without it are left out.
    path: output PNG.
    kinds: method → "classical" | "learned" | "anchor" (default "classical").
    setting_means: method → setting → plain means (keys "bpp_real", metric); drawn as markers joined by a
      line for learned methods (instead of their averaged curve) and for any method without a curve (so
      single-point methods appear too).
    title: figure title.
    bpp_max: x-axis limit in bpp (None: all data).
  """
  kinds = kinds or {}
  setting_means = setting_means or {}
  fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  methods = sorted(set(curves) | set(setting_means),
                   key=lambda m: ({"anchor": 2, "learned": 1}.get(kinds.get(m, ""), 0), m))
  marker_ys = []  # learned and single-point methods' markers: the y floor never hides them
  for i, method in enumerate(methods):
    kind = kinds.get(method, "classical")
    color = colors[i % len(colors)]
    curve = curves.get(method)
    style = {"anchor": "--", "learned": "-"}.get(kind, "-")
    labelled = False
    # A learned method is drawn through its per-setting means: with a few settings, the bpp-grid average
    # (each grid point over the images whose own range covers it) mixes different images at different bpp.
    if kind != "learned" and curve is not None and metric in curve.values and curve.bpp.size:
      x, y = _clip(curve.bpp, curve.values[metric], bpp_max)
      ax.plot(x, y, style, color=color, lw=1.6 if kind != "classical" else 1.2, label=method)
      labelled = True
    if (kind == "learned" or not labelled) and method in setting_means:
      pts = [(s["bpp_real"], s.get(metric, math.nan)) for s in setting_means[method].values()]
      pts = [(b, v) for b, v in pts if math.isfinite(b) and math.isfinite(v)
             and (bpp_max is None or b <= bpp_max)]
      if pts:
        xs, ys = zip(*sorted(pts))
        marker_ys += ys
        ax.plot(xs, ys, "o" if labelled else "o-", color=color, ms=6,
                label=None if labelled else method)
  floor = min([MS_SSIM_FLOOR] + [y - 0.01 for y in marker_ys])
  if metric == "ms_ssim" and ax.get_ylim()[0] < floor:
    ax.set_ylim(bottom=floor)  # As Fig. 1: the low-rate tail of JPEG would flatten the rest.
  ax.set_xlabel("bpp (bits per original pixel)")
  ax.set_ylabel(METRIC_LABELS.get(metric, metric))
  if bpp_max is not None:
    ax.set_xlim(0, bpp_max)
  ax.grid(True, alpha=0.3)
  if ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize=8, loc="lower right")
  if title:
    ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def _clip(x: np.ndarray, y: np.ndarray, bpp_max: float | None) -> tuple[np.ndarray, np.ndarray]:
  keep = np.isfinite(y) & ((x <= bpp_max + 1e-9) if bpp_max is not None else True)
  return x[keep], y[keep]


def anchor_curve(bpp: np.ndarray, anchor_metrics: Mapping[str, np.ndarray]) -> Curve:
  """A published curve as a Curve (n_images unknown: 0); adds "ms_ssim_db" if "ms_ssim" is given."""
  values = {k: np.asarray(v, np.float64) for k, v in anchor_metrics.items()}
  if "ms_ssim" in values and "ms_ssim_db" not in values:
    values["ms_ssim_db"] = np.asarray(metrics_lib.ms_ssim_db(values["ms_ssim"]), np.float64)
  return Curve(np.asarray(bpp, np.float64), values, np.zeros(len(bpp), np.int64))


def save_rd_plots(curves: Mapping[str, Curve], out_dir: str | pathlib.Path,
                  kinds: Mapping[str, str] | None = None,
                  setting_means: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                  metrics: Sequence[str] = ("ms_ssim", "ms_ssim_db", "psnr"),
                  title: str | None = None) -> list[pathlib.Path]:
  """Writes `rd_<metric>.png` for each metric into `out_dir`; returns the paths."""
  out_dir = pathlib.Path(out_dir)
  paths = []
  for metric in metrics:
    path = out_dir / f"rd_{metric}.png"
    plot_rd(curves, metric, path, kinds=kinds, setting_means=setting_means, title=title)
    paths.append(path)
  return paths
