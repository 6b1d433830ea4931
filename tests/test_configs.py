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


def test_finetune_config_starts_from_a_model_with_a_scaled_importance_map():
  c = config_lib.from_file(os.path.join(os.path.dirname(CONFIGS[0]),
                                        "compact_finetune.py:init=mentzer2018-compact-0.90,bpp=0.5,scale=0.1"))
  assert c.init_from == "mentzer2018-compact-0.90" and c.model.importance_scale == 0.1
  assert c.loss.target_bits_per_symbol == pytest.approx(0.5 * 64 / c.model.num_channels)
  assert c.optim.warmup_steps > 0 and c.optim.lr_decay_steps == c.num_train_steps * 3 // 4


def test_missing_config_file_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.py"):
    config_lib.from_file(str(tmp_path / "nope.py:bpp=1"))
