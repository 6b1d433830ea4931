"""The integer context model (`jcomp.models.integer`): the jitted step coder's tables equal the NumPy reference's
bit for bit, the tables are valid, the rate stays near the float model's, overflow is refused by construction,
and the models without an integer path say so."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jcomp.coding import coder, probabilities
from jcomp.models import build_context_model, integer, masked3d
from tests.models.test_context_contract import CENTERS, SHAPE, _model, _model_config

VARIANTS = ["masked3d", "masked3d_k255"]


@functools.lru_cache(maxsize=None)
def _integer(variant: str) -> integer.IntegerContextModel:
  model, params, centers = _model(variant)
  rng = np.random.default_rng(5)
  calibration = [rng.integers(0, len(centers), SHAPE) for _ in range(3)]
  return model.integer_model(params, centers, calibration)


def _run(coder_, symbols: np.ndarray):
  """Runs a step coder on known symbols: (tables (K, h, w, L), logits (K, h, w, L)) it emitted."""
  freqs_out = np.zeros(SHAPE + (len(CENTERS),), np.int64)
  logits_out = np.zeros(SHAPE + (len(CENTERS),), np.float32)

  def source(step, logits, freqs):
    where = tuple(coder_.schedule[step].T)
    freqs_out[where], logits_out[where] = freqs, logits
    return symbols[where]

  np.testing.assert_array_equal(coder_.run(source), symbols)
  return freqs_out, logits_out


@pytest.mark.parametrize("variant", VARIANTS)
def test_jitted_tables_equal_the_numpy_reference_bit_for_bit(variant):
  model, _, _ = _model(variant)
  im = _integer(variant)
  coder_ = model.integer_step_coder(im, SHAPE)
  for seed in range(3):
    symbols = np.random.default_rng(seed).integers(0, len(CENTERS), SHAPE).astype(np.int32)
    freqs, logits = _run(coder_, symbols)
    reference = integer.reference_tables(im, symbols)
    np.testing.assert_array_equal(freqs, reference)
    np.testing.assert_array_equal(logits, integer.reference_logits(im, symbols) * 2.0 ** -im.logit_bits)
    # The NumPy reference coder (no JAX) along the same schedule emits the same tables.
    ref_freqs, _ = _run(integer.ReferenceCoder(im, SHAPE, coder_.schedule), symbols)
    np.testing.assert_array_equal(ref_freqs, reference)


@pytest.mark.parametrize("chunk", [7, 4096])  # rows per chunk: several chunks with a ragged last one; one
def test_the_encoders_one_pass_gives_the_decoders_step_tables_bit_for_bit(chunk, monkeypatch):
  monkeypatch.setattr(masked3d, "_PARALLEL_CHUNK", chunk)
  model, _, _ = _model("masked3d")
  im = _integer("masked3d")
  coder_ = model.integer_step_coder(im, SHAPE)
  assert coder_.parallel and not model.step_coder(*_model("masked3d")[1:], SHAPE).parallel
  order = tuple(np.concatenate(coder_.schedule).T)
  for seed in range(2):
    symbols = np.random.default_rng(seed).integers(0, len(CENTERS), SHAPE).astype(np.int32)
    logits, freqs = coder_.parallel_tables(symbols)
    step_freqs, step_logits = _run(coder_, symbols)
    np.testing.assert_array_equal(freqs, step_freqs[order])
    np.testing.assert_array_equal(logits, step_logits[order])


@pytest.mark.parametrize("variant", VARIANTS)
def test_integer_rate_stays_within_a_percent_of_the_float_model(variant):
  """Random weights at a trained model's scale (the contract tests' are 4x larger: logits of hundreds of nats),
  calibrated on the volume they code: this checks rounding; Kodak's figure is benchmarks/integer_rate.py's."""
  model, params, centers = _model(variant)
  params = jax.tree_util.tree_map(lambda a: a / 4, params)
  symbols = np.random.default_rng(9).integers(0, len(centers), SHAPE)
  im = model.integer_model(params, centers, [symbols])
  logits = integer.float_logits(params, centers, model.kernel_size, symbols)
  float_bits = probabilities.ideal_bits(probabilities.logits_to_freqs(logits), symbols)  # the float codec's
  int_bits = probabilities.ideal_bits(integer.reference_tables(im, symbols), symbols)
  assert abs(int_bits / float_bits - 1) < 0.01, (int_bits, float_bits)
  # and the float NumPy reference is the Flax model itself
  np.testing.assert_allclose(
      logits, model.apply({"params": params}, jnp.asarray(centers[symbols], jnp.float32)[None],
                          centers[0], jnp.asarray(centers))[0], rtol=1e-5, atol=1e-4)


def test_tables_are_valid_for_extreme_logits_in_numpy_and_jax():
  table = integer.make_exp_table(6)
  assert table[0] == 2**14 and table[-1] == 0 and np.all(np.diff(table) <= 0)
  rng = np.random.default_rng(0)
  z = np.concatenate([rng.integers(-3000, 3000, (200, 11)), np.full((1, 11), 7), rng.integers(-2**30, 2**30, (50, 11)),
                      np.array([[2**24 + 5] + [-(2**24) - 9] * 10])]).astype(np.int32)
  ref = integer.logits_to_freqs(z, table, 16, np)
  assert np.all(ref >= 1) and np.all(ref.sum(-1) == 2**16)
  jitted = jax.jit(lambda v: integer.logits_to_freqs(v, table, 16, jnp))(jnp.asarray(z))
  np.testing.assert_array_equal(np.asarray(jitted), ref)
  np.testing.assert_array_equal(ref[200], np.full(11, 2**16 // 11) + (np.arange(11) == 0) * (2**16 % 11))


def test_rescale_rounds_half_up_in_numpy_and_jax():
  acc = np.array([-5, -4, -3, -2, -1, 0, 1, 2, 3, 5, 6, 2**30], np.int32)
  shift = np.full(acc.shape, 1, np.int32)
  want = np.floor(acc / 2 + 0.5).astype(np.int64)
  np.testing.assert_array_equal(integer.rescale(acc.astype(np.int64), shift, np), want)
  np.testing.assert_array_equal(np.asarray(integer.rescale(jnp.asarray(acc), shift, jnp)), want)
  np.testing.assert_array_equal(integer.rescale(acc.astype(np.int64), np.zeros_like(shift), np), acc)


def test_an_overflowing_model_is_refused_and_bytes_round_trip():
  im = _integer("masked3d")
  again = integer.IntegerContextModel.from_bytes(im.to_bytes())
  assert again.identity() == im.identity() and again.to_bytes() == im.to_bytes()
  for a, b in zip(again.kernels + again.biases + again.shifts, im.kernels + im.biases + im.shifts):
    np.testing.assert_array_equal(a, b)
  big = list(im.kernels)
  big[1] = np.full_like(big[1], 2**20)
  with pytest.raises(ValueError, match="overflow"):
    integer.IntegerContextModel(im.kernel_size, tuple(big), im.biases, im.shifts, im.centers, im.limit,
                                im.logit_bits, im.exp_table)


def test_integer_files_round_trip_through_the_coder():
  model, _, _ = _model("masked3d")
  im = _integer("masked3d")
  fast = model.integer_step_coder(im, SHAPE)
  symbols = np.random.default_rng(4).integers(0, len(CENTERS), SHAPE).astype(np.int32)
  freqs, _ = _run(fast, symbols)
  order = np.concatenate(fast.schedule)
  payload = coder.encode(symbols[tuple(order.T)], freqs[tuple(order.T)])
  for decoder_side in (fast, integer.ReferenceCoder(im, SHAPE, fast.schedule)):
    dec = coder.Decoder(payload)
    np.testing.assert_array_equal(decoder_side.run(lambda s, logits, f: dec.decode(f)), symbols)
    dec.finish()


@pytest.mark.parametrize("name", ["ccn", "ccn_gmm", "progressive"])
def test_models_without_an_integer_path_say_so(name):
  model = build_context_model(_model_config(name))
  with pytest.raises(NotImplementedError, match="no integer inference"):
    model.integer_model({}, CENTERS, [])
  with pytest.raises(NotImplementedError, match="no integer inference"):
    model.integer_step_coder(None, SHAPE)
