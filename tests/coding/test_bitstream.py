"""Tests of the `.jcomp` container: round trips, clear errors, and fuzzing of the parser."""

import random
import dataclasses
import struct
import time
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jcomp.coding import bitstream


def _header(**overrides) -> bitstream.Header:
  fields = dict(
      model_id=bytes(range(16)),
      system="mentzer2018",
      image_height=512,
      image_width=768,
      pad_bottom=0,
      pad_right=8,
      latent_shape=(32, 64, 97),
      extras={"num_centers": 6, "offset": -3},
  )
  fields.update(overrides)
  return bitstream.Header(**fields)


def _file() -> bytes:
  return bitstream.pack(_header(), [b"\x01\x02\x03" * 5, b"", b"payload two"])


def _with_crc(body_after_version: bytes) -> bytes:
  """A file with a correct size and CRC around arbitrary header/payload bytes."""
  size = struct.pack("<I", 4 + 1 + 4 + len(body_after_version) + 4)
  crc = zlib.crc32(size + body_after_version)
  prefix = bitstream.MAGIC + bytes([bitstream.FORMAT_VERSION]) + size
  return prefix + body_after_version + struct.pack("<I", crc)


def test_round_trip_recovers_header_and_payloads():
  header = _header()
  payloads = [b"\x00" * 100, b"", bytes(range(256))]
  assert bitstream.unpack(bitstream.pack(header, payloads)) == (header, payloads)


@given(
    model_id=st.binary(min_size=16, max_size=16),
    system=st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40),
    dims=st.lists(st.integers(0, 2**64 - 1), max_size=16),
    size=st.tuples(st.integers(1, 2**40), st.integers(1, 2**40), st.integers(0, 300), st.integers(0, 300)),
    extras=st.dictionaries(
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
        st.integers(-(2**63), 2**63 - 1), max_size=5),
    payloads=st.lists(st.binary(max_size=300), max_size=5),
)
@settings(max_examples=100, deadline=None)
def test_round_trip_holds_for_any_valid_header(model_id, system, dims, size, extras, payloads):
  header = bitstream.Header(model_id, system, *size, latent_shape=tuple(dims), extras=extras)
  data = bitstream.pack(header, payloads)
  assert bitstream.unpack(data) == (header, payloads)


def test_file_starts_with_magic_and_version_and_packing_is_canonical():
  data = _file()
  assert data[:5] == b"JCMP\x04"
  reordered = _header(extras={"offset": -3, "num_centers": 6})
  assert bitstream.pack(reordered, [b"\x01\x02\x03" * 5, b"", b"payload two"]) == data


def test_version_3_keeps_its_layout_and_round_trips():
  v3 = dataclasses.replace(_header(), version=3)
  data = bitstream.pack(v3, [b"abc"])
  assert data[:5] == b"JCMP\x03"
  assert bitstream.unpack(data) == (v3, [b"abc"])
  assert data[9:-4] == bitstream.pack(_header(), [b"abc"])[9:-4]  # only the version byte and CRC differ
  with pytest.raises(ValueError, match="version"):
    dataclasses.replace(_header(), version=2)


def test_header_overhead_is_small():
  assert len(bitstream.pack(_header(), [b""])) < 80


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a .jcomp file (bad magic)"),
        (b"JCMP\x07" + b"\x00" * 40, "unsupported format version 7 (this jcomp reads versions 3, 4)"),
        (b"JCMP", "truncated file"),
        (b"", "not a .jcomp file"),
    ],
)
def test_unpack_explains_what_is_wrong(data, message):
  with pytest.raises(bitstream.FormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
    bitstream.unpack(data)


def test_truncation_at_every_length_raises_format_error():
  data = _file()
  for n in range(len(data)):
    with pytest.raises(bitstream.FormatError):
      bitstream.unpack(data[:n])
  with pytest.raises(bitstream.FormatError, match="truncated file"):
    bitstream.unpack(data[:-1])


def test_trailing_garbage_is_rejected():
  with pytest.raises(bitstream.FormatError, match="trailing garbage"):
    bitstream.unpack(_file() + b"\x00")


def test_every_single_bit_flip_is_detected():
  data = _file()
  for bit in range(8 * len(data)):
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(bitstream.FormatError):
      bitstream.unpack(bytes(flipped))


def test_payload_corruption_reports_crc_mismatch():
  data = bytearray(_file())
  data[-6] ^= 0x10
  with pytest.raises(bitstream.FormatError, match="CRC mismatch: file is corrupt"):
    bitstream.unpack(bytes(data))


def test_fuzzed_bytes_raise_only_format_error_in_bounded_time():
  rng = random.Random(0)
  data = _file()
  start = time.monotonic()
  for _ in range(3000):
    kind = rng.randrange(3)
    if kind == 0:
      fuzzed = rng.randbytes(rng.randrange(200))
    elif kind == 1:
      fuzzed = bytearray(data)
      for _ in range(rng.randrange(1, 10)):
        fuzzed[rng.randrange(len(fuzzed))] = rng.randrange(256)
    else:  # Valid size and CRC around random contents: exercises the header parser itself.
      fuzzed = _with_crc(rng.randbytes(rng.randrange(120)))
    try:
      bitstream.unpack(bytes(fuzzed))
    except bitstream.FormatError:
      pass
  assert time.monotonic() - start < 10


@pytest.mark.parametrize(
    "body",
    [
        bytes(16) + b"\x03abc" + b"\xff" * 11,  # A varint longer than 10 bytes.
        bytes(16) + b"\x03abc" + b"\x01\x01\x00\x00" + b"\xff\xff\xff\xff\x0f",  # A huge latent rank.
        bytes(16) + b"\x03a\x00c" + b"\x01\x01\x00\x00\x00\x00\x00",  # A non-printable system name.
        bytes(16) + b"\x01a" + b"\x00\x01\x00\x00\x00\x00\x00",  # A zero image height.
        bytes(16) + b"\x01a" + b"\x01\x01\x00\x00\x00\x02\x01k\x00\x01k\x02\x00",  # Duplicate extras.
        bytes(16) + b"\x01a" + b"\x01\x01\x00\x00\x00\x00\x01\x05abc",  # Payload longer than the file.
        bytes(16) + b"\x01a" + b"\x01\x01\x00\x00\x00\x00\x01\x01abc",  # Bytes after the payloads.
    ],
)
def test_malformed_headers_with_valid_crc_raise_format_error(body):
  with pytest.raises(bitstream.FormatError, match="malformed"):
    bitstream.unpack(_with_crc(body))


@pytest.mark.parametrize(
    "overrides",
    [
        dict(model_id=b"short"),
        dict(system=""),
        dict(system="naïve"),
        dict(image_height=0),
        dict(pad_right=-1),
        dict(latent_shape=(1.5,)),
        dict(extras={"x": 2**63}),
        dict(extras={"": 1}),
    ],
)
def test_invalid_headers_raise_value_error(overrides):
  with pytest.raises(ValueError):
    _header(**overrides)
