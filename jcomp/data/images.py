"""Image files: the one lister and reader of the package (eval, training data, experiments, CLI, benchmarks).

`list_images(spec)` names the image files of a folder, a glob or a single file, sorted by path; `read_image`
(a file) and `decode_image` (encoded bytes) give (H, W, 3) uint8 RGB whatever the file's mode: grayscale and
palette images are converted, an alpha channel is dropped. TFDS sources (`tfds:NAME`) are not files: see
`jcomp.data.sources` (training) and `jcomp.eval.rd.image_refs` (evaluation).
"""

from __future__ import annotations

import glob
import io
import os
import warnings

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
_GRAYSCALE_MODES = ("L", "LA", "I", "I;16", "1")


def _is_image(path: str) -> bool:
  return os.path.isfile(path) and path.lower().endswith(IMAGE_SUFFIXES)


def list_images(spec: str, max_images: int | None = None, recursive: bool = False) -> list[str]:
  """The image files named by `spec`, sorted by path; [] if none.

  Args:
    spec: a folder (its files with an `IMAGE_SUFFIXES` suffix; with `recursive`, its subfolders' too), a glob
      (`**` matches subfolders; files without an image suffix are left out) or a single file (taken as is).
    max_images: keep only the first N.
    recursive: also list a folder's subfolders.
  Returns:
    Paths as strings, starting with `spec`'s folder as given.
  """
  if any(ch in spec for ch in "*?["):
    paths = [p for p in glob.glob(spec, recursive=True) if _is_image(p)]
  elif os.path.isdir(spec):
    if recursive:
      paths = [os.path.join(root, f) for root, _, files in os.walk(spec) for f in files]
    else:
      paths = [os.path.join(spec, f) for f in os.listdir(spec)]
    paths = [p for p in paths if _is_image(p)]
  elif os.path.isfile(spec):
    paths = [spec]
  else:
    paths = []
  return sorted(paths)[:max_images]


def _to_rgb(im: Image.Image) -> np.ndarray:
  return np.asarray(im.convert("RGB"))


def read_image(path: str | os.PathLike) -> np.ndarray:
  """The image file at `path` as (H, W, 3) uint8 RGB; warns when it converts grayscale or drops alpha.

  Raises OSError (unreadable or not an image) or ValueError (a mode Pillow cannot convert).
  """
  with Image.open(path) as im:
    if im.mode in _GRAYSCALE_MODES:
      warnings.warn(f"{path}: grayscale image converted to RGB")
    elif im.mode == "RGBA":
      warnings.warn(f"{path}: RGBA image, alpha channel dropped")
    return _to_rgb(im)


def decode_image(data: bytes) -> np.ndarray:
  """Encoded image bytes (PNG, JPEG, WebP, ...) -> (H, W, 3) uint8 RGB, converted silently."""
  with Image.open(io.BytesIO(data)) as im:
    return _to_rgb(im)
