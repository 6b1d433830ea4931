"""Li et al. 2018 as a configuration: stage 2 starts from stage 1's checkpoint; its bits code for real."""

from __future__ import annotations

import importlib.util
import os

import jax
import numpy as np

from jcomp import train, zoo
from jcomp.coding.codec import Codec
from jcomp.data.synthetic_images import synthetic_image

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def _config(name: str, arg: str):
  spec = importlib.util.spec_from_file_location(name, os.path.join(CONFIGS, f"{name}.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  c = mod.get_config(arg)
  c.num_train_steps, c.log_every_steps, c.eval_every_steps, c.checkpoint_every_steps = 2, 1, 2, 2
  c.model.dtype = "float32"
  return c


def test_stage2_starts_from_stage1_and_codes_bits_for_real(tmp_path):
  s1 = _config("li2018_stage1", "data=synthetic,size=tiny")
  state1 = train.train_and_evaluate(s1, str(tmp_path / "s1"))
  s2 = _config("li2018_stage2", f"data=synthetic,size=tiny,init={tmp_path / 's1'}")
  s2.num_train_steps = 0  # initialisation only: compare with stage 1's weights
  state2 = train.train_and_evaluate(s2, str(tmp_path / "s2"))
  enc1 = state1.params["autoencoder"]["encoder"]
  enc2 = state2.params["autoencoder"]["encoder"]
  jax.tree_util.tree_map(np.testing.assert_array_equal, enc1, enc2)
  assert "importance_net_0" in state2.params["autoencoder"]  # new in stage 2, freshly initialised
  # The stage-2 model is a codec over binary symbols.
  zoo.save(s2, {"params": jax.device_get(state2.params), "batch_stats": jax.device_get(state2.batch_stats)},
           str(tmp_path / "model"), dtype="float32")
  codec = Codec.load(str(tmp_path / "model"))
  image = synthetic_image(1, 32, 40)
  a = codec.analyze(image)
  assert set(np.unique(a["symbols"])) <= {0, 1}
  np.testing.assert_array_equal(codec.decompress(codec.compress(image).data), codec.reconstruct(image))
