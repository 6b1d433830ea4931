"""Image files: the one lister and reader of the package (eval, training data, experiments, CLI, benchmarks).

`list_images(spec)` names the image files of a folder, a glob or a single file, sorted by path; `read_image`
(a file) and `decode_image` (encoded bytes) give (H, W, 3) uint8 RGB as the image is displayed (`to_rgb8`:
EXIF orientation applied, 16 bits scaled to 8, grayscale and palette expanded, alpha dropped; float images
refused), `read_image` after checking the header's size against the pixel limit (`jcomp.limits`). TFDS
sources (`tfds:NAME`) are not files: see `jcomp.data.sources` (training) and `jcomp.eval.rd.image_refs`
(evaluation).
"""

from __future__ import annotations

import glob
import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps

from jcomp import limits

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
_SIXTEEN_BIT_GRAY = ("I;16", "I;16L", "I;16B", "I;16N")
_MODES = ("RGB", "RGBX", "YCbCr", "RGBA", "1", "L", "LA", "P", "PA", "CMYK", "LAB", "HSV")  # via Image.convert


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


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
  """The image file at `path` as (H, W, 3) uint8 RGB (`to_rgb8`), warning on every conversion that changes
  what the pixels say (grayscale, 16 bits, alpha, CMYK, frames after the first).

  max_pixels: the pixel limit (`jcomp.limits.resolve`: None = $JCOMP_MAX_PIXELS or the default, 0 = none),
  checked against the size in the file's header before any pixel is decoded.
  Raises OSError (unreadable, truncated or not an image), limits.LimitError (over the pixel limit, or over
  Pillow's own decompression-bomb limit) or ValueError (a mode with no defined 8-bit RGB meaning).
  """
  image, notes = _load(path, max_pixels)
  for note in notes:
    warnings.warn(f"{path}: {note}")
  return image


def decode_image(data: bytes, max_pixels: int | None = limits.NO_LIMIT) -> np.ndarray:
  """Encoded image bytes (PNG, JPEG, WebP, ...) -> (H, W, 3) uint8 RGB, converted as `read_image` does but
  silently; no pixel limit by default (training records, codec outputs) beyond Pillow's own."""
  return _load(io.BytesIO(data), max_pixels)[0]


def _load(fp, max_pixels: int | None) -> tuple[np.ndarray, list[str]]:
  """Opens an image (header only), checks its size against the limit, then decodes and converts it."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below is jcomp's
    try:
      with Image.open(fp) as im:
        limits.check_pixels(im.height, im.width, max_pixels)
        return to_rgb8(im)
    except Image.DecompressionBombError as e:
      raise limits.LimitError(str(e)) from None
    except EOFError as e:  # some plugins' word for a truncated file
      raise OSError(f"truncated image: {e}") from None


def to_rgb8(im: Image.Image) -> tuple[np.ndarray, list[str]]:
  """An opened Pillow image -> ((H, W, 3) uint8 RGB, notes on what the conversion changed).

  EXIF orientation is applied (the array is the image as displayed). 16-bit samples are scaled to 8 bits
  (v * 255 / 65535, rounded; Pillow itself keeps the high byte of 16-bit RGB); mode I (32-bit int) is taken
  as 16-bit if every value is in [0, 65535] (Pillow's 16-bit PGM), else refused. Palette images are expanded.
  Alpha (RGBA, LA, PA, palette or colour-key transparency) is dropped, not composited: transparent pixels keep
  their stored colour. CMYK, LAB and HSV are converted by Pillow without colour management. Multi-frame files
  (GIF, TIFF pages, MPO) give their first frame. Raises ValueError for float images (mode F) and other modes.
  """
  notes = []
  frames = getattr(im, "n_frames", 1)
  if frames > 1:
    notes.append(f"{frames} frames: only the first is coded")
  deep = _has_16_bit_samples(im)  # from the tile descriptors, which loading clears
  im = ImageOps.exif_transpose(im)
  mode = im.mode
  if mode == "F":
    raise ValueError("floating-point image (mode F): no defined scaling to 8 bits; convert it first")
  if mode in _SIXTEEN_BIT_GRAY or mode == "I":
    values = np.asarray(im)
    if mode == "I" and values.size and (values.min() < 0 or values.max() > 0xFFFF):
      raise ValueError("32-bit integer image with values outside [0, 65535]: no defined scaling to 8 bits")
    gray = _scale_16_to_8(values)
    return np.repeat(gray[..., None], 3, axis=-1), notes + ["16-bit grayscale image scaled to 8 bits and "
                                                            "converted to RGB"]
  if mode not in _MODES:
    raise ValueError(f"unsupported image mode {mode}")
  if deep:
    notes.append("16-bit samples reduced to 8 bits")
  if mode in ("1", "L", "LA"):
    notes.append("grayscale image converted to RGB")
  elif mode in ("CMYK", "LAB", "HSV"):
    notes.append(f"{mode} image converted to RGB without colour management")
  if mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
    rgba = np.asarray(im.convert("RGBA"))
    if np.any(rgba[..., 3] != 255):
      notes.append("alpha channel dropped (transparent pixels keep their stored colour)")
    return np.ascontiguousarray(rgba[..., :3]), notes
  return np.asarray(im.convert("RGB")), notes


def _scale_16_to_8(values: np.ndarray) -> np.ndarray:
  """Ints in [0, 65535] (any shape) -> uint8 round(v * 255 / 65535)."""
  v = values.astype(np.uint32)
  return ((v * 255 + 32767) // 65535).astype(np.uint8)


def _has_16_bit_samples(im: Image.Image) -> bool:
  """Whether an unloaded image's file stores 16-bit samples that Pillow narrows to 8 on loading (16-bit RGB(A)
  PNG and TIFF: raw mode '...;16...'; PPM/PGM: maxval > 255)."""
  for tile in getattr(im, "tile", None) or ():
    codec, args = tile[0], tile[3]
    raw = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else None
    if isinstance(raw, str) and ";16" in raw:
      return True
    if codec == "ppm" and isinstance(args, tuple) and len(args) > 1 and isinstance(args[1], int) and args[1] > 255:
      return True
  return False
