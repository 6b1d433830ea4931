"""Training: the tiny system learns, its optimizer groups are right, a resumed run equals an unbroken one."""

import os
import subprocess

import jax
import numpy as np
import pytest

from jcomp import checkpoint, train
from tests.conftest import PYTHON, fast_compilation, subprocess_env, tiny_config


def test_loss_decreases_when_fitting_a_fixed_batch(tiny_system):
  state = tiny_system.init(0)
  batch = tiny_system.batches.batch(0)
  losses = []
  for _ in range(30):
    state, m = tiny_system.step(state, batch)
    losses.append(float(m["loss"]))
  assert np.all(np.isfinite(losses))
  first, last = np.mean(losses[:5]), np.mean(losses[-5:])
  assert last < 0.9 * first, f"mean loss {first:.1f} over the first 5 steps, {last:.1f} over the last 5"
  assert int(state.step) == 30


def test_train_step_reports_the_documented_metrics(tiny_system):
  state, m = tiny_system.step(tiny_system.init(1), tiny_system.batches.batch(1))
  expected = {"loss", "distortion", "rate_term", "bits_per_symbol", "H", "bpp_est", "importance",
              "ms_ssim", "psnr", "mse", "lr_ae", "lr_context", "grad_norm"}
  assert expected <= set(m)
  m = jax.device_get(m)
  K = tiny_system.config.model.num_channels
  # bpp_est codes the kept symbols only (MC); H averages MC with the cost of all symbols (C).
  assert m["bpp_est"] == pytest.approx((2 * m["H"] - m["bits_per_symbol"]) * K / 64, rel=1e-4)
  assert m["bpp_est"] <= m["bits_per_symbol"] * K / 64 * (1 + 1e-6)
  assert 0 < m["ms_ssim"] <= 1 and m["grad_norm"] > 0
  assert int(state.step) == 1


def test_parameters_are_grouped_into_encoder_decoder_centers_and_context(tiny_system):
  labels = train.param_labels(tiny_system.system, tiny_system.init(0).params)
  assert set(jax.tree_util.tree_leaves(labels["context"])) == {"context"}
  assert labels["autoencoder"]["quant"]["centers"] == "centers"
  assert set(jax.tree_util.tree_leaves(labels["autoencoder"]["decoder"])) == {"decoder"}
  rest = {k: v for k, v in labels["autoencoder"].items() if k not in ("quant", "decoder")}
  assert set(jax.tree_util.tree_leaves(rest)) == {"encoder"}


def _config(num_train_steps: int):
  c = tiny_config()
  c.num_train_steps = num_train_steps
  c.log_every_steps, c.eval_every_steps, c.checkpoint_every_steps = 2, 1000, 1000
  return c


def _train(config, workdir):
  with fast_compilation():
    return train.train_and_evaluate(config, str(workdir))


def test_learning_rate_warms_up_linearly_then_decays_in_steps(tiny_system):
  config = tiny_config()
  config.optim.ae_lr, config.optim.warmup_steps = 1e-3, 4
  config.optim.lr_decay, config.optim.lr_decay_steps = 0.1, 10
  lrs = [float(train.lr_schedule(config, config.optim.ae_lr, s)) for s in (0, 1, 3, 9, 10)]
  np.testing.assert_allclose(lrs, [2.5e-4, 5e-4, 1e-3, 1e-3, 1e-4], rtol=1e-6)
  # The optimizer applies it: Adam's first update has size lr(0) per parameter.
  params = {"autoencoder": {"w": np.ones(3, np.float32)}}
  config.optim.ae_weight_decay = 0.0
  tx = train.make_optimizer(config, tiny_system.system)
  updates, _ = tx.update({"autoencoder": {"w": np.full(3, 7.0, np.float32)}}, tx.init(params), params)
  np.testing.assert_allclose(updates["autoencoder"]["w"], -2.5e-4, rtol=1e-3)


def test_cosine_schedule_decays_to_the_final_fraction():
  config = tiny_config()
  config.optim.schedule, config.optim.lr_decay, config.num_train_steps = "cosine", 0.05, 100
  lrs = [float(train.lr_schedule(config, 1.0, s)) for s in (0, 50, 100)]
  np.testing.assert_allclose(lrs, [1.0, 0.525, 0.05], rtol=1e-5)


def test_frozen_groups_keep_their_weights_and_batch_statistics(tmp_path):
  """optim.freeze = ('ae', 'centers'): the context model alone learns, on a frozen autoencoder (eval mode)."""
  c = _config(2)
  first = _train(c, tmp_path / "a")
  c = _config(2)
  c.init_from, c.optim.freeze = str(tmp_path / "a"), ("ae", "centers")
  frozen = _train(c, tmp_path / "b")
  a, b = jax.device_get(first), jax.device_get(frozen)
  jax.tree_util.tree_map(np.testing.assert_array_equal, a.params["autoencoder"], b.params["autoencoder"])
  jax.tree_util.tree_map(np.testing.assert_array_equal, a.batch_stats, b.batch_stats)
  moved = [not np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a.params["context"]),
                                                     jax.tree_util.tree_leaves(b.params["context"]))]
  assert any(moved)
  c.optim.freeze = ("decoders",)
  with pytest.raises(ValueError, match="unknown groups"):
    train.make_optimizer(c, tiny_system_like(c))


