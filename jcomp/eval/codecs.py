"""Classical image codecs for rate–distortion comparisons, behind one small interface.

Each codec is an object with a `name`, a `qualities` sweep (chosen to cover about 0.1–2 bpp on
Kodak-like 768x512 images), `encode(img, quality) -> bytes` on uint8 (H, W, 3) RGB and `decode(data)
-> uint8 (H, W, 3)`. The bytes are the whole file as the library writes it (container included), so
`8 * len(data) / (H * W)` is an honest bpp. Settings, chosen to be each codec's fair best-effort lossy
mode rather than a library default that cripples it:

| name      | library                       | mode                                                     |
| --------- | ----------------------------- | -------------------------------------------------------- |
| jpeg420   | Pillow / libjpeg(-turbo)      | baseline, `subsampling=2` (4:2:0), standard Huffman tables |
| jpeg444   | Pillow / libjpeg(-turbo)      | baseline, `subsampling=0` (4:4:4)                        |
| jpeg2000  | Pillow / OpenJPEG             | raw codestream, 9/7 wavelet + ICT (`irreversible`, `mct`), |
|           |                               | `quality_mode="rates"`; the sweep value is target bpp    |
| webp      | Pillow / libwebp              | lossy, `method=4` (default)                              |
| avif      | Pillow (built with libavif)   | 4:2:0, `speed=6` (default)                               |
| hevc      | pillow_heif / libheif + x265  | HEIF (HEVC intra, as BPG), 4:2:0                          |
| hevc444   | pillow_heif / libheif + x265  | as `hevc` with 4:4:4 chroma (BPG as Mentzer et al. ran it) |
| jxl       | pillow_jxl plugin (libjxl)    | lossy VarDCT, `effort=7`                                 |

JPEG XL needs the optional `codecs` extra (`pip install 'jcomp[codecs]'`: the pillow-jxl-plugin wheel, which
bundles libjxl); everything else comes with jcomp's own dependencies. Availability is checked by a real round
trip of a tiny image, once per process; `available_codecs()` prints a one-line notice for each codec that
does not work here (with the install command where one helps) and leaves it out.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import sys
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from jcomp.data.images import decode_image

CODEC_NAMES = ("jpeg420", "jpeg444", "jpeg2000", "webp", "avif", "hevc", "hevc444", "jxl")
INSTALL_HINTS = {"jxl": "pip install 'jcomp[codecs]'"}  # codecs behind an optional extra


class CodecUnavailableError(RuntimeError):
  """A known codec whose library or plugin is not installed or does not work here."""


@dataclasses.dataclass(frozen=True)
class ImageCodec:
  """A classical codec at a sweep of quality settings.

  Attributes:
    name: short id used on the command line and in result files (e.g. "jpeg420").
    qualities: the settings swept by the evaluation, increasing in rate.
    description: one line for listings and plots.
    setting_format: formats a quality as the `setting` string in result files.
  """
  name: str
  qualities: tuple[float, ...]
  description: str
  _encode: Callable[[np.ndarray, Any], bytes]
  _decode: Callable[[bytes], np.ndarray]
  setting_format: str = "q{}"

  def setting(self, quality) -> str:
    """The `setting` column for `quality`, e.g. "q50" or "0.25bpp"."""
    return self.setting_format.format(quality)

  def encode(self, img: np.ndarray, quality) -> bytes:
    """uint8 (H, W, 3) RGB → the codec's file bytes at `quality`."""
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] != 3:
      raise ValueError(f"{self.name}: expected uint8 (H, W, 3), got {img.dtype} {img.shape}.")
    return self._encode(np.ascontiguousarray(img), quality)

  def decode(self, data: bytes) -> np.ndarray:
    """File bytes → uint8 (H, W, 3) RGB."""
    return self._decode(data)


def _pillow_encoder(fmt: str, quality_key: str = "quality",
                    **fixed: Any) -> Callable[[np.ndarray, Any], bytes]:
  def encode(img: np.ndarray, quality) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format=fmt, **{quality_key: quality}, **fixed)
    return buf.getvalue()
  return encode


def _encode_jpeg2000(img: np.ndarray, target_bpp: float) -> bytes:
  buf = io.BytesIO()
  # "rates" are compression ratios relative to 24 bits per pixel (3 components x 8 bits).
  Image.fromarray(img, mode="RGB").save(
      buf, format="JPEG2000", no_jp2=True, irreversible=True, mct=1,
      quality_mode="rates", quality_layers=[24.0 / float(target_bpp)])
  return buf.getvalue()


def _heif_encoder(chroma: int) -> Callable[[np.ndarray, Any], bytes]:
  def encode(img: np.ndarray, quality) -> bytes:
    import pillow_heif  # pylint: disable=g-import-not-at-top
    buf = io.BytesIO()
    h, w = img.shape[:2]
    pillow_heif.encode("RGB", (w, h), img.tobytes(), buf, quality=int(quality), chroma=chroma)
    return buf.getvalue()
  return encode


