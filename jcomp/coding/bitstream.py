"""The `.jcomp` container: a header describing the image and model, and the entropy-coded payloads.

Pure Python (no JAX). `pack` serializes a `Header` and a list of payloads to bytes; `unpack` parses them back
and is the only reader of untrusted files: on any input it returns in time linear in its length and raises
nothing but `FormatError`, with a message saying what is wrong (bad magic, unsupported version, truncated,
CRC mismatch, malformed header, trailing bytes). Layout, all integers little-endian:

  offset 0   4 bytes  magic b"JCMP"
  offset 4   u8       format version (4, or 3)
  offset 5   u32      total file size in bytes, CRC included
  offset 9   ...      header: model_id (16 bytes); system (u8 length + ASCII); image_height, image_width,
                      pad_bottom, pad_right (uvarint each); latent_shape (uvarint rank, uvarint dims);
                      extras (uvarint count, then per entry u8 length + ASCII name, zigzag svarint value,
                      sorted by name); payloads (uvarint count, uvarint byte length each)
             ...      the payloads, concatenated
  last 4     u32      CRC-32 (zlib) of every byte from offset 5 up to the CRC (size, header and payloads)

The magic and version are checked first, so a later version may change everything after them. uvarint is
LEB128 (7 bits a byte, at most 10 bytes); svarint is zigzag LEB128. `pack` is canonical: equal headers and
payloads give equal bytes. `pack_uvarints` / `unpack_uvarints` serialize small integer tables inside a
payload with the same uvarint.

Versions: 1 = the image codec's single payload coded every symbol of the latent volume; 2 (same container) =
the image codec writes two payloads, the per-position kept-channel counts of the importance map and then only
the kept symbols (`jcomp.coding.codec`); 3 (same layout) = the rANS streams inside the payloads use a 30-bit
state renormalised by bytes instead of a 48-bit state renormalised by 16-bit words (`jcomp.coding.coder`);
4 (this one, same layout) = the context model's tables come from its integer version
(`jcomp.models.integer`), identical on every backend, and `model_id` names the model together with that
integer version. Version 3 (tables from the float model: same backend only) is still read and written for
models without an integer version; older versions are refused. Tiling (both versions, `jcomp.coding.tiling`):
a latent of more than T positions a side is coded in tiles of at most T x T, each an independent volume;
extras {"tile": T} (32 <= T <= 256, T < max(h, w)) then say that the symbols take one payload per tile,
raster order (payloads 1..n after the counts' payload 0). A file without it codes the latent as one volume
in payload 1, as before tiling, and has at most 2**17 latent positions (larger latents are tiled); a reader
from before tiling refuses a tiled file (its payload count).
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

MAGIC = b"JCMP"
FORMAT_VERSION = 4
READ_VERSIONS = (3, 4)
MODEL_ID_BYTES = 16
_PREFIX = struct.Struct("<4sBI")  # Magic, version, total size.
_CRC = struct.Struct("<I")
_MAX_NAME = 255
_MAX_RANK = 16
_MAX_UVARINT = (1 << 64) - 1
_MIN_SVARINT, _MAX_SVARINT = -(1 << 63), (1 << 63) - 1


class FormatError(ValueError):
  """The bytes are not a valid `.jcomp` file of a supported version."""


def _is_name(s: object) -> bool:
  """Whether s is a non-empty printable-ASCII str of at most 255 characters."""
  return isinstance(s, str) and 0 < len(s) <= _MAX_NAME and s.isascii() and s.isprintable()


def _is_int(v: object) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


@dataclasses.dataclass(frozen=True)
class Header:
  """What a decoder needs besides the payloads.

  Attributes:
    model_id: 16-byte hash of the model (config + weights) that coded the image.
    system: short printable-ASCII name of the compression system, e.g. "mentzer2018".
    image_height: original image height in pixels (>= 1).
    image_width: original image width in pixels (>= 1).
    pad_bottom: rows of padding added at the bottom to reach a multiple of the model stride (>= 0).
    pad_right: columns of padding added at the right (>= 0).
    latent_shape: shape of the coded latent, e.g. (K, h, w); at most 16 non-negative dims.
    extras: small named ints (signed 64-bit) for system-specific needs; names printable ASCII.
    version: the format version (module doc): 4 = integer context model, 3 = float.
  """

  model_id: bytes
  system: str
  image_height: int
  image_width: int
  pad_bottom: int
  pad_right: int
  latent_shape: tuple[int, ...]
  extras: dict[str, int] = dataclasses.field(default_factory=dict)
  version: int = FORMAT_VERSION

  def __post_init__(self):
    if self.version not in READ_VERSIONS:
      raise ValueError(f"version must be one of {READ_VERSIONS}, got {self.version!r}")
    if not isinstance(self.model_id, bytes) or len(self.model_id) != MODEL_ID_BYTES:
      raise ValueError(f"model_id must be {MODEL_ID_BYTES} bytes, got {self.model_id!r}")
    if not _is_name(self.system):
      raise ValueError(f"system must be 1-{_MAX_NAME} printable ASCII characters, got {self.system!r}")
    for name in ("image_height", "image_width", "pad_bottom", "pad_right"):
      v = getattr(self, name)
      lowest = 1 if name.startswith("image") else 0
      if not _is_int(v) or not lowest <= v <= _MAX_UVARINT:
        raise ValueError(f"{name} must be an int >= {lowest}, got {v!r}")
    shape = tuple(self.latent_shape)
    if len(shape) > _MAX_RANK or not all(_is_int(d) and 0 <= d <= _MAX_UVARINT for d in shape):
      raise ValueError(
          f"latent_shape must be at most {_MAX_RANK} non-negative ints, got {self.latent_shape!r}")
    object.__setattr__(self, "latent_shape", shape)
    extras = dict(self.extras)
    for k, v in extras.items():
      if not _is_name(k):
        raise ValueError(f"extras names must be 1-{_MAX_NAME} printable ASCII characters, got {k!r}")
      if not _is_int(v) or not _MIN_SVARINT <= v <= _MAX_SVARINT:
        raise ValueError(f"extras[{k!r}] must be a signed 64-bit int, got {v!r}")
    object.__setattr__(self, "extras", dict(sorted(extras.items())))


def _uvarint(v: int) -> bytes:
  out = bytearray()
  while v >= 0x80:
    out.append((v & 0x7F) | 0x80)
    v >>= 7
  out.append(v)
  return bytes(out)


def _svarint(v: int) -> bytes:
  return _uvarint((v << 1) if v >= 0 else ((-v) << 1) - 1)


def _name(s: str) -> bytes:
  raw = s.encode("ascii")
  return bytes([len(raw)]) + raw


def pack(header: Header, payloads: list[bytes]) -> bytes:
  """Serializes a header and payloads (each any bytes, possibly empty) to a `.jcomp` file's bytes."""
  if not isinstance(header, Header):
    raise TypeError(f"header must be a Header, got {type(header).__name__}")
  payloads = [bytes(p) for p in payloads]
  body = bytearray(header.model_id)
  body += _name(header.system)
  for v in (header.image_height, header.image_width, header.pad_bottom, header.pad_right):
    body += _uvarint(v)
  body += _uvarint(len(header.latent_shape))
  for d in header.latent_shape:
    body += _uvarint(d)
  body += _uvarint(len(header.extras))
  for k, v in header.extras.items():
    body += _name(k) + _svarint(v)
  body += _uvarint(len(payloads))
  for p in payloads:
    body += _uvarint(len(p))
  for p in payloads:
    body += p
  total = _PREFIX.size + len(body) + _CRC.size
  if total > 0xFFFFFFFF:
    raise ValueError(f"file too large for format version {header.version} ({total} bytes)")
  size = struct.pack("<I", total)
  crc = zlib.crc32(body, zlib.crc32(size))
  return MAGIC + bytes([header.version]) + size + bytes(body) + _CRC.pack(crc)


