"""The progressive binary-code entropy coder: synthetic codes, training through the one trainer, real coding."""

from __future__ import annotations


import jax
import numpy as np
import pytest

from jcomp import checkpoint, systems, train
from jcomp.coding import bitstream
from jcomp.coding.code_codec import CodeCodec
from jcomp.coding.codec import CodecError
from jcomp.data import sources, synthetic_codes
from tests.conftest import fast_compilation


def _config(**overrides):
  from configs import progressive_synthetic  # pylint: disable=g-import-not-at-top
  c = progressive_synthetic.get_config()
  ctx = c.model.context
  ctx.layer_depth, ctx.layer_count, ctx.features = 2, 3, 8
  c.data.code_shape, c.crop_size = (16, 16, 3, 2), 16
  c.data.num_eval_images, c.data.eval_crop_size = 4, 16
  c.optim.context_lr = 5e-3
  c.batch_size, c.num_train_steps = 8, 60
  c.log_every_steps, c.eval_every_steps, c.checkpoint_every_steps = 60, 60, 60
  for k, v in overrides.items():
    target = c
    *path, last = k.split(".")
    for name in path:
      target = target[name]
    target[last] = v
  return c


# ---- synthetic codes ----------------------------------------------------------------------------

def test_generate_is_a_pure_function_of_its_seed_with_the_requested_shape():
  a = synthetic_codes.generate(7, height=9, width=5, layer_depth=3, layers=2)
  assert a.shape == (9, 5, 6) and a.dtype == np.uint8
  assert set(np.unique(a)) <= {0, 1}
  np.testing.assert_array_equal(a, synthetic_codes.generate(7, 9, 5, 3, 2))
  assert not np.array_equal(a, synthetic_codes.generate(8, 9, 5, 3, 2))
  assert synthetic_codes.generate(0, 1, 1, 1, 1).shape == (1, 1, 1)


def test_synthetic_codes_are_spatially_and_inter_layer_correlated_less_so_in_later_layers():
  c = synthetic_codes.generate_batch(range(8), 32, 32, 4, 4).reshape(8, 32, 32, 4, 4).astype(int)
  spatial = [np.mean(c[:, 1:, :, l] == c[:, :-1, :, l]) for l in range(4)]
  across = [np.mean(c[..., l, :] == c[..., l - 1, :]) for l in range(1, 4)]
  assert spatial[0] > 0.8 and all(a > b for a, b in zip(spatial, spatial[1:]))
  assert across[0] > 0.7 and all(a > b for a, b in zip(across, across[1:]))


def test_held_out_samples_are_written_and_the_data_source_draws_train_and_test_seeds(tmp_path):
  paths = synthetic_codes.write_samples(str(tmp_path / "set"), 2, seed=5, height=6, width=7, layer_depth=2,
                                        layers=3)
  for i, path in enumerate(paths):
    np.testing.assert_array_equal(synthetic_codes.load_codes(path), synthetic_codes.generate(5 + i, 6, 7, 2, 3))
  test = sources.open_source("synthetic_codes", "test", code_shape=(6, 7, 3, 2))
  np.testing.assert_array_equal(test[1], synthetic_codes.generate(1, 6, 7, 2, 3))
  train_split = sources.open_source("synthetic_codes", "train", code_shape=(6, 7, 3, 2))
  np.testing.assert_array_equal(train_split[0], synthetic_codes.generate(synthetic_codes.TRAIN_SEED_BASE, 6, 7, 2, 3))
  folder = sources.open_source(f"codes:{tmp_path / 'set'}", "train[1:]")
  assert len(folder) == 1
  np.testing.assert_array_equal(folder[0], synthetic_codes.generate(6, 6, 7, 2, 3))


def test_load_codes_accepts_binarizer_symbols_with_a_batch_axis_and_rejects_non_binary_arrays(tmp_path):
  symbols = np.random.default_rng(0).integers(0, 2, (1, 4, 5, 8)).astype(np.int32)  # (B=1, h, w, K)
  np.savez(tmp_path / "li.npz", codes=symbols)
  codes = synthetic_codes.load_codes(str(tmp_path / "li.npz"))
  assert codes.dtype == np.uint8
  np.testing.assert_array_equal(codes, symbols[0])
  np.savez(tmp_path / "bad.npz", codes=np.full((4, 4, 4), 2))
  with pytest.raises(ValueError, match="0, 1"):
    synthetic_codes.load_codes(str(tmp_path / "bad.npz"))


