"""Figures of an RD evaluation: rate–distortion curves (as Mentzer et al. 2018, Fig. 1), for a paper.

Matplotlib with the Agg backend (no display needed). Functions take arrays and curves and write each figure
as PNG (300 dpi), PDF and SVG (text kept as text: TrueType in the PDF, editable in the SVG; no timestamps,
so a re-run writes the same vector files); they compute nothing about images themselves. Every method has
its own colour and marker:
  classical codecs  solid line through the bpp-grid average where all of the method's images contribute,
                    dotted where fewer do (an image's sweep ends: the average jumps there); markers about
                    every 0.25 bpp;
  learned methods   one marker per model at its per-setting mean, labelled with the setting (its rate),
                    joined by a line;
  published anchors dashed, with markers.
"""

from __future__ import annotations

import math
import pathlib
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.lines as mlines  # pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from jcomp import metrics as metrics_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from jcomp.eval.aggregate import Curve  # pylint: disable=g-import-not-at-top,wrong-import-position

MS_SSIM_FLOOR = 0.8
METRIC_LABELS = {"ms_ssim": "MS-SSIM", "ms_ssim_db": "MS-SSIM [dB]", "psnr": "PSNR [dB]"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
FORMATS = ("png", "pdf", "svg")
PNG_DPI = 300
MARKER_SPACING_BPP = 0.25
PARTIAL_LABEL = "dotted: average of fewer than all images"
_SAVE_OPTIONS = {"png": {"dpi": PNG_DPI}, "pdf": {"metadata": {"CreationDate": None}},
                 "svg": {"metadata": {"Date": None}}}
_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none", "svg.hashsalt": "jcomp"}


def spaced_indices(x: np.ndarray, keep: np.ndarray, spacing: float = MARKER_SPACING_BPP) -> list[int]:
  """Indices of points among `keep` at least `spacing` apart in x, greedily from the left: where markers go
  on a densely sampled curve."""
  out: list[int] = []
  for i in np.flatnonzero(keep):
    if not out or x[i] >= x[out[-1]] + spacing - 1e-9:
      out.append(int(i))
  return out


def _partial_segments(complete: np.ndarray) -> np.ndarray:
  """(G,) bool: points to draw dotted, the incomplete ones and their complete neighbours (joins the lines)."""
  partial = ~complete
  grown = partial.copy()
  grown[1:] |= partial[:-1]
  grown[:-1] |= partial[1:]
  return grown


def plot_rd(curves: Mapping[str, Curve], metric: str, path: str | pathlib.Path,
            kinds: Mapping[str, str] | None = None,
            setting_means: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
            title: str | None = None, bpp_max: float | None = 2.0,
            labels: Mapping[str, str] | None = None,
            formats: Sequence[str] | None = None) -> list[pathlib.Path]:
  """Writes a bpp-vs-`metric` figure with one line per method, once per format.

  Args:
    curves: method → averaged Curve (anchors included, as curves).
    metric: "ms_ssim", "ms_ssim_db" or "psnr"; methods without it are left out.
    path: output file; its suffix is replaced by each format's.
    kinds: method → "classical" | "learned" | "anchor" (default "classical").
    setting_means: method → setting → plain means (keys "bpp_real", metric); drawn as labelled markers joined
      by a line for learned methods (instead of their averaged curve) and for any method without a curve (so
      single-point methods appear too).
    title: figure title.
    bpp_max: x-axis limit in bpp (None: all data).
    labels: method → legend label (default the method name).
    formats: among "png", "pdf", "svg" (default `FORMATS`, read at each call).
  Returns:
    The files written, in the order of `formats`.
  """
  kinds = kinds or {}
  setting_means = setting_means or {}
  labels = labels or {}
  fig, ax = plt.subplots(figsize=(7, 5))
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  methods = sorted(set(curves) | set(setting_means),
                   key=lambda m: ({"anchor": 2, "learned": 1}.get(kinds.get(m, ""), 0), m))
  marker_ys = []  # learned and single-point methods' markers: the y floor never hides them
  any_partial = False
  for i, method in enumerate(methods):
    kind = kinds.get(method, "classical")
    style = {"color": colors[i % len(colors)], "marker": MARKERS[i % len(MARKERS)]}
    label = labels.get(method, method)
    curve = curves.get(method)
    drawn = False
    # A learned method is drawn through its per-setting means: with a few settings, the bpp-grid average
    # (each grid point over the images whose own range covers it) mixes different images at different bpp.
    if kind != "learned" and curve is not None and metric in curve.values and curve.bpp.size:
      x, y, complete = _clip(curve.bpp, curve.values[metric], curve.complete_mask(), bpp_max)
      if x.size:
        line = "--" if kind == "anchor" else "-"
        solid = np.where(complete, y, np.nan)
        if complete.any():
          ax.plot(x, solid, line, lw=1.4, ms=5, markevery=spaced_indices(x, complete), label=label, **style)
        if not complete.all():
          any_partial = True
          ax.plot(x, np.where(_partial_segments(complete), y, np.nan), ":", lw=1.0, color=style["color"],
                  label=None if complete.any() else label)
        drawn = True
    if (kind == "learned" or not drawn) and method in setting_means:
      pts = [(s["bpp_real"], s.get(metric, math.nan), name) for name, s in setting_means[method].items()]
      pts = sorted((b, v, n) for b, v, n in pts if math.isfinite(b) and math.isfinite(v)
                   and (bpp_max is None or b <= bpp_max))
      if pts:
        xs, ys, names = zip(*pts)
        marker_ys += ys
        ax.plot(xs, ys, "-", lw=1.4, ms=6, label=None if drawn else label, **style)
        for x, y, name in pts:
          if name != "default":
            ax.annotate(name, (x, y), xytext=(5, -5), textcoords="offset points", fontsize=7, va="top",
                        color=style["color"], bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none",
                                                    "alpha": 0.7})
  floor = min([MS_SSIM_FLOOR] + [y - 0.01 for y in marker_ys])
  if metric == "ms_ssim" and ax.get_ylim()[0] < floor:
    ax.set_ylim(bottom=floor)  # As Fig. 1: the low-rate tail of JPEG would flatten the rest.
  ax.set_xlabel("bpp (bits per original pixel)")
  ax.set_ylabel(METRIC_LABELS.get(metric, metric))
  if bpp_max is not None:
    ax.set_xlim(0, bpp_max)
  ax.grid(True, alpha=0.3)
  handles, _ = ax.get_legend_handles_labels()
  if any_partial:
    handles.append(mlines.Line2D([], [], color="0.4", ls=":", lw=1.0, label=PARTIAL_LABEL))
  if handles:
    ax.legend(handles=handles, fontsize=8, loc="lower right")
  if title:
    ax.set_title(title)
  fig.tight_layout()
  written = []
  with plt.rc_context(_RC):
    for fmt in FORMATS if formats is None else formats:
      out = pathlib.Path(path).with_suffix(f".{fmt}")
      fig.savefig(out, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
      written.append(out)
  plt.close(fig)
  return written


def _clip(x: np.ndarray, y: np.ndarray, complete: np.ndarray,
          bpp_max: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  keep = np.isfinite(y) & ((x <= bpp_max + 1e-9) if bpp_max is not None else True)
  return x[keep], y[keep], complete[keep]


def anchor_curve(bpp: np.ndarray, anchor_metrics: Mapping[str, np.ndarray]) -> Curve:
  """A published curve as a Curve (n_images unknown: 0, complete everywhere); adds "ms_ssim_db" if "ms_ssim"
  is given."""
  values = {k: np.asarray(v, np.float64) for k, v in anchor_metrics.items()}
  if "ms_ssim" in values and "ms_ssim_db" not in values:
    values["ms_ssim_db"] = np.asarray(metrics_lib.ms_ssim_db(values["ms_ssim"]), np.float64)
  return Curve(np.asarray(bpp, np.float64), values, np.zeros(len(bpp), np.int64))


def save_rd_plots(curves: Mapping[str, Curve], out_dir: str | pathlib.Path,
                  kinds: Mapping[str, str] | None = None,
                  setting_means: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                  metrics: Sequence[str] = ("ms_ssim", "ms_ssim_db", "psnr"),
                  title: str | None = None, labels: Mapping[str, str] | None = None,
                  formats: Sequence[str] | None = None) -> list[pathlib.Path]:
  """Writes `rd_<metric>.<format>` for each metric and format into `out_dir`; returns the paths."""
  out_dir = pathlib.Path(out_dir)
  paths = []
  for metric in metrics:
    paths += plot_rd(curves, metric, out_dir / f"rd_{metric}.png", kinds=kinds, setting_means=setting_means,
                     title=title, labels=labels, formats=formats)
  return paths
