"""Golden files: small format-4 `.jcomp` files of shipped models in tests/expected/golden/, with the digest of
their symbols. Every later change must still decode them to the same symbols (format stability: a change that
breaks them needs a new format version), with the jitted codec and with the NumPy reference decoder.

Regenerate (only when a new format version is introduced, keeping the old files' test):
  python tests/coding/test_golden.py --regenerate
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pathlib
import sys

import numpy as np
import pytest

GOLDEN_DIR = pathlib.Path(__file__).resolve().parents[1] / "expected" / "golden"
MODELS = ("mentzer2018-compact-0.15", "mentzer2018-compact-0.30", "mentzer2018-compact-1.10")
IMAGE = dict(seed=11, height=48, width=64)  # jcomp.data.synthetic_images.synthetic_image


def _digest(symbols: np.ndarray) -> str:
  return hashlib.sha256(np.ascontiguousarray(symbols, np.int32).tobytes()).hexdigest()


def _files() -> list[pathlib.Path]:
  return sorted(GOLDEN_DIR.glob("*.jcomp"))


def test_golden_files_exist_for_the_shipped_models():
  assert {json.loads(p.with_suffix(".json").read_text())["model"] for p in _files()} == set(MODELS)


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_golden_file_decodes_to_its_symbols_jitted_and_in_numpy(path):
  from jcomp.coding import bitstream, codec as codec_lib, mask_counts  # pylint: disable=g-import-not-at-top
  from jcomp.models import integer, masked3d  # pylint: disable=g-import-not-at-top
  meta = json.loads(path.with_suffix(".json").read_text())
  data = path.read_bytes()
  assert data[4] == meta["format_version"] == 4
  codec = codec_lib.load_codec(meta["model"]).codec
  header, symbols, _ = codec.decompress_symbols(data)
  assert _digest(symbols) == meta["symbols_sha256"]
  assert (header.image_height, header.image_width) == (IMAGE["height"], IMAGE["width"])
  # The NumPy reference decoder (no JAX in the tables) reads the same symbols from the same bytes.
  _, payloads = bitstream.unpack(data)
  K, h, w = header.latent_shape
  counts = mask_counts.decode_counts(payloads[0], K, (h, w))
  reference = integer.ReferenceCoder(codec.integer_model, (K, h, w), masked3d.wavefront_schedule((K, h, w)))
  ref_symbols, _ = codec_lib.decode_symbols(reference, payloads[1], codec_lib.kept_mask(counts, K),
                                            codec.masked_symbol)
  np.testing.assert_array_equal(ref_symbols, symbols)


def test_format_3_files_of_shipped_models_still_decode_and_format_4_needs_the_integer_model():
  from jcomp import zoo  # pylint: disable=g-import-not-at-top
  from jcomp.coding import codec as codec_lib  # pylint: disable=g-import-not-at-top
  from jcomp.data.synthetic_images import synthetic_image  # pylint: disable=g-import-not-at-top
  name = MODELS[1]
  shipped = codec_lib.load_codec(name).codec
  float_only = codec_lib.Codec(*zoo.load(name), name=name)  # what wrote format 3 (and still does without one)
  image = synthetic_image(IMAGE["seed"], IMAGE["height"], IMAGE["width"])
  v3 = float_only.compress(image).data
  assert v3[4] == 3 and float_only.model_id == shipped.float_id != shipped.model_id
  np.testing.assert_array_equal(shipped.decompress(v3), float_only.reconstruct(image))
  v4 = (GOLDEN_DIR / f"{name}.jcomp").read_bytes()
  with pytest.raises(codec_lib.CodecError, match="format-4 file .* no integer context model"):
    float_only.decompress(v4)


def regenerate() -> None:
  from jcomp.coding.codec import Codec  # pylint: disable=g-import-not-at-top
  from jcomp.data.synthetic_images import synthetic_image  # pylint: disable=g-import-not-at-top
  GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
  for old in glob.glob(str(GOLDEN_DIR / "*")):
    os.unlink(old)
  image = synthetic_image(IMAGE["seed"], IMAGE["height"], IMAGE["width"])
  for name in MODELS:
    codec = Codec.load(name)
    data = codec.compress(image).data
    _, symbols, _ = codec.decompress_symbols(data)
    np.testing.assert_array_equal(symbols, codec.analyze(image)["symbols"])
    (GOLDEN_DIR / f"{name}.jcomp").write_bytes(data)
    (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(
        {"model": name, "format_version": data[4], "symbols_sha256": _digest(symbols), "image": IMAGE},
        indent=1) + "\n")
    print(GOLDEN_DIR / f"{name}.jcomp", len(data), "bytes")


if __name__ == "__main__":
  if sys.argv[1:] != ["--regenerate"]:
    sys.exit(__doc__)
  regenerate()
