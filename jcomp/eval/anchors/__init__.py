"""Published rate–distortion curves ("anchors"), kept as data files with their source.

Each `<name>.csv` here starts with `#` comment lines: free text naming the source, then `# key: value`
lines (`label`, the method name used in plots and tables; `dataset`, e.g. "kodak"; `n_images`, how many images
of it the curve averages), then a CSV header
`bpp,<metric>[,<metric>...]` (metrics among `ms_ssim`, `psnr`) and one row per point. Anchors are
already averaged over their data set, so they enter plots and BD-rate tables as curves, never as
per-image rows. They are comparable only on the image set they were measured on: `label_for` says so in
the label of an anchor drawn against any other set (e.g. 4 of the 24 Kodak images).
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

_DIR = pathlib.Path(__file__).parent


@dataclasses.dataclass(frozen=True)
class Anchor:
  """One published curve.

  Attributes:
    name: file stem, e.g. "mentzer2018_kodak_msssim".
    label: method name in plots and tables, e.g. "Mentzer2018 (paper)".
    dataset: data set the curve was measured on, lower case (e.g. "kodak").
    n_images: how many images of `dataset` the curve averages (None if the file does not say).
    source: the free-text comment lines of the file.
    bpp: (N,) bits per pixel, increasing.
    metrics: metric name → (N,) values, e.g. {"ms_ssim": ...}.
  """
  name: str
  label: str
  dataset: str
  n_images: int | None
  source: str
  bpp: np.ndarray
  metrics: dict[str, np.ndarray]


def list_anchors() -> list[str]:
  """Names of the shipped anchors."""
  return sorted(p.stem for p in _DIR.glob("*.csv"))


def load_anchor(name: str) -> Anchor:
  """Reads anchor `name` (see `list_anchors`); ValueError if unknown."""
  path = _DIR / f"{name}.csv"
  if not path.is_file():
    raise ValueError(f"Unknown anchor {name!r}; choices: {', '.join(list_anchors())}.")
  meta, notes, rows, header = {}, [], [], None
  for line in path.read_text().splitlines():
    line = line.strip()
    if not line:
      continue
    if line.startswith("#"):
      text = line[1:].strip()
      key, sep, value = text.partition(":")
      if sep and key.strip() in ("label", "dataset", "n_images"):
        meta[key.strip()] = value.strip()
      else:
        notes.append(text)
    elif header is None:
      header = [h.strip() for h in line.split(",")]
    else:
      rows.append([float(v) for v in line.split(",")])
  if header is None or header[0] != "bpp" or not rows:
    raise ValueError(f"Anchor file {path.name} has no 'bpp,...' table.")
  table = np.asarray(rows, dtype=np.float64)
  order = np.argsort(table[:, 0])
  table = table[order]
  n_images = int(meta["n_images"]) if "n_images" in meta else None
  return Anchor(name=name, label=meta.get("label", name), dataset=meta.get("dataset", "").lower(),
                n_images=n_images, source=" ".join(notes), bpp=table[:, 0],
                metrics={h: table[:, i] for i, h in enumerate(header) if i > 0})


def anchors_for(dataset: str) -> list[Anchor]:
  """All anchors measured on `dataset` (case-insensitive)."""
  anchors = (load_anchor(n) for n in list_anchors())
  return [a for a in anchors if a.dataset == dataset.lower()]


def label_for(anchor: Anchor, dataset: str, n_images: int) -> str:
  """The anchor's label against an evaluation of `n_images` images of `dataset` ("" if unknown): its plain
  label on the very set it was measured on, else with that set named, e.g. "Mentzer2018 (paper) on 24 Kodak
  images"."""
  if anchor.dataset and dataset == anchor.dataset and n_images == anchor.n_images:
    return anchor.label
  count = f"{anchor.n_images} " if anchor.n_images else ""
  name = anchor.dataset.capitalize() + " " if anchor.dataset else ""
  return f"{anchor.label} on {count}{name}images"
