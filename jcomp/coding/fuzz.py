"""Hostile `.jcomp` files for the decoder's robustness tests and `benchmarks/fuzz_decoder.py`.

`crafted_files(template, num_channels)` builds named files whose headers push every field to its extremes
(dims of 2**64 - 1, products that overflow 64 bits, 16384 x 16384 in 70 bytes with all importance counts 0,
ranks 0 and 16, padding >= stride, wrong K or system, lengths that disagree, tilings out of range), each with
a valid size and CRC and the template's model id, so only the codec's own checks stand between it and an
allocation. `mutate`
makes seeded mutants of a real file: byte-level (flips, overwrites, truncations, insertions, deletions,
splices, maximal varints), half of them resealed (size and CRC recomputed) so that they reach the codec past
the CRC, and header-level (one dim at an edge value; a new consistent geometry, half the time with the same
number of latent positions so that the decoder runs on it). `run_measured` runs a command and reports its
exit status, output, wall and CPU time and peak RSS. Pure Python and NumPy.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

from jcomp.coding import bitstream, coder

MAX_U64 = (1 << 64) - 1
EMPTY_STREAM = coder.encode(np.zeros(0, np.int64), np.zeros((0, 1), np.int64))  # rANS stream of no symbols
HEADER_BYTES = 48  # mutations aim at the first bytes half of the time: the header lives there


def seal(body: bytes, version: int = bitstream.FORMAT_VERSION, magic: bytes = bitstream.MAGIC) -> bytes:
  """Magic, version, a correct total size and CRC around arbitrary header-and-payload bytes."""
  size = struct.pack("<I", len(magic) + 1 + 4 + len(body) + 4)
  return magic + bytes([version]) + size + body + struct.pack("<I", zlib.crc32(size + body))


def reseal(data: bytes) -> bytes:
  """`data` with its size field and CRC recomputed (magic and version byte kept as they are)."""
  if len(data) < 13:
    return data
  return seal(data[9:-4], version=data[4], magic=data[:4])


def counts_payload(positions: int, value: int = 0) -> bytes:
  """Payload 0 of an image whose every position keeps `value` channels: a one-entry table and an rANS stream
  of zero bits (a symbol of probability 1 costs nothing), 4 bytes whatever the number of positions."""
  return bitstream.pack_uvarints([1, value, min(positions, MAX_U64)]) + EMPTY_STREAM


def _file(template: bitstream.Header, payloads: list[bytes], **fields) -> bytes:
  return bitstream.pack(dataclasses.replace(template, **{"extras": {}, **fields}), payloads)


def _image(template: bitstream.Header, height: int, width: int, channels: int, stride: int = 8,
           counts: int = 0, tiles: int = 1, **fields) -> bytes:
  """A consistent header for a height x width image (minimal padding) with all counts `counts` and `tiles`
  empty symbol payloads."""
  h, w = -(-height // stride), -(-width // stride)
  geometry = dict(image_height=height, image_width=width, pad_bottom=h * stride - height,
                  pad_right=w * stride - width, latent_shape=(channels, h, w))
  geometry.update(fields)
  return _file(template, [counts_payload(h * w, counts)] + [EMPTY_STREAM] * tiles, **geometry)


def crafted_files(template: bitstream.Header, num_channels: int) -> dict[str, bytes]:
  """Named hostile files for a trimmed model (payload 0 = counts) with `num_channels` K and stride 8; the
  template (a real file's header) gives the model id, system and format version."""
  K = num_channels
  h, w = 274177, 67280421310721  # h * w = 2**64 + 1: 1 in 64-bit arithmetic
  body = bytes(template.model_id) + bytes([len(template.system)]) + template.system.encode()
  dims = bitstream.pack_uvarints([16, 16, 0, 0, 3, K, 2, 2, 0])  # 16 x 16, no padding, latent (K, 2, 2), no extras
  return {
      "bomb 4096x4096 untiled, counts 0": _image(template, 4096, 4096, K),
      "bomb 16384x16384, counts 0": _image(template, 16384, 16384, K),
      "bomb 16384x16384 tiled, counts 0": _image(template, 16384, 16384, K, tiles=64, extras={"tile": 256}),
      "bomb 100000x100000, counts 0": _image(template, 100000, 100000, K),
      "wide 8x16777216": _image(template, 8, 16777216, K),
      "latent h*w = 2**64+1": _file(template, [counts_payload(MAX_U64), EMPTY_STREAM], image_height=8 * h,
                                    image_width=8 * w, pad_bottom=0, pad_right=0, latent_shape=(K, h, w)),
      "every field 2**64-1": _file(template, [counts_payload(MAX_U64), EMPTY_STREAM], image_height=MAX_U64,
                                   image_width=MAX_U64, pad_bottom=MAX_U64, pad_right=MAX_U64,
                                   latent_shape=(MAX_U64,) * 3),
      "16x16 image, latent 2**40 x 2**40": _image(template, 16, 16, K, latent_shape=(K, 1 << 40, 1 << 40)),
      "latent rank 16 of 2**64-1": _image(template, 16, 16, K, latent_shape=(MAX_U64,) * 16),
      "latent rank 0": _image(template, 16, 16, K, latent_shape=()),
      "latent (K, 0, 0)": _image(template, 16, 16, K, latent_shape=(K, 0, 0)),
      "latent K+1 channels": _image(template, 16, 16, K + 1),
      "padding = stride": _image(template, 8, 8, K, pad_bottom=8, latent_shape=(K, 2, 1)),
      "padding 2**64-1": _image(template, 16, 16, K, pad_right=MAX_U64),
      "other system": _image(template, 16, 16, K, system="x" * 255),
      "counts K+1": _image(template, 16, 16, K, counts=K + 1),
      "count occurrences 2**64-1": _file(
          template, [bitstream.pack_uvarints([2, 0, MAX_U64, 1, MAX_U64]) + EMPTY_STREAM, EMPTY_STREAM],
          image_height=16, image_width=16, pad_bottom=0, pad_right=0, latent_shape=(K, 2, 2)),
      "count table of 2**64-1 entries": _file(
          template, [bitstream.pack_uvarints([MAX_U64]) + EMPTY_STREAM, EMPTY_STREAM], image_height=16,
          image_width=16, pad_bottom=0, pad_right=0, latent_shape=(K, 2, 2)),
      "counts K, no symbols coded": _image(template, 16, 16, K, counts=K),
      "one payload": _file(template, [counts_payload(4)], image_height=16, image_width=16, pad_bottom=0,
                           pad_right=0, latent_shape=(K, 2, 2)),
      "three payloads": _file(template, [counts_payload(4), EMPTY_STREAM, b"x"], image_height=16,
                              image_width=16, pad_bottom=0, pad_right=0, latent_shape=(K, 2, 2)),
      "payload length 2**64-1": seal(body + dims + bitstream.pack_uvarints([2, MAX_U64, 4]) + b"\0" * 8,
                                     version=template.version),
      "payload count 2**63": seal(body + dims + bitstream.pack_uvarints([1 << 63]), version=template.version),
      "extras at the extremes, 16x16 counts 0": _image(
          template, 16, 16, K, extras={"a" * 255: -(1 << 63), "b": (1 << 63) - 1}),
      "16x16 counts 0 (valid)": _image(template, 16, 16, K),
      "tile below the minimum": _image(template, 16, 800, K, tiles=4, extras={"tile": 31}),
      "tile 2**63-1": _image(template, 16, 800, K, extras={"tile": (1 << 63) - 1}),
      "tile -1": _image(template, 16, 800, K, extras={"tile": -1}),
      "tile on an untiled latent": _image(template, 16, 16, K, extras={"tile": 32}),
      "tiled, a payload short": _image(template, 16, 800, K, tiles=3, extras={"tile": 32}),
      "tiled, a payload more": _image(template, 16, 800, K, tiles=5, extras={"tile": 32}),
      "tiled 16x800 counts 0 (valid)": _image(template, 16, 800, K, tiles=4, extras={"tile": 32}),
      "tiled 16x800 counts K, no symbols coded": _image(template, 16, 800, K, counts=K, tiles=4,
                                                        extras={"tile": 32}),
  }


MUTATIONS = ("flip", "overwrite", "truncate", "insert", "delete", "splice", "varint", "field", "resize")
_DIMS = ("image_height", "image_width", "pad_bottom", "pad_right", "latent_shape")


def _edge_value(v: int, rng: random.Random, lowest: int = 0) -> int:
  return min(MAX_U64, max(lowest, rng.choice([0, 1, v - 1, v + 1, 2 * v, 1 << rng.randrange(64), MAX_U64])))


def _edge_dim(header: bitstream.Header, rng: random.Random) -> dict:
  """One dim (an image size, a padding or a latent dim) set to an edge value."""
  name = rng.choice(_DIMS)
  if name != "latent_shape":
    return {name: _edge_value(getattr(header, name), rng, lowest=int(name.startswith("image")))}
  shape = list(header.latent_shape) or [0]
  i = rng.randrange(len(shape))
  shape[i] = _edge_value(shape[i], rng)
  return {"latent_shape": tuple(shape)}


def _new_geometry(header: bitstream.Header, rng: random.Random, stride: int) -> dict:
  """A consistent image size, padding and latent (K, h, w); half the time with the old number of latent
  positions h * w, so the counts table still fits and the decoder runs on the new shape."""
  K, h, w = (tuple(header.latent_shape) + (1, 1, 1))[:3]
  n = h * w
  if 0 < n <= 1 << 16 and rng.random() < 0.5:
    h2 = rng.choice([d for d in range(1, n + 1) if n % d == 0])
    w2 = n // h2
  else:
    h2, w2 = (rng.randint(1, 1 << rng.randint(1, 14)) for _ in range(2))
  pb, pr = rng.randrange(stride), rng.randrange(stride)
  return dict(image_height=h2 * stride - pb, image_width=w2 * stride - pr, pad_bottom=pb, pad_right=pr,
              latent_shape=(K, h2, w2))


def _mutate_header(data: bytes, rng: random.Random, resize: bool, stride: int = 8) -> bytes | None:
  """`data` repacked with one header dim at an edge value, or (`resize`) a new consistent geometry; None if
  `data` does not parse."""
  try:
    header, payloads = bitstream.unpack(data)
  except bitstream.FormatError:
    return None
  fields = _new_geometry(header, rng, stride) if resize else _edge_dim(header, rng)
  return bitstream.pack(dataclasses.replace(header, **fields), payloads)


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
  """A seeded mutant of `data`: (kind, bytes); kind ends in '+crc' when size and CRC were recomputed ('field'
  and 'resize' rewrite a header field of a parseable file and repack it: always a valid container)."""
  kind = rng.choice(MUTATIONS)
  if kind in ("field", "resize"):
    mutant = _mutate_header(data, rng, resize=kind == "resize")
    if mutant is not None:
      return kind, mutant
    kind = "flip"
  b = bytearray(data)
  pos = lambda: rng.randrange(min(len(b), HEADER_BYTES) if rng.random() < 0.5 else len(b))
  if kind == "flip":
    for _ in range(rng.randint(1, 4)):
      b[pos()] ^= 1 << rng.randrange(8)
  elif kind == "overwrite":
    for _ in range(rng.randint(1, 4)):
      b[pos()] = rng.randrange(256)
  elif kind == "truncate":
    del b[rng.randrange(len(b)):]
  elif kind == "insert":
    i = pos()
    b[i:i] = rng.randbytes(rng.randint(1, 16))
  elif kind == "delete":
    i = pos()
    del b[i:i + rng.randint(1, 16)]
  elif kind == "splice":
    i, j = sorted((rng.randrange(len(b)), rng.randrange(len(b))))
    k = pos()
    b[k:k] = b[i:j + 1]
  else:  # a maximal uvarint over whatever was there
    i = pos()
    b[i:i + 10] = b"\xff" * 9 + b"\x01"
  if rng.random() < 0.5:
    return kind + "+crc", reseal(bytes(b))
  return kind, bytes(b)


@dataclasses.dataclass
class Measured:
  """What `run_measured` saw of one command."""
  returncode: int | None  # None: killed at the timeout
  stdout: str
  stderr: str
  wall_s: float
  cpu_s: float            # the child's user + system CPU time, s: unlike wall time, not inflated by a busy machine
  max_rss_mb: float       # the child's peak resident set size, MB


def run_measured(cmd: list[str], timeout_s: float, env: dict[str, str] | None = None) -> Measured:
  """Runs `cmd` to completion (killed after `timeout_s`) and measures its wall time, CPU time and peak RSS
  (os.wait4's rusage of that one child; Linux and macOS)."""
  with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    t = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
    timed_out = False
    while True:
      pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
      if pid:
        break
      if time.monotonic() - t > timeout_s:
        proc.send_signal(signal.SIGKILL)
        timed_out = True
        pid, status, usage = os.wait4(proc.pid, 0)
        break
      time.sleep(0.01)
    wall = time.monotonic() - t
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    out.seek(0)
    err.seek(0)
    rss = usage.ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)
    return Measured(None if timed_out else proc.returncode, out.read().decode(errors="replace"),
                    err.read().decode(errors="replace"), wall, usage.ru_utime + usage.ru_stime, rss)
