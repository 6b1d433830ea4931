"""MS-SSIM and PSNR: jcomp's MS-SSIM equals TensorFlow's `tf.image.ssim_multiscale` to 1e-4.

TensorFlow is not a dependency, so its values are pinned in tests/expected/ms_ssim_reference.json, with the
versions that produced them, for deterministic image pairs built here: procedural images
(`synthetic_image`) against noisy, blurred and posterized versions, and the Kodak images (when
../shared/data/kodak exists) against their Pillow JPEG (quality 20) versions. Regenerate with a Python that
has TensorFlow (see tests/expected/README):

  TF_PYTHON=<python with tensorflow> python -m tests.test_metrics

Only images of at least 176 px are compared: below that TF rejects the 11x11 window at the coarsest scale,
where jcomp shrinks it (tested here to stay in [0, 1] and equal 1 for identical images).
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from PIL import Image

from jcomp.data.synthetic_images import synthetic_image

EXPECTED = pathlib.Path(__file__).parent / "expected" / "ms_ssim_reference.json"
KODAK_DIR = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak"
TOLERANCE = 1e-4
SYNTHETIC = [(0, 192, 256), (1, 192, 256), (2, 256, 192), (3, 176, 200)]  # (seed, height, width)
DISTORTIONS = ("noise", "blur", "posterize", "identical")
JPEG_QUALITY = 20
KODAK_TESTED = ("kodim01.png", "kodim05.png", "kodim09.png", "kodim13.png", "kodim17.png", "kodim21.png")


def _blur(x: np.ndarray) -> np.ndarray:
  """3x3 box blur in integer arithmetic (exact on every platform), edges replicated."""
  p = np.pad(x.astype(np.int32), ((1, 1), (1, 1), (0, 0)), mode="edge")
  h, w = x.shape[:2]
  s = sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3))
  return ((s + 4) // 9).astype(np.uint8)


def distort(x: np.ndarray, kind: str, seed: int) -> np.ndarray:
  """A deterministic distorted version of a uint8 image (H, W, 3)."""
  if kind == "noise":
    noise = np.random.default_rng(seed).normal(0.0, 12.0, x.shape)
    return np.clip(np.round(x + noise), 0, 255).astype(np.uint8)
  if kind == "blur":
    return _blur(x)
  if kind == "posterize":
    return (x // 32 * 32 + 16).astype(np.uint8)
  if kind == "identical":
    return x.copy()
  raise ValueError(kind)


def synthetic_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
  pairs = {}
  for seed, h, w in SYNTHETIC:
    x = synthetic_image(seed, h, w)
    for kind in DISTORTIONS:
      pairs[f"synthetic_{seed}_{h}x{w}_{kind}"] = (x, distort(x, kind, seed))
  return pairs


def jpeg(x: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
  buf = io.BytesIO()
  Image.fromarray(x).save(buf, format="JPEG", quality=quality)
  with Image.open(io.BytesIO(buf.getvalue())) as im:
    return np.asarray(im.convert("RGB"))


def kodak_pairs(folder: pathlib.Path, names=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  pairs = {}
  for path in sorted(folder.glob("*.png")):
    if names is not None and path.name not in names:
      continue
    with Image.open(path) as im:
      x = np.asarray(im.convert("RGB"))
    pairs[path.name] = (x, jpeg(x))
  return pairs


# ------------------------------------------------------------------------------------------------
# Tests.
# ------------------------------------------------------------------------------------------------

def _reference() -> dict:
  with open(EXPECTED) as f:
    return json.load(f)


def _jcomp_ms_ssim(pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
  """jcomp's MS-SSIM of each pair, one jitted batch per image shape."""
  import jax  # pylint: disable=g-import-not-at-top (the generator runs without JAX)
  from jcomp import metrics  # pylint: disable=g-import-not-at-top
  fn = jax.jit(metrics.ms_ssim)
  by_shape: dict[tuple, list[str]] = {}
  for name, (x, _) in pairs.items():
    by_shape.setdefault(x.shape, []).append(name)
  out = {}
  for names in by_shape.values():
    x = np.stack([pairs[n][0] for n in names]).astype(np.float32)
    y = np.stack([pairs[n][1] for n in names]).astype(np.float32)
    out.update(zip(names, np.asarray(fn(x, y)).tolist()))
  return out


def _assert_matches(ours: dict[str, float], theirs: dict[str, float]) -> None:
  assert set(ours) == set(theirs)
  worst = max(ours, key=lambda n: abs(ours[n] - theirs[n]))
  for name in ours:
    assert abs(ours[name] - theirs[name]) <= TOLERANCE, (
        f"{name}: jcomp {ours[name]:.6f} vs TF {theirs[name]:.6f} (worst: {worst})")


@pytest.fixture(scope="module")
def synthetic_values() -> dict[str, float]:
  return _jcomp_ms_ssim(synthetic_pairs())


def test_ms_ssim_equals_tensorflow_on_synthetic_pairs(synthetic_values):
  _assert_matches(synthetic_values, _reference()["synthetic"])