# ---- training (the one trainer, jcomp.train) ------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A model briefly trained on 16x16x(3 layers x 2 bits) synthetic codes: (config, context params, workdir)."""
  config = _config()
  workdir = str(tmp_path_factory.mktemp("progressive"))
  with fast_compilation():
    state = train.train_and_evaluate(config, workdir)
  return config, jax.device_get(state.params["context"]), workdir


def test_briefly_trained_model_beats_the_per_layer_zeroth_order_model_on_held_out_codes(trained):
  config, params, _ = trained
  system = systems.build(config)
  codes = np.stack([synthetic_codes.generate(i, 16, 16, 2, 3) for i in range(8)])  # held-out seeds
  _, (m, _) = system.loss({"context": params}, {}, codes, train=False)
  assert m["bits_per_bit"] < m["zeroth_order_bits_per_bit"] - 0.1, m
  assert np.all(m["layer_bits_per_bit"][:2] < m["zeroth_order_layers"][:2] - 0.03), m


# ---- real coding (jcomp.coding.code_codec) ---------------------------------------------------------

def test_real_coding_round_trips_and_its_size_matches_the_estimate(trained):
  config, params, _ = trained
  model = CodeCodec(config, params)
  code = synthetic_codes.generate(11, 12, 10, 2, 3)
  report, data = model.report(code)
  assert report.exact
  np.testing.assert_array_equal(model.decode(data), code)
  # rANS flushes 4-6 bytes; 16-bit tables cost a little over the float estimate.
  assert abs(report.payload_bits - report.estimate.sum()) <= 48 + 0.002 * report.raw.sum()
  assert report.payload_bits < 0.95 * report.raw.sum()
  header, payloads = bitstream.unpack(data)
  assert header.system == "progressive" and header.latent_shape == (6, 12, 10)
  assert len(data) - sum(len(p) for p in payloads) <= 80  # Container header + CRC.


def test_coded_layer_count_codes_only_the_first_layers(trained):
  config, params, _ = trained
  config = config.copy_and_resolve_references()
  config.model.context.coded_layer_count = 2
  model = CodeCodec(config, params)
  code = synthetic_codes.generate(12, 6, 6, 2, 3)
  np.testing.assert_array_equal(model.decode(model.encode(code)), code[..., :4])


def test_decoding_with_another_model_is_refused(trained):
  config, params, _ = trained
  data = CodeCodec(config, params).encode(synthetic_codes.generate(0, 4, 4, 2, 3))
  other = CodeCodec(config, jax.tree_util.tree_map(lambda a: a + 1e-3, params))
  with pytest.raises(CodecError, match="written by model"):
    other.decode(data)


def test_codes_whose_depth_is_not_a_multiple_of_layer_depth_are_rejected(trained):
  config, params, _ = trained
  with pytest.raises(ValueError, match="multiple of layer_depth"):
    CodeCodec(config, params).encode(np.zeros((4, 4, 5), np.uint8))


# ---- through jcomp.main's entry point -------------------------------------------------------------

def test_train_and_evaluate_checkpoints_resumes_and_its_workdir_codes(tmp_path, capsys):
  config = _config(**{"data.code_shape": (8, 8, 2, 2), "crop_size": 8, "data.eval_crop_size": 8,
                      "data.num_eval_images": 2, "batch_size": 2, "num_train_steps": 2,
                      "log_every_steps": 1, "eval_every_steps": 2, "checkpoint_every_steps": 2})
  workdir = str(tmp_path / "wd")
  with fast_compilation():
    assert int(train.train_and_evaluate(config, workdir).step) == 2
    config.num_train_steps = 3
    assert int(train.train_and_evaluate(config, workdir).step) == 3
  out = capsys.readouterr().out
  assert "step       3" in out and "step       1" in out and "bits/bit" in out and "zeroth-order" in out
  assert out.count("step       1 ") == 1  # The second run resumed at step 2.
  other = _config(**{"model.context.layer_depth": 3})
  with pytest.raises(checkpoint.CheckpointError, match="layer_depth"):
    train.train_and_evaluate(other, workdir)
  model = CodeCodec.load(workdir)  # checkpoint + model only
  code = synthetic_codes.generate(1, 5, 4, 2, 2)
  with fast_compilation():
    report, _ = model.report(code)
  assert report.exact