class _Reader:
  """Cursor over the header bytes; every read past the end raises FormatError."""

  def __init__(self, data: bytes, pos: int, end: int):
    self.data, self.pos, self.end = data, pos, end

  def take(self, n: int) -> bytes:
    if n > self.end - self.pos:
      raise FormatError("malformed header: truncated")
    out = self.data[self.pos:self.pos + n]
    self.pos += n
    return out

  def u8(self) -> int:
    return self.take(1)[0]

  def uvarint(self) -> int:
    v = 0
    for i in range(10):
      b = self.u8()
      v |= (b & 0x7F) << (7 * i)
      if b < 0x80:
        if v > _MAX_UVARINT or (i and b == 0):
          raise FormatError("malformed header: bad varint")
        return v
    raise FormatError("malformed header: varint too long")

  def svarint(self) -> int:
    z = self.uvarint()
    return (z >> 1) if not z & 1 else -((z + 1) >> 1)

  def name(self, what: str) -> str:
    raw = self.take(self.u8())
    try:
      s = raw.decode("ascii")
    except UnicodeDecodeError:
      raise FormatError(f"malformed header: {what} is not ASCII") from None
    if not _is_name(s):
      raise FormatError(f"malformed header: bad {what} {s!r}")
    return s

  def count(self, what: str) -> int:
    """A count of items that take at least one byte each, so at most the bytes left."""
    n = self.uvarint()
    if n > self.end - self.pos:
      raise FormatError(f"malformed header: {what} count {n} exceeds the file")
    return n


