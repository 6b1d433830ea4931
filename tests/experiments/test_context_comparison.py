"""The context-model comparison trains through the one trainer: only a fresh context model, on a frozen AE."""

import jax
import ml_collections
import numpy as np

from jcomp import config_lib, systems, train, zoo
from jcomp.experiments import context_comparison


def _tiny():
  c = config_lib.base()
  c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 4, 8, 1, 1
  c.model.upsample, c.model.context.features, c.crop_size = "subpixel", 8, 32
  return c


def test_each_context_model_trains_alone_from_the_exported_autoencoder():
  shipped = config_lib.base().to_dict()
  del shipped["optim"]["freeze"], shipped["optim"]["schedule"]  # an older model's config.json
  base = ml_collections.ConfigDict(shipped)
  for name in context_comparison.MODELS:
    c = context_comparison.training_config(base, name, "OUT/autoencoder", "images", 20, 32, 6, 2, 1e-3, 0)
    assert c.model.context.name == name and c.init_from == "OUT/autoencoder"
    assert tuple(c.optim.freeze) == ("ae", "centers") and c.optim.schedule == "cosine"
    assert (c.num_train_steps, c.data.source, c.data.train_split) == (6, "images", "train[:20]")
  assert base.model.context.name == "masked3d" and "freeze" not in base.optim


def test_the_exported_autoencoder_initialises_all_but_the_context_model(tmp_path):
  c = _tiny()
  system = systems.build(c)
  shipped = jax.tree_util.tree_map(np.asarray, system.init(jax.random.PRNGKey(0)))
  zoo.save(c, shipped, str(tmp_path / "shipped"), dtype="float32")
  autoencoder = context_comparison.export_autoencoder(str(tmp_path / "shipped"), str(tmp_path / "ae"))
  fresh = jax.tree_util.tree_map(np.asarray, system.init(jax.random.PRNGKey(1)))
  merged = train.merge_variables(fresh["params"], train.load_variables(autoencoder)["params"])
  same = lambda a, b: all(jax.tree_util.tree_leaves(jax.tree_util.tree_map(np.array_equal, a, b)))
  assert same(merged["autoencoder"], shipped["params"]["autoencoder"])
  assert same(merged["context"], fresh["params"]["context"])  # the same masked3d, yet not the shipped one
  assert not same(merged["context"], shipped["params"]["context"])
