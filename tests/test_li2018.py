"""Li et al. 2018 as a configuration: stage 2 starts from stage 1's checkpoint; the trimmed code (only the kept
bits, after the importance map's counts) round-trips through the real coder."""

from __future__ import annotations

import os

import jax
import numpy as np
from PIL import Image

from jcomp import cli, config_lib, systems, train, zoo
from jcomp.coding import bitstream
from jcomp.coding.codec import Codec, counts_from_mask
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import random_like

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def _config(name: str, arg: str):
  c = config_lib.from_file(os.path.join(CONFIGS, f"{name}.py:{arg}"))
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
  assert "importance_net_0" in state2.params["autoencoder"]["importance_map"]  # new in stage 2, freshly initialised
  # The stage-2 model is a codec over binary symbols.
  zoo.save(s2, {"params": jax.device_get(state2.params), "batch_stats": jax.device_get(state2.batch_stats)},
           str(tmp_path / "model"), dtype="float32")
  codec = Codec.load(str(tmp_path / "model"))
  image = synthetic_image(1, 32, 40)
  a = codec.analyze(image)
  assert set(np.unique(a["symbols"])) <= {0, 1}
  np.testing.assert_array_equal(codec.decompress(codec.compress(image).data), codec.reconstruct(image))


def _li_tiny(stage: str = "li2018_stage2"):
  c = _config(stage, "data=synthetic,size=tiny")
  return c


def _random_variables(config, importance_bias: float | None = None, seed: int = 0) -> dict:
  """NumPy-random weights (no XLA init), positive BatchNorm variances; `importance_bias` shifts the Li
  importance network's output logit, i.e. how many channels the mask keeps."""
  shapes = jax.eval_shape(systems.build(config).init, jax.random.PRNGKey(0))
  v = random_like(shapes, seed)
  v["batch_stats"] = jax.tree_util.tree_map_with_path(
      lambda path, x: np.abs(x) + 0.5 if path[-1].key == "var" else x, v["batch_stats"])
  if importance_bias is not None:
    v["params"]["autoencoder"]["importance_map"]["importance_net_1"]["bias"][:] = importance_bias
  return v


def test_li_mask_keeps_a_prefix_of_exactly_the_level_channel_count():
  config = _li_tiny()
  K, levels = config.model.num_channels, config.model.importance_levels
  ae = systems.build(config).autoencoder
  v = _random_variables(config, importance_bias=0.0)
  v["params"]["autoencoder"]["importance_map"]["importance_net_1"]["kernel"] *= 30  # spread p over several levels
  out = ae.apply({"params": v["params"]["autoencoder"], "batch_stats": v["batch_stats"]},
                 synthetic_image(2, 64, 64)[None].astype(np.float32), train=False, method="encode")
  mask, p = np.asarray(out["mask"][0]), np.asarray(out["importance"][0]) / K
  counts = counts_from_mask(mask)  # raises unless the kept channels are the first ones
  level = np.ceil(np.clip(p, 0, 1) * levels)
  np.testing.assert_array_equal(counts, np.ceil(level * K / levels))
  assert len(np.unique(counts)) > 1  # the test sees several levels
  np.testing.assert_array_equal(np.asarray(out["symbols"][0])[mask == 0], 0)
  np.testing.assert_array_equal(np.asarray(out["values"][0])[mask == 0], 0.0)


def test_trimmed_code_round_trips_and_codes_only_the_kept_bits():
  config = _li_tiny()
  image = synthetic_image(4, 32, 48)
  sizes = {}
  for bias in (3.0, 0.0, -3.0):  # most bits kept .. few kept
    codec = Codec(config, _random_variables(config, importance_bias=bias))
    a = codec.analyze(image)
    r = codec.compress(image)
    header, symbols, _ = codec.decompress_symbols(r.data)
    np.testing.assert_array_equal(symbols, a["symbols"])
    # The decoder sees what training's forward pass gives it, masked positions included.
    np.testing.assert_array_equal(codec.centers[symbols].transpose(1, 2, 0), a["values"])
    decoded = codec.decompress(r.data)
    np.testing.assert_array_equal(decoded, codec.reconstruct(image))
    assert r.coded_symbols == a["counts"].sum() <= symbols.size
    sizes[bias] = (a["counts"].sum(), len(bitstream.unpack(r.data)[1][1]))
  kept = [sizes[b][0] for b in (3.0, 0.0, -3.0)]
  payload = [sizes[b][1] for b in (3.0, 0.0, -3.0)]
  assert kept[0] > kept[1] > kept[2] and payload[0] > payload[1] > payload[2], sizes


def test_importance_figure_draws_a_li_model(tmp_path):
  config = _li_tiny()
  zoo.save(config, _random_variables(config, importance_bias=0.0), str(tmp_path / "model"), dtype="float32")
  Image.fromarray(synthetic_image(6, 64, 64)).save(tmp_path / "in.png")
  out = tmp_path / "importance.png"
  assert cli.main(["importance-figure", f"--model={tmp_path / 'model'}", f"--image={tmp_path / 'in.png'}",
                   f"--out={out}"]) == 0
  assert out.stat().st_size > 0


def test_stage2_rate_term_counts_kept_bits_above_the_threshold_and_reaches_the_importance_net():
  config = _li_tiny()
  system = systems.build(config)
  v = _random_variables(config, importance_bias=0.0)
  v["params"]["autoencoder"]["importance_map"]["importance_net_1"]["kernel"] *= 30  # p spread over several levels
  x = synthetic_image(3, 64, 64)[None].astype(np.float32)
  config.loss.target_bits_per_symbol = 0.1  # below the kept fraction: the term is active

  def rate(params):
    _, (m, _) = system.loss(params, v["batch_stats"], x, train=False)
    return m["rate_term"], m

  (r, m), grads = jax.value_and_grad(rate, has_aux=True)(v["params"])
  np.testing.assert_allclose(r, config.loss.beta * (m["importance"] - 0.1), rtol=1e-5)  # kept bits / symbol
  assert 0.1 < m["importance"] < 1.0
  g = grads["autoencoder"]["importance_map"]["importance_net_1"]["kernel"]
  assert np.all(np.isfinite(g)) and np.abs(g).sum() > 0  # the mask's surrogate gradient reaches p