def pack_uvarints(values: list[int]) -> bytes:
  """Non-negative ints (each < 2**64) -> their uvarints, concatenated (no count: the reader knows it)."""
  if not all(_is_int(v) and 0 <= v <= _MAX_UVARINT for v in values):
    raise ValueError(f"uvarints must be ints in [0, 2**64), got {values!r}")
  return b"".join(_uvarint(v) for v in values)


def unpack_uvarints(data: bytes, count: int, offset: int = 0) -> tuple[list[int], int]:
  """Reads `count` uvarints from data[offset:]. Returns (values, offset just past them); FormatError if the
  bytes run out or a varint is malformed (never reads more than count * 10 bytes)."""
  r = _Reader(bytes(data), offset, len(data))
  values = [r.uvarint() for _ in range(count)]
  return values, r.pos


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
  """Parses a `.jcomp` file's bytes into its header and payloads; raises FormatError on anything invalid."""
  data = bytes(data)
  if not data:
    raise FormatError("not a .jcomp file (empty)")
  if not data.startswith(MAGIC):
    if MAGIC.startswith(data):
      raise FormatError("truncated file")
    raise FormatError("not a .jcomp file (bad magic)")
  if len(data) == len(MAGIC):
    raise FormatError("truncated file")
  version = data[len(MAGIC)]
  if version not in READ_VERSIONS:
    raise FormatError(f"unsupported format version {version} (this jcomp reads versions "
                      f"{', '.join(map(str, READ_VERSIONS))})")
  if len(data) < _PREFIX.size + _CRC.size:
    raise FormatError("truncated file")
  _, _, total = _PREFIX.unpack_from(data)
  if len(data) < total:
    raise FormatError(f"truncated file ({len(data)} bytes, header says {total})")
  if len(data) > total:
    raise FormatError(f"trailing garbage: {len(data) - total} bytes after the end of the file")
  (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
  if zlib.crc32(data[len(MAGIC) + 1:-_CRC.size]) != crc:
    raise FormatError("CRC mismatch: file is corrupt")
  # The CRC matched, so what follows only fails on files that a buggy or hostile writer produced.
  r = _Reader(data, _PREFIX.size, len(data) - _CRC.size)
  model_id = r.take(MODEL_ID_BYTES)
  system = r.name("system name")
  height, width, pad_bottom, pad_right = (r.uvarint() for _ in range(4))
  rank = r.count("latent rank")
  if rank > _MAX_RANK:
    raise FormatError(f"malformed header: latent rank {rank} > {_MAX_RANK}")
  latent_shape = tuple(r.uvarint() for _ in range(rank))
  extras = {}
  for _ in range(r.count("extras")):
    k = r.name("extras name")
    if k in extras:
      raise FormatError(f"malformed header: duplicate extras name {k!r}")
    v = r.svarint()
    if not _MIN_SVARINT <= v <= _MAX_SVARINT:
      raise FormatError(f"malformed header: extras[{k!r}] out of range")
    extras[k] = v
  lengths = [r.uvarint() for _ in range(r.count("payload"))]
  if sum(lengths) != r.end - r.pos:
    raise FormatError(
        f"malformed file: payload lengths sum to {sum(lengths)} but {r.end - r.pos} bytes remain")
  payloads = [r.take(n) for n in lengths]
  try:
    header = Header(model_id=model_id, system=system, image_height=height, image_width=width,
                    pad_bottom=pad_bottom, pad_right=pad_right, latent_shape=latent_shape, extras=extras,
                    version=version)
  except ValueError as e:
    raise FormatError(f"malformed header: {e}") from None
  return header, payloads
