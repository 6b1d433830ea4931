"""The pixel limit: the largest image (H * W pixels) jcomp reads, codes or decodes, checked before allocating.

A `.jcomp` file of 70 bytes can declare a 16384 x 16384 image (all importance counts 0 cost no bits), and an
image file's header can declare any size: both are refused here, from the declared size alone, before any
array of image size exists. The same limit guards the encoder (image files, arrays) and the decoder (file
headers, `jcomp.coding.header_check`).

Default: 2**26 = 67,108,864 pixels (8192 x 8192; a 24 MP 6000 x 4000 photo fits). Pillow's MAX_IMAGE_PIXELS is
89.5 MP (an error at twice that). Until the codec worked in tiles the default was 2**23: the decoder needed
~1 KB a pixel (+1.06 GB peak RSS for 1024 x 1024 with the shipped compact model). Now the networks and the
context model run a tile at a time (`jcomp.coding.tiling`) and only the image, its symbols and the output grow
with it, a few bytes a pixel over a fixed ~1-2 GB (`benchmarks/large_image.py`), so the default is set by
time (minutes for 67 MP on 2 cores), not memory. Raise it (or 0: no limit) with the `max_pixels` arguments,
`--max-pixels` or the environment variable JCOMP_MAX_PIXELS.
Arithmetic on Python ints: no overflow whatever the declared dims.
"""

from __future__ import annotations

import os

DEFAULT_MAX_PIXELS = 1 << 26
ENV_VAR = "JCOMP_MAX_PIXELS"
NO_LIMIT = 0


class LimitError(ValueError):
  """An image larger than the pixel limit, or a limit that is not a non-negative integer."""


def resolve(max_pixels: int | None = None) -> int:
  """The limit in force: `max_pixels` if given, else $JCOMP_MAX_PIXELS if set, else DEFAULT_MAX_PIXELS.
  0 (NO_LIMIT) means no limit. Raises LimitError on a negative or non-integer value."""
  source = "max_pixels"
  if max_pixels is None:
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
      return DEFAULT_MAX_PIXELS
    source = ENV_VAR
    try:
      max_pixels = int(raw)
    except ValueError:
      raise LimitError(f"{ENV_VAR} must be a non-negative integer (0: no limit), got {raw!r}") from None
  if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 0:
    raise LimitError(f"{source} must be a non-negative integer (0: no limit), got {max_pixels!r}")
  return max_pixels


def check_pixels(height: int, width: int, max_pixels: int | None = None, what: str = "image") -> None:
  """Raises LimitError if height * width (any non-negative ints) exceeds the limit in force (`resolve`)."""
  limit = resolve(max_pixels)
  pixels = int(height) * int(width)
  if limit != NO_LIMIT and pixels > limit:
    raise LimitError(f"{what} of {width} x {height} = {pixels:,} pixels exceeds the limit of {limit:,} "
                     f"(raise it with --max-pixels or {ENV_VAR}; 0: no limit)")


def check_array(image, max_pixels: int | None = None) -> None:
  """`check_pixels` on an (H, W, ...) array's first two dims (anything of fewer dims is left to the caller)."""
  shape = getattr(image, "shape", None)
  if shape is not None and len(shape) >= 2:
    check_pixels(shape[0], shape[1], max_pixels)