def test_ms_ssim_equals_tensorflow_on_kodak_jpeg_pairs(kodak_dir):
  """Six of the 24 pinned images (both orientations): MS-SSIM at 768x512 takes seconds on a CPU."""
  reference = _reference()["kodak_jpeg_q20"]
  assert sorted(p.name for p in kodak_dir.glob("*.png")) == sorted(reference)
  pairs = kodak_pairs(kodak_dir, KODAK_TESTED)
  assert {x.shape for x, _ in pairs.values()} == {(512, 768, 3), (768, 512, 3)}
  _assert_matches(_jcomp_ms_ssim(pairs), {n: reference[n] for n in pairs})


def test_ms_ssim_is_one_for_identical_images_and_below_one_otherwise(synthetic_values):
  values = synthetic_values
  for seed, h, w in SYNTHETIC:
    v = {k: values[f"synthetic_{seed}_{h}x{w}_{k}"] for k in DISTORTIONS}
    assert v["identical"] == 1.0
    assert 0.0 < min(v.values())
    assert max(v["noise"], v["blur"], v["posterize"]) < 1.0


def test_ms_ssim_below_the_window_size_stays_in_range_and_symmetric():
  """At 32x48 the scales are 32, 16, 8, 4, 2 px: jcomp shrinks the window where TF would fail."""
  x = synthetic_image(5, 32, 48)
  y = distort(x, "noise", 5)
  v = _jcomp_ms_ssim({"xy": (x, y), "yx": (y, x), "xx": (x, x)})
  assert 0.0 < v["xy"] < 1.0
  assert v["xy"] == pytest.approx(v["yx"], abs=1e-6)
  assert v["xx"] == 1.0


def test_psnr_matches_its_definition():
  from jcomp import metrics  # pylint: disable=g-import-not-at-top
  x = synthetic_image(0, 64, 64)
  y = distort(x, "noise", 0)
  mse = np.mean((x.astype(np.float64) - y) ** 2)
  assert float(metrics.psnr(x[None], y[None])[0]) == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-5)
  grey = np.full((1, 8, 8, 3), 100, np.uint8)
  assert float(metrics.psnr(grey, grey + 5)[0]) == pytest.approx(10 * np.log10(255**2 / 25), rel=1e-6)
  assert np.isinf(float(metrics.psnr(x[None], x[None])[0]))
  assert float(metrics.ms_ssim_db(0.99)) == pytest.approx(20.0)


# ------------------------------------------------------------------------------------------------
# The generator of tests/expected/ms_ssim_reference.json (needs TensorFlow: TF_PYTHON).
# ------------------------------------------------------------------------------------------------

_TF_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
data = np.load(sys.argv[1])
out = {}
for name in data.files:
  x, y = data[name][0].astype(np.float32), data[name][1].astype(np.float32)
  out[name] = float(tf.image.ssim_multiscale(x[None], y[None], max_val=255.0)[0])
print(json.dumps({"values": out, "tensorflow": tf.__version__, "numpy": np.__version__}))
"""


def _tf_ms_ssim(tf_python: str, pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "pairs.npz")
    np.savez(path, **{n: np.stack(p) for n, p in pairs.items()})
    out = subprocess.run([tf_python, "-c", _TF_SCRIPT, path], check=True, capture_output=True, text=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def generate(tf_python: str) -> None:
  from PIL import features  # pylint: disable=g-import-not-at-top
  import PIL  # pylint: disable=g-import-not-at-top
  synthetic = _tf_ms_ssim(tf_python, synthetic_pairs())
  result = {
      "provenance": {
          "generator": "python -m tests.test_metrics (tests/test_metrics.py::generate)",
          "function": "tf.image.ssim_multiscale(x, y, max_val=255.0) on float32 RGB in [0, 255], defaults",
          "tensorflow": synthetic["tensorflow"], "numpy": synthetic["numpy"],
          "pillow": PIL.__version__, "libjpeg": features.version("jpg"), "python": platform.python_version(),
          "synthetic": f"jcomp.data.synthetic_images.synthetic_image(seed, h, w) for (seed, h, w) in "
                       f"{SYNTHETIC}, against distort(x, kind, seed) for kind in {list(DISTORTIONS)}",
          "kodak_jpeg_q20": f"../shared/data/kodak/*.png against Pillow JPEG quality {JPEG_QUALITY}, decoded",
      },
      "synthetic": synthetic["values"],
  }
  if KODAK_DIR.is_dir():
    result["kodak_jpeg_q20"] = _tf_ms_ssim(tf_python, kodak_pairs(KODAK_DIR))["values"]
  elif EXPECTED.exists():
    result["kodak_jpeg_q20"] = _reference().get("kodak_jpeg_q20", {})
  EXPECTED.parent.mkdir(exist_ok=True)
  EXPECTED.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
  print(f"wrote {EXPECTED}: {len(result['synthetic'])} synthetic, "
        f"{len(result.get('kodak_jpeg_q20', {}))} Kodak values")


if __name__ == "__main__":
  if "TF_PYTHON" not in os.environ:
    sys.exit("set TF_PYTHON to a Python interpreter with TensorFlow installed")
  generate(os.environ["TF_PYTHON"])
