"""Tiles of the latent, so that coding an image takes memory bounded by the tile size, not by the image.

  latent (h, w) ─split each axis into ceil(n / T) near-equal runs─> tiles (th, tw) <= (T, T), raster order

Context model (part of the format): a tiled file codes each tile's symbol volume (K, th, tw) as an independent
volume, its own payload; the context restarts at every tile border. The header records T (extras {"tile": T})
only when the latent is tiled, max(h, w) > T; a latent of at most T a side is one volume, as before tiling.
Near-equal runs (`split`) leave no sliver tiles and give at most two tile sizes per axis (one for a
6000 x 4000 image at T = 128: 125 x 125 latents), so at most four step coders compile. The restart costs rate
in proportion to the share s of positions on an interior tile border, 1-1.7 s (`benchmarks/large_image.py`):
0 on Kodak at the default T (one volume); forced on the 24 Kodak images, +1.0 % at T = 64 (s = 1.0 %) and
+3.9 % at T = 32 (s = 3.6 %); +1.3 % on a 2048 x 2048 crop of an upscaled photo at T = 128 (s = 0.8 %), so
~2 % for 6000 x 4000 (s = 1.3 %). A larger T costs less rate and more memory (the step coder's, ~1.5 KB a
latent position at its peak: 0.7 GiB at 125 x 125 x 32).

Networks (not part of the format): the analysis and synthesis transforms run on windows that overlap by a
margin covering their receptive field (`encoder_margin`, `decoder_margin`, from the model config), and each
keeps its window's tile; every window of an image has the same shape (`windows`: shifted inward at the
image's borders), so each network compiles once. With the whole receptive field inside the window, a tile's
outputs are those of the whole image up to float rounding: no seam.

Pure Python (no NumPy, no JAX): `header_check` validates a file's tiling with it before anything is allocated.
"""

from __future__ import annotations

import math

MIN_TILE = 32             # latents (256 px): smaller tiles cost rate, and decode steps (a time bomb) per pixel
MAX_TILE = 256            # latents (2048 px): bounds the step coder's buffers (K * 256 * 256 positions)
DEFAULT_TILE = 128        # latents (1024 px): Kodak (64 x 96) and images up to 1024 x 1024 stay one volume
MAX_UNTILED_POSITIONS = 1 << 17  # h * w of an untiled file: 8,388,608 px, the old default pixel limit


def split(n: int, tile: int) -> list[tuple[int, int]]:
  """[0, n) into k = ceil(n / tile) runs (start, stop) of near-equal length (the first n mod k one longer)."""
  k = max(1, -(-n // tile))
  q, r = divmod(n, k)
  stops = [(i + 1) * q + min(i + 1, r) for i in range(k)]
  return list(zip([0] + stops[:-1], stops))


def is_tiled(h: int, w: int, tile: int) -> bool:
  """Whether a latent of h x w positions is coded in tiles of side `tile` (else as one volume)."""
  return max(h, w) > tile


def grid(h: int, w: int, tile: int | None) -> list[tuple[int, int, int, int]]:
  """The tiles (r0, r1, c0, c1) of an h x w latent in raster order; `tile` None: one tile, the whole latent."""
  if tile is None or not is_tiled(h, w, tile):
    return [(0, h, 0, w)]
  return [(r0, r1, c0, c1) for r0, r1 in split(h, tile) for c0, c1 in split(w, tile)]


def windows(n: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
  """One axis of a network's tiling: (out_start, out_stop, win_start, win_stop) per run of `split(n, tile)`
  (one run [0, n) if n <= tile). Every window has the same length S = min(longest run + 2 margin, n) and holds
  its run with `margin` positions on each side, or up to the axis' end (a window is shifted inward there)."""
  runs = split(n, tile) if n > tile else [(0, n)]
  size = min(max(b - a for a, b in runs) + 2 * margin, n)
  out = []
  for a, b in runs:
    start = min(max(a - margin, 0), n - size)
    out.append((a, b, start, start + size))
  return out


def _stack_convs(model_config) -> tuple[int, int]:
  """(convolutions of the residual stack, their kernel radius): the stack runs at 1/4 resolution."""
  m = model_config
  return 2 * m.num_blocks * m.units_per_block + 1, m.kernel_size // 2


def encoder_margin(model_config) -> int:
  """Latents of context each side that cover the analysis receptive field (importance map included).

  In pixels: conv k5 s2 (2), conv k5 s2 at 1/2 (4), the stack at 1/4 (4 n r), conv k5 s2 at 1/4 (8), Li's
  importance conv k3 s2 at 1/4 (4), and up to 7 more from a pixel's place in its latent's 8 x 8 block: 8 for
  the shipped compact models, whose measured reach is 6 (7 with random weights: tests/coding/test_tiling.py)."""
  n, r = _stack_convs(model_config)
  return math.ceil((2 + 4 + 4 * n * r + 8 + 4 + 7) / 8)


def decoder_margin(model_config) -> int:
  """Latents of context each side that cover the synthesis receptive field.

  In latents, an upsampling of kernel k reaching k // 2 input pixels each side (a sub-pixel conv's reach; a
  transposed conv's is k / 4): up k3 from the latent (1), the stack at 1/4 (n r / 2), up k5 at 1/4 (1),
  up k5 at 1/2 (1 / 2): 7 for the shipped compact models, whose measured reach is 5.75 (benchmarks/large_image.py
  prints both; 6-7 with random weights)."""
  n, r = _stack_convs(model_config)
  return math.ceil(1 + n * r / 2 + 1 + 1 / 2)
