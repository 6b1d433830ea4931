"""The importance map and latent channels of one image under a model (Mentzer et al. 2018, Fig. 6; Li et al.
2018, Fig. 5), for any jcomp model: Mentzer (eq. 14 map), Li (trimmed binary code) or no map.

  jcomp importance-figure --model=NAME_OR_WORKDIR --image=kodim15.png --out=importance.png

The map drawn is the number of channels the mask keeps per position (what the trimmed code codes: the rounded
map, Li et al.'s quantized levels), so a channel k is greyed exactly where it is dropped (k >= count).
"""

from __future__ import annotations

import math
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


def draw(codec, image: np.ndarray, path: str | pathlib.Path, image_name: str = "") -> None:
  """Writes the figure of a `jcomp.coding.codec.Codec` on an (H, W, 3) uint8 image to the PNG `path`."""
  r = codec.analyze(image)
  m = codec.config.model
  counts = np.asarray(r["counts"], np.float64) if codec.trimmed else None  # no map: all K kept
  kept = f", {np.mean(r['counts']) / m.num_channels:.0%} of {m.num_channels} channels kept"
  title = f"{codec.config.system} ({m.quantizer}, importance: {m.importance}{kept}): {image_name}"
  plot_importance_and_latents(image, counts, r["values"], path, title=title)


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
