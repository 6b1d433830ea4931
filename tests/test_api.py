"""The Python API (`jcomp.load`): arrays or PIL images in, bytes out, the exact reconstruction back; `import
jcomp` stays light. The README's own API block runs in tests/test_readme.py."""

import subprocess
import warnings

import numpy as np
import pytest
from PIL import Image

from jcomp import api, config_lib, zoo
from jcomp.coding.codec import CodecError
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import PYTHON, fast_compilation, random_variables, subprocess_env


def test_import_jcomp_loads_no_jax_and_the_api_on_first_use():
  code = ("import sys, jcomp; before = {'jax', 'jcomp.api'} & set(sys.modules); f = jcomp.load_family; "
          "print(sorted(before), f.__module__, 'load' in dir(jcomp))")
  out = subprocess.run([PYTHON, "-c", code], env=subprocess_env(), capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.split() == ["[]", "jcomp.api", "True"]
  import jcomp  # pylint: disable=g-import-not-at-top
  with pytest.raises(AttributeError, match="no attribute 'nope'"):
    jcomp.nope  # pylint: disable=pointless-statement


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
  """Two tiny models with random weights (model directories)."""
  c = config_lib.base()
  c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 4, 8, 1, 1
  c.model.upsample, c.model.context.features = "subpixel", 8
  return [zoo.save(c, random_variables(c, seed), str(tmp_path_factory.mktemp(f"model{seed}")), dtype="float32")
          for seed in (0, 1)]


def test_a_model_compresses_arrays_and_pil_images_to_bytes_that_decode_to_its_reconstruction(model_dirs):
  x = synthetic_image(4, 20, 36)  # not a multiple of 8
  with fast_compilation():
    codec = api.load(model_dirs[0])
    data = codec.compress(x)
    assert isinstance(data, bytes) and codec.compress(Image.fromarray(x)) == data
    y = codec.decompress(data)
    assert y.dtype == np.uint8 and y.shape == x.shape
    np.testing.assert_array_equal(y, codec.codec.reconstruct(x))
    gray = Image.fromarray(x).convert("L")  # any PIL mode is converted to RGB, as by Image.convert
    with warnings.catch_warnings():
      warnings.simplefilter("error")
      assert codec.compress(gray) == codec.compress(np.asarray(gray.convert("RGB")))
    with pytest.raises(ValueError, match="uint8"):
      codec.compress(x.astype(np.float32))
    with pytest.raises(CodecError, match="not by this model"):
      api.load(model_dirs[1]).decompress(data)


def test_a_family_decodes_a_file_of_any_of_its_models(model_dirs, monkeypatch):
  monkeypatch.setattr(api.zoo, "names", lambda: ["fam-0.1", "fam-0.2"])
  fam = api.Family("fam")
  models = dict(zip(fam.names, model_dirs))
  monkeypatch.setattr(fam, "model", lambda name: api.load(models[name]))
  x = synthetic_image(5, 16, 24)
  with fast_compilation():
    for path in model_dirs:
      data = api.load(path).compress(x)
      np.testing.assert_array_equal(fam.decompress(data), api.load(path).decompress(data))
    with pytest.raises(CodecError, match="no model of fam decodes this file.*fam-0.1: .*fam-0.2: "):
      fam.decompress(_other_model_file(x))


def _other_model_file(x) -> bytes:
  """A file of a third model, which no member of the family wrote."""
  c = config_lib.base()
  c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 4, 8, 1, 1
  c.model.upsample, c.model.context.features = "subpixel", 8
  from jcomp.coding.codec import Codec  # pylint: disable=g-import-not-at-top
  return Codec(c, random_variables(c, 2)).compress(x).data
