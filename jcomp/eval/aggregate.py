"""Averaging per-image rate–distortion points into one curve per method (Mentzer et al. 2018, §4).

The paper's rule (after Rippel & Bourdev 2017): for each image, the (bpp, metric) points of one method
are sorted by bpp and interpolated linearly; the curves of all images are averaged on a fixed bpp grid,
where an image counts at a grid point only if its own bpp range covers it (no extrapolation). A grid
point covered by no image is dropped. Because each grid point may average a different subset of
images, `n_images` is returned with every curve: the ends of a curve often rest on few images, and where an
image drops out the average jumps (on 4 Kodak images JPEG's PSNR falls 1.1 dB past 1.6 bpp, where the
smoothest image's sweep ends). `Curve.complete()` keeps the grid points every image of the method covers;
tables and solid plot lines use only those.

MS-SSIM in dB is reported as `ms_ssim_db(mean MS-SSIM)` (the dB of the averaged curve), the same
transform that applies to published anchor curves, so that both compare on one scale.

Rows are dicts with at least `method`, `setting`, `image`, `bpp_real` and the metric columns (values
may be strings, as read from `per_image.csv`).
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from jcomp import metrics as metrics_lib

GRID_STEP_BPP = 0.05
CURVE_METRICS = ("ms_ssim", "psnr")
_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class Curve:
  """An averaged rate–distortion curve.

  Attributes:
    bpp: (G,) grid points in bits per original pixel, increasing.
    values: metric name → (G,) mean over the covering images.
    n_images: (G,) how many images cover each grid point.
    n_total: how many images the method has points on (None: unknown, e.g. a published curve, taken as
      complete everywhere).
  """
  bpp: np.ndarray
  values: dict[str, np.ndarray]
  n_images: np.ndarray
  n_total: int | None = None

  def complete_mask(self) -> np.ndarray:
    """(G,) bool: grid points that average all `n_total` images."""
    if self.n_total is None:
      return np.ones(self.bpp.shape, bool)
    return np.asarray(self.n_images) >= self.n_total

  def complete(self) -> "Curve":
    """The curve at the grid points every image covers (see `complete_mask`)."""
    keep = self.complete_mask()
    return Curve(self.bpp[keep], {k: v[keep] for k, v in self.values.items()}, self.n_images[keep],
                 self.n_total)

  def to_json(self) -> dict[str, Any]:
    out: dict[str, Any] = {"bpp": _floats(self.bpp), "n_images": [int(n) for n in self.n_images]}
    if self.n_total is not None:
      out["n_images_total"] = int(self.n_total)
    out.update({k: _floats(v) for k, v in self.values.items()})
    return out


def _floats(a: Iterable[float]) -> list[float | None]:
  return [round(float(v), 6) if math.isfinite(v) else None for v in a]


def bpp_grid(lo: float, hi: float, step: float = GRID_STEP_BPP) -> np.ndarray:
  """Multiples of `step` in [lo, hi], (G,) (empty if none)."""
  k0 = math.ceil(lo / step - _EPS)
  k1 = math.floor(hi / step + _EPS)
  return np.round(np.arange(k0, k1 + 1) * step, 10)


def interpolate_image_curve(bpp: Sequence[float], metric: Sequence[float],
                            grid: np.ndarray) -> np.ndarray:
  """One image's points linearly interpolated at `grid`.

  Args:
    bpp, metric: (N,) the image's points of one method, any order; points at equal bpp are averaged.
    grid: (G,) bpp values.
  Returns:
    (G,) metric at each grid point, NaN outside [min(bpp), max(bpp)] (no extrapolation).
  """
  bpp = np.asarray(bpp, np.float64)
  metric = np.asarray(metric, np.float64)
  xs, inverse = np.unique(bpp, return_inverse=True)
  ys = np.bincount(inverse, weights=metric) / np.bincount(inverse)
  out = np.interp(grid, xs, ys)
  inside = (grid >= xs[0] - _EPS) & (grid <= xs[-1] + _EPS)
  return np.where(inside, out, np.nan)


def average_curves(per_image: Mapping[str, tuple[Sequence[float], Mapping[str, Sequence[float]]]],
                   step: float = GRID_STEP_BPP, min_images: int = 1) -> Curve:
  """The paper's average of per-image curves on a bpp grid.

  Args:
    per_image: image → (bpp (N,), {metric: (N,)}) for one method.
    step: grid spacing in bpp; the grid is the multiples of `step` within the overall bpp range.
    min_images: drop grid points covered by fewer images (1: the paper's rule).
  Returns:
    The averaged Curve (`n_total` = the number of images); grid points with fewer than `min_images`
    covering images are left out.
  """
  names = sorted({m for _, vals in per_image.values() for m in vals})
  if not per_image:
    return Curve(np.zeros(0), {m: np.zeros(0) for m in names}, np.zeros(0, np.int64), 0)
  lo = min(float(np.min(b)) for b, _ in per_image.values())
  hi = max(float(np.max(b)) for b, _ in per_image.values())
  grid = bpp_grid(lo, hi, step)
  stacks = {m: [] for m in names}
  for bpp, vals in per_image.values():
    for m in names:
      stacks[m].append(interpolate_image_curve(bpp, vals[m], grid))
  covered = ~np.isnan(np.stack(stacks[names[0]])) if names else np.zeros((0, grid.size), bool)
  n = covered.sum(axis=0)
  keep = n >= max(min_images, 1)
  values = {}
  for m in names:
    s = np.stack(stacks[m])[:, keep]
    with np.errstate(invalid="ignore"):
      values[m] = np.nanmean(s, axis=0) if s.size else np.zeros(0)
  return Curve(grid[keep], values, n[keep], len(per_image))


def _float(v: Any) -> float:
  try:
    return float(v)
  except (TypeError, ValueError):
    return math.nan


def aggregate_rows(rows: Iterable[Mapping[str, Any]], metric_names: Sequence[str] = CURVE_METRICS,
                   step: float = GRID_STEP_BPP, bpp_key: str = "bpp_real",
                   min_images: int = 1) -> dict[str, Curve]:
  """Per method, the averaged curve of `metric_names` over images (rows with a non-finite value of
  bpp or of any metric are left out). Adds "ms_ssim_db" (dB of the mean MS-SSIM) when "ms_ssim" is
  among the metrics."""
  grouped: dict[str, dict[str, list[tuple[float, ...]]]] = collections.defaultdict(
      lambda: collections.defaultdict(list))
  for r in rows:
    point = (_float(r[bpp_key]),) + tuple(_float(r[m]) for m in metric_names)
    if all(math.isfinite(v) for v in point):
      grouped[r["method"]][r["image"]].append(point)
  curves = {}
  for method, images in grouped.items():
    per_image = {}
    for image, pts in images.items():
      a = np.asarray(pts)
      per_image[image] = (a[:, 0], {m: a[:, i + 1] for i, m in enumerate(metric_names)})
    curve = average_curves(per_image, step=step, min_images=min_images)
    if "ms_ssim" in curve.values:
      curve.values["ms_ssim_db"] = np.asarray(metrics_lib.ms_ssim_db(curve.values["ms_ssim"]))
    curves[method] = curve
  return curves


MEAN_COLUMNS = ("bpp_real", "bpp_est", "ms_ssim", "psnr", "encode_s", "decode_s")


def setting_means(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
  """Plain means over images per (method, setting).

  Returns:
    means[method][setting] = {column: mean over images (NaN-free values only; NaN if none)} for
    `MEAN_COLUMNS`, plus "ms_ssim_db" (dB of the mean MS-SSIM) and "n_images".
  """
  acc: dict[tuple[str, str], dict[str, list[float]]] = collections.defaultdict(
      lambda: collections.defaultdict(list))
  images: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
  for r in rows:
    key = (r["method"], r["setting"])
    images[key].add(r["image"])
    for c in MEAN_COLUMNS:
      v = _float(r.get(c))
      if math.isfinite(v):
        acc[key][c].append(v)
  means_by_key = {}
  for key in images:
    means = {c: (float(np.mean(acc[key][c])) if acc[key][c] else math.nan) for c in MEAN_COLUMNS}
    means["ms_ssim_db"] = (float(metrics_lib.ms_ssim_db(means["ms_ssim"]))
                           if math.isfinite(means["ms_ssim"]) else math.nan)
    means["n_images"] = len(images[key])
    means_by_key[key] = means
  out: dict[str, dict[str, dict[str, float]]] = {}
  # Methods by name, settings by increasing mean bpp.
  for key in sorted(means_by_key, key=lambda k: (k[0], _nan_last(means_by_key[k]["bpp_real"]), k[1])):
    out.setdefault(key[0], {})[key[1]] = means_by_key[key]
  return out


def _nan_last(v: float) -> float:
  return v if math.isfinite(v) else math.inf