def _heif_decode(data: bytes) -> np.ndarray:
  import pillow_heif  # pylint: disable=g-import-not-at-top
  heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
  img = heif.to_pillow()
  return np.asarray(img.convert("RGB"))


def _encode_jxl(img: np.ndarray, quality) -> bytes:
  import pillow_jxl  # pylint: disable=g-import-not-at-top,unused-import  # registers "JXL"
  buf = io.BytesIO()
  Image.fromarray(img, mode="RGB").save(buf, format="JXL", quality=int(quality), effort=7,
                                        lossless=False)
  return buf.getvalue()


def _decode_jxl(data: bytes) -> np.ndarray:
  import pillow_jxl  # pylint: disable=g-import-not-at-top,unused-import
  return decode_image(data)


def _registry() -> dict[str, ImageCodec]:
  jpeg_q = (3, 5, 10, 20, 30, 45, 60, 75, 90)
  hevc_q = (10, 15, 20, 25, 30, 35, 40, 45, 50, 60)
  return {c.name: c for c in (
      ImageCodec("jpeg420", jpeg_q, "JPEG 4:2:0 (libjpeg via Pillow)",
                 _pillow_encoder("JPEG", subsampling=2), decode_image),
      ImageCodec("jpeg444", jpeg_q, "JPEG 4:4:4 (libjpeg via Pillow)",
                 _pillow_encoder("JPEG", subsampling=0), decode_image),
      ImageCodec("jpeg2000", (0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0),
                 "JPEG 2000 (OpenJPEG via Pillow, 9/7 + ICT)", _encode_jpeg2000, decode_image,
                 setting_format="{}bpp"),
      ImageCodec("webp", (0, 2, 5, 10, 20, 35, 50, 70, 85, 95), "WebP (libwebp via Pillow)",
                 _pillow_encoder("WEBP", method=4), decode_image),
      ImageCodec("avif", (10, 20, 30, 40, 50, 60, 70, 80, 90), "AVIF 4:2:0 (libavif via Pillow)",
                 _pillow_encoder("AVIF", subsampling="4:2:0", speed=6), decode_image),
      ImageCodec("hevc", hevc_q,
                 "HEVC intra 4:2:0 in HEIF (x265 via pillow_heif)", _heif_encoder(420), _heif_decode),
      ImageCodec("hevc444", hevc_q,
                 "HEVC intra 4:4:4 in HEIF (x265 via pillow_heif)", _heif_encoder(444), _heif_decode),
      ImageCodec("jxl", (5, 15, 30, 45, 60, 72, 82, 90, 95), "JPEG XL (pillow_jxl plugin)",
                 _encode_jxl, _decode_jxl),
  )}


def _smoke_image() -> np.ndarray:
  yy, xx = np.mgrid[0:32, 0:48]
  img = np.stack([4 * xx, 6 * yy, 2 * (xx + yy)], axis=-1)
  return img.astype(np.uint8)


@functools.cache
def _check(name: str) -> str | None:
  """None if `name` round-trips a tiny image here, else the reason it does not."""
  codec = _registry()[name]
  img = _smoke_image()
  try:
    out = codec.decode(codec.encode(img, codec.qualities[len(codec.qualities) // 2]))
  except ImportError as e:
    hint = f"; {INSTALL_HINTS[name]}" if name in INSTALL_HINTS else ""
    return f"not installed ({e.name or e}{hint})"
  except Exception as e:  # pylint: disable=broad-except  # any failure means "not usable here".
    return f"{type(e).__name__}: {e}".splitlines()[0]
  if out.shape != img.shape or out.dtype != np.uint8:
    return f"round trip gave {out.dtype} {out.shape}"
  return None


def get_codec(name: str) -> ImageCodec:
  """The codec called `name`.

  Raises:
    ValueError: `name` is not a known codec (the message lists the choices).
    CodecUnavailableError: known, but its library does not work here.
  """
  registry = _registry()
  if name not in registry:
    raise ValueError(f"Unknown codec {name!r}; choices: {', '.join(CODEC_NAMES)}.")
  reason = _check(name)
  if reason is not None:
    raise CodecUnavailableError(f"Codec {name!r} is unavailable here: {reason}.")
  return registry[name]


def available_codecs(names: Sequence[str] | None = None, verbose: bool = True) -> list[ImageCodec]:
  """The codecs among `names` (default: all known) that work here, in the order given.

  Unavailable ones are skipped with a one-line notice on stderr (if `verbose`); unknown names raise
  `ValueError` listing the choices.
  """
  out = []
  for name in (CODEC_NAMES if names is None else names):
    try:
      out.append(get_codec(name))
    except CodecUnavailableError as e:
      if verbose:
        print(f"[jcomp.eval] skipping {e}", file=sys.stderr)
  return out


def is_codec_name(name: str) -> bool:
  """Whether `name` is a known classical codec (installed or not)."""
  return name in CODEC_NAMES
