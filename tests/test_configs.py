"""Every config file builds: get_config() with its defaults gives a ConfigDict whose models construct."""

import glob
import os

import ml_collections
import pytest

from jcomp import config_lib, train

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                        "configs", "*.py")))


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_file_builds_with_its_defaults(path):
  c = config_lib.from_file(path)
  assert isinstance(c, ml_collections.ConfigDict)
  assert c.crop_size % 8 == 0 and c.num_train_steps > 0
  train.build_models(c)  # module construction only: no compile


def test_missing_config_file_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.py"):
    config_lib.from_file(str(tmp_path / "nope.py:bpp=1"))


def test_compact_channels_argument_sets_k_and_keeps_the_bpp_target():
  path = os.path.join(os.path.dirname(CONFIGS[0]), "compact.py")
  for channels in (32, 64):
    c = config_lib.from_file(f"{path}:bpp=1.0,channels={channels},data=synthetic")
    assert c.model.num_channels == channels
    assert abs(c.loss.target_bits_per_symbol * channels / 64 - 1.0) < 1e-9  # bpp = t K / 64
