"""The autoencoder: output shapes for every part combination, the paper's parameter count, forward values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jcomp.models import build_autoencoder
from jcomp.models import surgery
from tests.conftest import fast_compilation, random_like, tiny_config


def _abstract(model, batch, height, width, train=False):
  x = jax.ShapeDtypeStruct((batch, height, width, 3), jnp.float32)
  variables = jax.eval_shape(lambda r, x: model.init(r, x, train=False), jax.random.PRNGKey(0), x)
  if train:
    out, _ = jax.eval_shape(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]), variables, x)
  else:
    out = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
  return variables, out


def _num_params(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))


@pytest.mark.parametrize("quantizer,importance", [("centers", "mentzer"), ("centers", "none"),
                                                  ("binarizer", "li"), ("binarizer", "none")])
@pytest.mark.parametrize("upsample", ["transpose", "subpixel"])
def test_outputs_have_the_latent_and_image_shapes(quantizer, importance, upsample):
  c = tiny_config().model
  c.quantizer, c.importance, c.upsample = quantizer, importance, upsample
  B, H, W, K = 2, 40, 56, c.num_channels
  for train in (False, True):
    _, out = _abstract(build_autoencoder(c), B, H, W, train)
    assert out["values"].shape == out["mask"].shape == (B, H // 8, W // 8, K)
    assert out["symbols"].shape == (B, H // 8, W // 8, K) and out["symbols"].dtype == jnp.int32
    assert out["importance"].shape == (B, H // 8, W // 8)
    assert out["x_hat"].shape == (B, H, W, 3) and out["x_hat"].dtype == jnp.float32


def test_med_autoencoder_has_the_papers_9_7_million_parameters():
  from configs import med  # pylint: disable=g-import-not-at-top
  c = med.get_config()
  variables, _ = _abstract(build_autoencoder(c.model), 1, c.crop_size, c.crop_size)
  n = _num_params(variables["params"])
  print(f"configs/med.py autoencoder: {n:,} parameters")
  assert 9.6e6 < n < 9.8e6, n  # paper: 9.7 M (n = 128, B = 5, K = 32); 9,728,938 when written


def test_forward_values_are_centers_and_reconstructions_are_images():
  c = tiny_config().model
  model = build_autoencoder(c)
  x = np.random.default_rng(0).integers(0, 256, (2, 32, 48, 3)).astype(np.float32)
  variables, _ = _abstract(model, *x.shape[:3])
  variables = {"params": random_like(variables["params"], seed=1),
               "batch_stats": jax.tree_util.tree_map(lambda s: np.ones(s.shape, np.float32),
                                                     variables["batch_stats"])}
  with fast_compilation():
    out = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
  out = jax.device_get(out)
  centers = variables["params"]["quant"]["centers"]
  assert out["symbols"].min() >= 0 and out["symbols"].max() < c.num_centers
  np.testing.assert_array_equal(out["values"], centers[out["symbols"]])
  mask = out["mask"]
  assert set(np.unique(mask)) <= {0.0, 1.0}
  np.testing.assert_array_equal(mask, np.arange(c.num_channels) < mask.sum(-1, keepdims=True))
  assert 0.0 <= out["x_hat"].min() and out["x_hat"].max() <= 255.0


@pytest.mark.parametrize("upsample", ["transpose", "subpixel"])
def test_widening_the_latents_keeps_the_decoded_image_and_moves_the_importance_filter(upsample):
  c = tiny_config().model
  c.importance, c.upsample = "none", upsample
  x = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3)).astype(np.float32)
  narrow, wide_config = build_autoencoder(c), c.copy_and_resolve_references()
  wide_config.num_channels = 2 * c.num_channels
  wide = build_autoencoder(wide_config)
  v_narrow, _ = _abstract(narrow, *x.shape[:3])
  v_wide, _ = _abstract(wide, *x.shape[:3])
  stats = jax.tree_util.tree_map(lambda s: np.ones(s.shape, np.float32), v_narrow["batch_stats"])
  p_narrow = random_like(v_narrow["params"], seed=1)
  p_wide = surgery.widen_latents(p_narrow, random_like(v_wide["params"], seed=2))
  assert jax.tree_util.tree_map(np.shape, p_wide) == jax.tree_util.tree_map(np.shape, v_wide["params"])
  with fast_compilation():
    y_narrow = narrow.apply({"params": p_narrow, "batch_stats": stats}, x, train=False)
    y_wide = wide.apply({"params": p_wide, "batch_stats": stats}, x, train=False)
  K = c.num_channels
  np.testing.assert_array_equal(y_wide["symbols"][..., :K], y_narrow["symbols"])
  assert len(np.unique(y_wide["symbols"][..., K:])) > 1  # new channels: random projections, not constant
  np.testing.assert_allclose(y_wide["x_hat"], y_narrow["x_hat"], atol=1e-4)

  kernel = random_like({"k": np.zeros((5, 5, 8, K + 1))}, seed=3)["k"]  # Mentzer: importance filter last
  source = {"encoder": {"Conv_2": {"kernel": kernel, "bias": kernel[0, 0, 0]}},
            "decoder": {"Upsample_0": {"Conv": {"kernel": np.ones((3, 3, K, 4))}}}}
  target = {"encoder": {"Conv_2": {"kernel": np.zeros((5, 5, 8, 2 * K + 1)), "bias": np.zeros(2 * K + 1)}},
            "decoder": {"Upsample_0": {"Conv": {"kernel": np.ones((3, 3, 2 * K, 4))}}}}
  out = surgery.widen_latents(source, target)
  np.testing.assert_array_equal(out["encoder"]["Conv_2"]["kernel"][..., -1], kernel[..., -1])
  np.testing.assert_array_equal(out["encoder"]["Conv_2"]["kernel"][..., :K], kernel[..., :K])
  assert not out["decoder"]["Upsample_0"]["Conv"]["kernel"][:, :, K:].any()
  with pytest.raises(ValueError, match="only K can grow"):
    surgery.widen_latents(out, source)


def test_refining_the_centers_keeps_the_old_centers_and_their_context_logits():
  from jcomp import systems  # pylint: disable=g-import-not-at-top
  c = tiny_config()
  narrow = systems.build(c)
  c11 = c.copy_and_resolve_references()
  c11.model.num_centers = 2 * c.model.num_centers - 1
  fine = systems.build(c11)
  v = jax.ShapeDtypeStruct((1, c.model.num_channels, 4, 4), jnp.float32)
  abstract = lambda m: jax.eval_shape(lambda r: m.context.init(r, jnp.zeros(v.shape), 0.0), jax.random.PRNGKey(0))
  x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
  ae = lambda m: jax.eval_shape(lambda r: m.autoencoder.init(r, jnp.zeros(x.shape), train=False),
                                jax.random.PRNGKey(0))["params"]
  source = {"autoencoder": random_like(ae(narrow), seed=1), "context": random_like(abstract(narrow)["params"], 2)}
  target = {"autoencoder": random_like(ae(fine), seed=3), "context": random_like(abstract(fine)["params"], 4)}
  out = surgery.grow(source, target)
  assert jax.tree_util.tree_map(np.shape, out) == jax.tree_util.tree_map(np.shape, target)
  L = c.model.num_centers
  old, new = source["autoencoder"]["quant"]["centers"], out["autoencoder"]["quant"]["centers"]
  np.testing.assert_array_equal(new[:L], old)
  s = np.sort(old)
  np.testing.assert_allclose(np.sort(new[L:]), (s[1:] + s[:-1]) / 2, rtol=1e-6)
  values = jnp.asarray(old[np.random.default_rng(5).integers(0, L, v.shape)])  # a volume of old centers
  with fast_compilation():
    before = narrow.context.apply({"params": source["context"]}, values, old[0])
    after = fine.context.apply({"params": out["context"]}, values, new[0])
  np.testing.assert_allclose(after[..., :L], before, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="only to 2L - 1"):
    surgery.refine_centers(out, source)
