"""Whether a parsed `.jcomp` header fits the model that is to decode it, checked before anything is allocated.

`bitstream.unpack` guarantees a well-formed header (every dim a uvarint < 2**64); this module guarantees that
decoding it costs what a real image of its size costs, no more: the declared image is within the pixel limit
(`jcomp.limits`), and every dim agrees with the model (system name, K channels, latent = padded image /
stride, padding < stride), and its tiling is one this codec writes (`jcomp.coding.tiling`: extras {"tile": T}
with MIN_TILE <= T <= MAX_TILE and T < max(h, w); without it, at most MAX_UNTILED_POSITIONS latent positions),
so the context model never holds more than a tile's volume of buffers. All arithmetic is on Python ints, so no
product can wrap (h * w = 2**64 + 1 stays 2**64 + 1). Pure Python; the codec calls `check_header` first thing
after the model id check, and `jcomp decompress` calls `check_header_for_config` (the model's config.json)
before it loads the model or JAX. The number of payloads (1 + tiles) is `check_payload_count`'s; the counts
payload is checked where it is read (`mask_counts.decode_counts`: counts <= K, occurrences summing to h * w).
"""

from __future__ import annotations

from jcomp import limits
from jcomp.coding import bitstream, tiling


STRIDE = 8  # pixels per latent position along each axis: the autoencoders' downsampling factor


class CodecError(ValueError):
  """A file that cannot be decoded by this model (wrong model, corrupt payload); `jcomp.coding.codec` raises it."""


class HeaderError(CodecError):
  """A well-formed header that does not describe an image this model wrote."""


def check_header(header: bitstream.Header, *, system: str, num_channels: int, stride: int = STRIDE,
                 max_pixels: int | None = None) -> tuple[int, int, int]:
  """Checks `header` against the model; returns the latent shape (K, h, w) as Python ints.

  Args:
    header: a parsed header (`bitstream.unpack`).
    system: the model's system name (config.system).
    num_channels: the model's latent channels K.
    stride: the autoencoder's downsampling factor (pixels per latent position along each axis).
    max_pixels: the pixel limit (`limits.resolve`: None = $JCOMP_MAX_PIXELS or the default, 0 = none).
  Raises:
    HeaderError: a dim that disagrees with the model, or a tiling out of range; limits.LimitError: an image
      over the pixel limit.
  """
  if header.system != system:
    raise HeaderError(f"file is for system {header.system!r}, this model is {system!r}")
  H, W, pb, pr = header.image_height, header.image_width, header.pad_bottom, header.pad_right
  limits.check_pixels(H, W, max_pixels, what="decoded image")
  shape = header.latent_shape
  if len(shape) != 3:
    raise HeaderError(f"latent shape has {len(shape)} dims, expected 3 (K, h, w)")
  K, h, w = shape
  if K != num_channels:
    raise HeaderError(f"latent has {K} channels, this model has {num_channels}")
  if not (pb < stride and pr < stride):
    raise HeaderError(f"padding ({pb}, {pr}) must be less than the stride {stride}")
  if (h * stride, w * stride) != (H + pb, W + pr):
    raise HeaderError(f"latent {h} x {w} does not match the padded image {H + pb} x {W + pr} / stride {stride}")
  check_tiling(header.extras.get("tile"), h, w)
  return K, h, w


def check_header_for_config(header: bitstream.Header, config: dict,
                            max_pixels: int | None = None) -> tuple[int, int, int]:
  """`check_header` against a model's stored config (config.json as a dict: its `system` and
  `model.num_channels`), so that a file is refused before the model, or JAX, is loaded."""
  return check_header(header, system=config["system"], num_channels=config["model"]["num_channels"],
                      max_pixels=max_pixels)


def check_payload_count(header: bitstream.Header, num_payloads: int) -> list[tuple[slice, slice]]:
  """The tiles of a checked header's latent (`tiling.grid`); HeaderError unless the file has one payload per
  tile after payload 0 (the counts)."""
  _, h, w = header.latent_shape
  tiles = tiling.grid(h, w, header.extras.get("tile"))
  if num_payloads != 1 + len(tiles):
    raise HeaderError(f"header does not fit this model (latent shape {header.latent_shape}, {len(tiles)} "
                      f"tiles, {num_payloads} payloads)")
  return tiles


def check_tiling(tile: int | None, h: int, w: int) -> None:
  """Raises HeaderError unless `tile` (the header's extras["tile"], None if absent) is how `jcomp.coding.codec`
  tiles an h x w latent: None for at most MAX_UNTILED_POSITIONS positions, else MIN_TILE <= tile <= MAX_TILE
  and tile < max(h, w) (a latent of at most `tile` a side is one volume, written without the entry)."""
  if tile is None:
    if h * w > tiling.MAX_UNTILED_POSITIONS:
      raise HeaderError(f"untiled latent of {h} x {w} = {h * w:,} positions exceeds {tiling.MAX_UNTILED_POSITIONS:,}"
                        " (a file this large is tiled)")
  elif not tiling.MIN_TILE <= tile <= tiling.MAX_TILE:
    raise HeaderError(f"tile {tile} must be in [{tiling.MIN_TILE}, {tiling.MAX_TILE}] latents")
  elif not tiling.is_tiled(h, w, tile):
    raise HeaderError(f"tile {tile} for a latent of {h} x {w}: a latent of at most the tile a side is untiled")