def test_a_decoder_fine_tune_keeps_everything_but_the_decoder(tmp_path):
  """optim.freeze = ('encoder', 'centers', 'context') (the MSE family's recipe): only the decoder's weights
  move, BatchNorm statistics stay (eval mode), so the symbols, and every file's rate, are the parent's."""
  c = _config(2)
  first = _train(c, tmp_path / "a")
  c = _config(2)
  c.init_from, c.optim.freeze, c.loss.distortion = str(tmp_path / "a"), ("encoder", "centers", "context"), "mse"
  tuned = jax.device_get(_train(c, tmp_path / "b"))
  a = jax.device_get(first)
  for group in ("encoder", "quant"):
    jax.tree_util.tree_map(np.testing.assert_array_equal, a.params["autoencoder"][group],
                           tuned.params["autoencoder"][group])
  jax.tree_util.tree_map(np.testing.assert_array_equal, a.params["context"], tuned.params["context"])
  jax.tree_util.tree_map(np.testing.assert_array_equal, a.batch_stats, tuned.batch_stats)
  moved = [not np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a.params["autoencoder"]["decoder"]),
                                                     jax.tree_util.tree_leaves(tuned.params["autoencoder"]["decoder"]))]
  assert all(moved)


def tiny_system_like(config):
  from jcomp import systems  # pylint: disable=g-import-not-at-top
  return systems.build(config)


def test_resumed_training_equals_unbroken_training(tmp_path):
  n = 4
  unbroken = _train(_config(2 * n), tmp_path / "unbroken")
  first = _train(_config(n), tmp_path / "resumed")
  assert int(first.step) == n
  resumed = _train(_config(2 * n), tmp_path / "resumed")
  assert int(unbroken.step) == int(resumed.step) == 2 * n
  assert sorted(os.listdir(tmp_path / "resumed" / "checkpoints")) == [str(n), str(2 * n)]
  for name in ("params", "batch_stats", "opt_state"):
    a, b = jax.device_get(getattr(unbroken, name)), jax.device_get(getattr(resumed, name))
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7), a, b)
  saved = checkpoint.load_config(str(tmp_path / "resumed"))
  assert saved.num_train_steps == 2 * n and saved.model.num_channels == 4


def test_a_finished_run_is_not_trained_further(tmp_path):
  state = _train(_config(2), tmp_path)
  mtimes = {p: os.stat(os.path.join(tmp_path, "checkpoints", p)).st_mtime_ns
            for p in os.listdir(tmp_path / "checkpoints")}
  again = _train(_config(2), tmp_path)
  assert int(again.step) == 2
  jax.tree_util.tree_map(np.testing.assert_array_equal, jax.device_get(state.params),
                         jax.device_get(again.params))
  assert mtimes == {p: os.stat(os.path.join(tmp_path, "checkpoints", p)).st_mtime_ns
                    for p in os.listdir(tmp_path / "checkpoints")}


def test_init_from_a_smaller_model_grows_it(tmp_path):
  small = jax.device_get(_train(_config(2), tmp_path / "small").params)
  c = _config(1)
  c.init_from = str(tmp_path / "small")
  c.model.num_channels, c.model.num_centers = 8, 2 * c.model.num_centers - 1  # K 4 -> 8, L 6 -> 11
  c.optim.ae_lr = 0.0  # one step that keeps E, D and the centers where init_from put them
  grown = jax.device_get(_train(c, tmp_path / "grown").params)
  K, L = 4, len(small["autoencoder"]["quant"]["centers"])
  np.testing.assert_array_equal(grown["autoencoder"]["quant"]["centers"][:L], small["autoencoder"]["quant"]["centers"])
  enc_s, enc_g = small["autoencoder"]["encoder"]["Conv_2"], grown["autoencoder"]["encoder"]["Conv_2"]
  np.testing.assert_array_equal(enc_g["kernel"][..., :K], enc_s["kernel"][..., :K])
  np.testing.assert_array_equal(enc_g["kernel"][..., -1], enc_s["kernel"][..., -1])  # the importance filter
  (dec_g,), (dec_s,) = (list(p["decoder"]["Upsample_0"].values()) for p in (grown["autoencoder"], small["autoencoder"]))
  np.testing.assert_array_equal(dec_g["kernel"][:, :, :K], dec_s["kernel"][:, :, :K])
  assert not dec_g["kernel"][:, :, K:].any()
  assert grown["context"]["conv_out"]["kernel"].shape[-1] == 2 * L - 1


def test_a_workdir_loads_for_coding_without_training_code(tmp_path):
  """Codec.load(workdir) reads the weights from the checkpoint alone: no trainer, no optimizer imported."""
  state = _train(_config(2), tmp_path / "wd")
  script = ("import sys, numpy as np; from jcomp.coding.codec import Codec; "
            f"c = Codec.load({str(tmp_path / 'wd')!r}); "
            "print(sorted(m for m in ('jcomp.train', 'jcomp.systems', 'optax') if m in sys.modules)); "
            "np.save(sys.argv[1], c.variables['params']['context']['conv_out']['kernel'])")
  out = subprocess.run([PYTHON, "-c", script, str(tmp_path / "k.npy")], capture_output=True, text=True,
                       env=subprocess_env(), check=True).stdout
  assert out.strip() == "[]"
  kernel = jax.device_get(state.params)["context"]["conv_out"]["kernel"]
  np.testing.assert_array_equal(np.load(tmp_path / "k.npy"), kernel)
