"""Sub-block decoding of the CCN context models (logits and GMM heads): the step logits, a serial reference
decode, the codec."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jcomp import config_lib, train
from jcomp.coding import coder, probabilities
from jcomp.coding.codec import Codec
from jcomp.coding.subblock import SubblockCoder, gmm_head
from jcomp.data.synthetic_images import synthetic_image
from tests.coding.reference import parallel_round_trip, serial_round_trip
from jcomp.models import build_context_model, context_kwargs
from tests.conftest import fast_compilation


def _tiny_ccn_config(spatial_codes: int = 1, name: str = "ccn"):
  c = config_lib.base()
  c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 4, 8, 1, 1
  c.model.upsample, c.crop_size = "subpixel", 32
  c.model.context.name, c.model.context.kernel_size = name, (1, 3, 3)
  c.model.context.group, c.model.context.spatial_codes = 2, spatial_codes
  if name == "ccn_gmm":
    c.model.context.num_components = 2
  return c


def _random_variables(config, seed: int = 0):
  with fast_compilation():
    v = train.init_variables(train.build_models(config), config, jax.random.PRNGKey(seed))
  # Random non-zero biases and spread centers make the context model's logits non-trivial.
  leaves, tree = jax.tree_util.tree_flatten(v)
  rng = np.random.default_rng(seed + 1)
  leaves = [np.asarray(l) + 0.3 * rng.normal(size=l.shape).astype(np.float32) if l.ndim <= 1 else np.asarray(l)
            for l in leaves]
  return jax.tree_util.tree_unflatten(tree, leaves)


@pytest.fixture(scope="module")
def codec():
  config = _tiny_ccn_config()
  return Codec(config, _random_variables(config))


@pytest.fixture(scope="module")
def gmm_codec():
  config = _tiny_ccn_config(name="ccn_gmm")
  return Codec(config, _random_variables(config))


def _full_logits(codec, symbols):
  return np.asarray(codec._logits(codec._ctx_params, jnp.asarray(codec.centers[symbols])[None])[0])


@pytest.mark.parametrize("name,spatial_codes", [("ccn", 0), ("ccn", 1), ("ccn_gmm", 1)])
def test_subblock_logits_equal_the_parallel_pass(codec, gmm_codec, name, spatial_codes):
  codec = gmm_codec if name == "ccn_gmm" else codec
  symbols = np.random.default_rng(1).integers(0, len(codec.centers), (4, 3, 5)).astype(np.int32)
  head = gmm_head(codec.centers) if name == "ccn_gmm" else None
  sb = SubblockCoder(codec._ctx_params, codec.centers, symbols.shape, spatial_codes, head)
  got = np.full(symbols.shape + (len(codec.centers),), np.nan, np.float32)

  def source(step, logits, freqs):
    pos = sb.schedule[step]
    got[pos[:, 0], pos[:, 1], pos[:, 2]] = logits
    return symbols[pos[:, 0], pos[:, 1], pos[:, 2]]

  np.testing.assert_array_equal(sb.run(source), symbols)
  # The parameters have the same shapes for both orders; only the masks differ.
  model = build_context_model(_tiny_ccn_config(spatial_codes, name).model)
  full = model.apply({"params": codec._ctx_params}, jnp.asarray(codec.centers[symbols])[None], codec.centers[0],
                     **context_kwargs(model, codec.centers))
  np.testing.assert_allclose(got, np.asarray(full[0]), rtol=1e-4, atol=1e-4)


def test_subblock_decode_equals_serial_reference_decode(codec):
  """Parallel sub-block decoding recovers what a one-symbol-at-a-time decoder recovers."""
  rng = np.random.default_rng(0)
  shape = (4, 3, 4)
  symbols = rng.integers(0, len(codec.centers), shape).astype(np.int32)
  decoded = parallel_round_trip(SubblockCoder(codec._ctx_params, codec.centers, shape), symbols)
  np.testing.assert_array_equal(decoded, symbols)
  np.testing.assert_array_equal(serial_round_trip(lambda vol: _full_logits(codec, vol), symbols), decoded)


@pytest.mark.parametrize("name", ["ccn", "ccn_gmm"])
def test_tiny_ccn_model_round_trips_through_the_codec(codec, gmm_codec, name):
  codec = gmm_codec if name == "ccn_gmm" else codec
  image = synthetic_image(3, 44, 60)  # not a multiple of 8: exercises padding
  result = codec.compress(image)
  header, symbols, _ = codec.decompress_symbols(result.data)
  np.testing.assert_array_equal(symbols, codec.analyze(image)["symbols"])
  np.testing.assert_array_equal(codec.decompress(result.data), codec.reconstruct(image))
  assert result.bpp_real * image.shape[0] * image.shape[1] >= result.bits_ideal


def test_gmm_tables_sum_to_the_total_and_keep_every_symbol_codable():
  rng = np.random.default_rng(0)
  centers = np.array([0.5, -2.0, 1.5, -0.5, 2.5, 3.5])  # unsorted on purpose
  n, m = 200, 3
  means = rng.normal(scale=2.0, size=(n, m))
  means[:10] = 1e4 * rng.choice([-1, 1], size=(10, 1))    # far out of range: all mass in an outer bin
  scales = np.exp(rng.normal(-1.0, 1.5, size=(n, m)))
  weights = rng.dirichlet(np.ones(m), size=n)
  freqs = probabilities.gmm_to_freqs(means, scales, weights, centers)
  assert freqs.shape == (n, 6) and (freqs >= 1).all() and (freqs.sum(-1) == 1 << 16).all()
  outer = np.where(means[:10, 0] > 0, 5, 1)  # index of the largest / smallest center
  assert (freqs[np.arange(10), outer] == (1 << 16) - 5).all()
  # Values in and far out of range are clamped to the nearest center, then coded exactly.
  values = np.concatenate([rng.normal(scale=2.0, size=n - 10), means[:10, 0]])
  symbols = np.argmin(np.abs(values[:, None] - centers[None]), axis=1)
  dec = coder.Decoder(coder.encode(symbols, freqs))
  np.testing.assert_array_equal(dec.decode(freqs), symbols)
  dec.finish()


def test_gmm_tables_follow_a_narrow_gaussian_onto_its_center():
  centers = np.array([-1.0, 0.0, 1.0])
  freqs = probabilities.gmm_to_freqs(np.array([[0.02]]), np.array([[0.05]]), np.array([[1.0]]), centers)
  assert freqs[0].argmax() == 1 and freqs[0, 1] > 0.99 * (1 << 16)


def test_gmm_tables_in_jax_match_the_float64_tables_within_one_count():
  """The decoder's float32 tables (`gmm_to_freqs_jax`) vs the float64 reference, tails and far mixtures too."""
  rng = np.random.default_rng(0)
  centers = np.array([0.5, -2.0, 1.5, -0.5, 2.5, 3.5])
  n, m = 500, 3
  means = rng.normal(scale=2.0, size=(n, m))
  means[:10] = 1e4 * rng.choice([-1, 1], size=(10, 1))
  scales = np.exp(rng.normal(-1.0, 1.5, size=(n, m)))
  weights = rng.dirichlet(np.ones(m), size=n)
  ref = probabilities.gmm_to_freqs(means, scales, weights, centers)
  got = np.asarray(jax.jit(probabilities.gmm_to_freqs_jax)(means, scales, weights, centers))
  assert got.dtype == np.int32 and (got >= 1).all() and (got.sum(-1) == 1 << 16).all()
  assert np.abs(got - ref).max() <= 1
