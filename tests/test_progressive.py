"""Tests of the progressive binary-code entropy coder: synthetic codes, causality, training, real coding."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jcomp import checkpoint, progressive_infer, progressive_train
from jcomp.coding import bitstream
from jcomp.data import synthetic_codes
from jcomp.models import progressive
from tests.conftest import fast_compilation, random_like


def _config(**overrides):
  from configs import progressive_synthetic  # pylint: disable=g-import-not-at-top
  c = progressive_synthetic.get_config()
  p = c.progressive
  p.layer_depth, p.layer_count, p.features = 2, 3, 8
  p.data.height, p.data.width, p.data.layers, p.data.num_eval = 16, 16, 3, 4
  p.lr = 5e-3
  c.batch_size, c.num_train_steps = 8, 60
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


def test_cli_writes_held_out_samples_and_a_single_sample(tmp_path):
  assert synthetic_codes.main([f"--out={tmp_path}/set", "--count=2", "--seed=5", "--height=6",
                               "--width=7", "--layer-depth=2", "--layers=3"]) == 0
  for i in range(2):
    with np.load(tmp_path / "set" / f"sample_{i:05d}.npz") as f:
      np.testing.assert_array_equal(f["codes"], synthetic_codes.generate(5 + i, 6, 7, 2, 3))
  assert synthetic_codes.main([f"--out={tmp_path}/one.npz", "--single", "--seed=3"]) == 0
  codes = progressive_train.load_codes(str(tmp_path / "one.npz"))
  np.testing.assert_array_equal(codes, synthetic_codes.generate(3))


def test_load_codes_accepts_binarizer_symbols_with_a_batch_axis_and_rejects_non_binary_arrays(tmp_path):
  symbols = np.random.default_rng(0).integers(0, 2, (1, 4, 5, 8)).astype(np.int32)  # (B=1, h, w, K)
  np.savez(tmp_path / "li.npz", codes=symbols)
  codes = progressive_train.load_codes(str(tmp_path / "li.npz"))
  assert codes.dtype == np.uint8
  np.testing.assert_array_equal(codes, symbols[0])
  np.savez(tmp_path / "bad.npz", codes=np.full((4, 4, 4), 2))
  with pytest.raises(ValueError, match="0, 1"):
    progressive_train.load_codes(str(tmp_path / "bad.npz"))


# ---- causality ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def perturbed():
  """Logits of a random model (K = 3, N = 2, 5x5) on a code and on each of its one-bit perturbations."""
  k, n, h, w = 3, 2, 5, 5
  net = progressive.ProgressiveModel(layer_depth=k, layer_count=n, features=4)
  shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((1, h, w, n * k)),
                          jnp.zeros((1,), jnp.int32))["params"]
  params = random_like(shapes, seed=1, scale=0.5)
  code = np.random.default_rng(2).integers(0, 2, (h, w, n * k)).astype(np.uint8)
  flips = np.repeat(code[None], h * w * n * k + 1, axis=0)
  positions = [(y, x, c) for c in range(n * k) for y in range(h) for x in range(w)]
  for i, (y, x, c) in enumerate(positions):
    flips[i + 1, y, x, c] ^= 1
  with fast_compilation():
    fn = jax.jit(lambda p, b: progressive.all_logits(net, p, progressive.to_model_input(b, n, k), n))
    # One code per call, as the coder calls it: XLA's CPU convolutions may round a batch element
    # differently depending on its index in the batch, and the test demands exact equality.
    logits = np.stack([np.asarray(fn(params, f[None]))[0] for f in flips])
  return net, positions, logits[0], logits[1:]


def _dependencies(perturbed) -> np.ndarray:
  """(P, P) bool over the bits in coding order (layer, k, y, x): [p, q] = the logit of p changes with bit q."""
  net, positions, base, logits = perturbed
  k = net.layer_depth
  ordered = sorted(positions, key=lambda p: (p[2] // k, p[2] % k, p[0], p[1]))
  index = {p: i for i, p in enumerate(ordered)}
  dep = np.zeros((len(positions), len(positions)), bool)
  for q, z in zip(positions, logits):
    for p in map(tuple, np.argwhere(z != base)):
      dep[index[p], index[q]] = True
  return dep


def test_progressive_model_logits_ignore_the_current_and_later_bits_in_coding_order(perturbed):
  p, q = np.nonzero(_dependencies(perturbed))
  bad = q >= p
  assert not bad.any(), f"logits at {p[bad][:5]} depend on later or current bits {q[bad][:5]}"


def test_progressive_model_logits_depend_on_some_earlier_bit(perturbed):
  dep = _dependencies(perturbed)
  blind = [p for p in range(1, dep.shape[0]) if not dep[p, :p].any()]
  assert not blind, f"logits at coding positions {blind[:5]} depend on no earlier bit"


def test_wavefronts_only_group_bits_that_do_not_depend_on_each_other(perturbed):
  net, positions, base, logits = perturbed
  k, (h, w) = net.layer_depth, base.shape[:2]
  fronts = progressive.wavefronts(net, h, w)
  assert sum(len(f) for f in fronts) == h * w * k
  t = np.zeros((h, w, k), int)
  for i, f in enumerate(fronts):
    t[f[:, 1], f[:, 2], f[:, 0]] = i
  for (y, x, c), z in zip(positions, logits):
    layer = c // k
    same_layer = (z != base)[:, :, layer * k:(layer + 1) * k]
    assert not same_layer[t <= t[y, x, c % k]].any()
    assert not (z != base)[:, :, :layer * k].any()  # Earlier layers never see it.


# ---- training -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
  """A model briefly trained on 16x16x(3 layers x 2 bits) synthetic codes, and its config."""
  config = _config()
  net = progressive.build(config.progressive)
  tx = progressive_train.make_optimizer(config)
  batches = progressive_train._Batches(config)  # pylint: disable=protected-access
  with fast_compilation():
    state = jax.jit(functools.partial(progressive_train.create_train_state, net, config, tx))(
        jax.random.PRNGKey(0))
    step = jax.jit(functools.partial(progressive_train.train_step, net, tx)).lower(
        state, batches.batch(1)).compile()
  for s in range(1, config.num_train_steps + 1):
    state, _ = step(state, batches.batch(s))
  return config, net, jax.device_get(state.params), batches.eval_codes()


def test_briefly_trained_model_beats_the_per_layer_zeroth_order_model_on_held_out_codes(trained):
  config, net, params, codes = trained
  e = progressive_train.evaluate(net, params, jax.jit(functools.partial(progressive_train.metrics, net)),
                                 codes)
  assert e["bits_per_bit"] < e["zeroth_order_bits_per_bit"] - 0.1, e
  assert np.all(e["layer_bits_per_bit"][:2] < e["zeroth_order_layers"][:2] - 0.03), e


# ---- real coding ----------------------------------------------------------------------------------

def test_real_coding_round_trips_and_its_size_matches_the_estimate(trained):
  config, _, params, _ = trained
  model = progressive_infer.make_model(config, params)
  code = synthetic_codes.generate(11, 12, 10, 2, 3)
  report, data = progressive_infer.run(model, code)
  assert report.exact
  np.testing.assert_array_equal(progressive_infer.decode(model, data), code)
  # Per layer: rANS flushes 4-6 bytes; 16-bit tables cost a little over the float estimate.
  slack = 48 + 0.002 * report.raw
  assert np.all(np.abs(report.real - report.estimate) <= slack), (report.real, report.estimate)
  assert report.real.sum() < 0.95 * report.raw.sum()
  header, payloads = bitstream.unpack(data)
  assert header.system == "progressive" and header.latent_shape == (12, 10, 6)
  assert len(data) - sum(len(p) for p in payloads) <= 80  # Container header + CRC.


def test_coded_layer_count_codes_only_the_first_layers(trained):
  config, _, params, _ = trained
  config = config.copy_and_resolve_references()
  config.progressive.coded_layer_count = 2
  model = progressive_infer.make_model(config, params)
  code = synthetic_codes.generate(12, 6, 6, 2, 3)
  data = progressive_infer.encode(model, code)
  np.testing.assert_array_equal(progressive_infer.decode(model, data), code[..., :4])


def test_decoding_with_another_model_is_refused(trained):
  config, _, params, _ = trained
  data = progressive_infer.encode(progressive_infer.make_model(config, params),
                                  synthetic_codes.generate(0, 4, 4, 2, 3))
  other = progressive_infer.make_model(config, jax.tree_util.tree_map(lambda a: a + 1e-3, params))
  with pytest.raises(ValueError, match="another model"):
    progressive_infer.decode(other, data)


def test_codes_whose_depth_is_not_a_multiple_of_layer_depth_are_rejected(trained):
  config, _, params, _ = trained
  with pytest.raises(ValueError, match="multiple of layer_depth"):
    progressive_infer.encode(progressive_infer.make_model(config, params), np.zeros((4, 4, 5), np.uint8))


# ---- through jcomp.main's entry point -------------------------------------------------------------

def test_train_and_evaluate_dispatches_checkpoints_resumes_and_feeds_the_infer_cli(tmp_path, capsys):
  from jcomp import train  # pylint: disable=g-import-not-at-top
  config = _config(**{"progressive.data.height": 8, "progressive.data.width": 8,
                      "progressive.data.num_eval": 2, "batch_size": 2, "num_train_steps": 2,
                      "log_every_steps": 1, "eval_every_steps": 2, "checkpoint_every_steps": 2})
  workdir = str(tmp_path / "wd")
  with fast_compilation():
    assert int(train.train_and_evaluate(config, workdir).step) == 2
    config.num_train_steps = 3
    assert int(train.train_and_evaluate(config, workdir).step) == 3
  out = capsys.readouterr().out
  assert "step       3" in out and "step       1" in out and "bits/bit" in out and "zeroth-order" in out
  assert out.count("step       1 ") == 1  # The second run resumed at step 2.
  other = _config(**{"progressive.layer_depth": 3})
  with pytest.raises(checkpoint.CheckpointError, match="layer_depth"):
    train.train_and_evaluate(other, workdir)
  npz = tmp_path / "code.npz"
  synthetic_codes.save(str(npz), synthetic_codes.generate(1, 5, 4, 2, 2))
  with fast_compilation():
    assert progressive_infer.main([f"--workdir={workdir}", f"--code={npz}", f"--out={tmp_path}/c.jcomp"]) == 0
  assert "bit-exact" in capsys.readouterr().out
  assert (tmp_path / "c.jcomp").stat().st_size > 0
