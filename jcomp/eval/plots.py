"""Figures: rate–distortion curves (as Mentzer et al. 2018, Fig. 1) and latent/importance maps (Fig. 6).

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


def plot_importance_and_latents(image: np.ndarray, importance_map: np.ndarray | None,
                                latents: np.ndarray, path: str | pathlib.Path,
                                order: str = "index", show_mask: bool = True,
                                ncols: int | None = None, title: str | None = None) -> None:
  """Draws an image, its importance map and all latent channels (Mentzer et al. 2018, Fig. 6).

  With an importance map, channel k of the masked latent is kept where the importance exceeds k
  (eq. 14: m = clip(y − k, 0, 1), kept where ⌈m⌉ = 1), so in index order the channels get sparser
  with k; positions the mask drops are drawn grey when `show_mask`.

  Args:
    image: (H, W, 3) uint8 (or float in [0, 255]) RGB.
    importance_map: (h, w) importance y in channel units [0, K], or None (a model without one).
    latents: (h, w, K) latent values (quantized or not).
    path: output PNG.
    order: "index" (channel k at position k: the mask's order) or "std" (by decreasing spatial
      standard deviation, an ordering for models without an importance map).
    show_mask: grey out the positions where importance <= k (only with an importance map).
    ncols: channels per row (default 8 for K <= 32, else 16).
    title: figure title.
  """
  latents = np.asarray(latents, np.float64)
  if latents.ndim != 3:
    raise ValueError(f"latents must be (h, w, K), got {latents.shape}.")
  h, w, k = latents.shape
  if importance_map is not None:
    importance_map = np.asarray(importance_map, np.float64)
    if importance_map.shape != (h, w):
      raise ValueError(f"importance_map {importance_map.shape} does not match latents {(h, w)}.")
  if order == "index":
    channels = np.arange(k)
  elif order == "std":
    channels = np.argsort(-latents.reshape(-1, k).std(axis=0), kind="stable")
  else:
    raise ValueError(f"order must be 'index' or 'std', got {order!r}.")
  ncols = ncols or (8 if k <= 32 else 16)
  nrows = math.ceil(k / ncols)
  finite = latents[np.isfinite(latents)]
  vmin, vmax = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
  if vmax <= vmin:
    vmin, vmax = vmin - 0.5, vmax + 0.5

  tile = 1.6
  top = 2.6
  fig = plt.figure(figsize=(ncols * tile * w / max(h, w) + 0.5, top + nrows * tile * h / max(h, w)),
                   dpi=110)
  grid = fig.add_gridspec(2, 1, height_ratios=[top, nrows * tile * h / max(h, w)], hspace=0.15)
  head = grid[0].subgridspec(1, 2, wspace=0.1)
  ax = fig.add_subplot(head[0])
  ax.imshow(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
  ax.set_title("image", fontsize=9)
  ax.axis("off")
  ax = fig.add_subplot(head[1])
  if importance_map is not None:
    im = ax.imshow(importance_map, cmap="viridis", vmin=0, vmax=k)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    ax.set_title("importance map (channels kept)", fontsize=9)
  else:
    ax.set_title("no importance map", fontsize=9)
  ax.axis("off")

  cells = grid[1].subgridspec(nrows, ncols, wspace=0.05, hspace=0.25)
  cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.75")
  for slot, c in enumerate(channels):
    ax = fig.add_subplot(cells[slot // ncols, slot % ncols])
    channel = latents[:, :, c]
    if importance_map is not None and show_mask:
      channel = np.ma.masked_where(importance_map <= c, channel)
    ax.imshow(channel, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(f"{c}", fontsize=6, pad=1)
    ax.axis("off")
  if title:
    fig.suptitle(title, fontsize=10)
  fig.savefig(path, bbox_inches="tight")
  plt.close(fig)


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
