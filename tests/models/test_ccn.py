"""CCN grouped masked convolutions: the masks' block structure and causality in the sub-block coding order.

The order (jcomp/models/ccn.py): code 0 in raster order, then codes 1 .. K-1 one whole channel at a time.
Layer stacks are checked against the decoder's own schedule (`subblock_schedule`): an output may depend only
on positions of strictly earlier steps. (The whole model: tests/models/test_context_contract.py.)
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jcomp.models.ccn import CCNContextModel, GroupedMaskedConv, ccn_mask, subblock_schedule
from tests.conftest import random_like

K, H, W = 3, 4, 5


def _step_of(kernel_size, spatial_codes) -> np.ndarray:
  """(K, H, W) int: the decoding step of every position."""
  step = np.zeros((K, H, W), np.int64)
  for s, pos in enumerate(subblock_schedule((K, H, W), kernel_size, spatial_codes)):
    step[pos[:, 0], pos[:, 1], pos[:, 2]] = s
  return step


def _jacobian_support(fn, x: np.ndarray) -> np.ndarray:
  """[p, q]: output at p (leading axes of out, after the batch) changes with input q (bool)."""
  jac = np.abs(np.asarray(jax.jacrev(fn)(jnp.asarray(x))))
  n_in = x.size
  return jac.reshape(-1, n_in) > 0


@pytest.mark.parametrize("constrain", [5, 6])
def test_mask_blocks_see_earlier_codes_fully_and_later_codes_never(constrain):
  m = ccn_mask((3, 3), 4, 2, 3, constrain, spatial_codes=1)
  assert m.shape == (3, 3, 8, 12)
  blocks = m.reshape(3, 3, 4, 2, 4, 3)  # (kh, kw, ki, gi, ko, go)
  for ki in range(4):
    for ko in range(4):
      b = blocks[:, :, ki, :, ko, :]
      assert (b == b[:, :, :1, :1]).all()  # every block pair shares one spatial mask
      if ki < ko:
        assert b.all()
      elif ki > ko:
        assert not b.any()
  own_spatial, own_subblock = blocks[:, :, 0, 0, 0, 0], blocks[:, :, 1, 0, 1, 0]
  expected = np.array([[1, 1, 1], [1, constrain == 6, 0], [0, 0, 0]])
  np.testing.assert_array_equal(own_spatial, expected)
  np.testing.assert_array_equal(own_subblock, np.array([[0, 0, 0], [0, constrain == 6, 0], [0, 0, 0]]))


def test_mask_rejects_even_kernels_and_unknown_constrain():
  with pytest.raises(ValueError):
    ccn_mask((4, 3), 2, 1, 1, 5)
  with pytest.raises(ValueError):
    ccn_mask((3, 3), 2, 1, 1, 7)


@pytest.mark.parametrize("spatial_codes", [0, 1])
@pytest.mark.parametrize("group_in,group_out", [(1, 1), (1, 3), (2, 2), (3, 1)])
def test_stacked_layers_depend_only_on_earlier_steps(group_in, group_out, spatial_codes):
  """conv(5, 1 -> group_in) then conv(6, group_in -> group_out): output block of (k, y, x) vs input codes."""
  ks = (3, 3)
  l1 = GroupedMaskedConv(1, group_in, 5, ks, spatial_codes)
  l2 = GroupedMaskedConv(group_in, group_out, 6, ks, spatial_codes)
  x = np.random.default_rng(0).normal(size=(1, H, W, K)).astype(np.float32)
  p1 = random_like(jax.eval_shape(l1.init, jax.random.PRNGKey(0), x), seed=1, scale=0.5)
  h = jnp.zeros((1, H, W, K * group_in))
  p2 = random_like(jax.eval_shape(l2.init, jax.random.PRNGKey(0), h), seed=2, scale=0.5)
  fn = lambda v: l2.apply(p2, jnp.tanh(l1.apply(p1, v, -1.0)))
  dep = _jacobian_support(fn, x).reshape(H, W, K, group_out, H, W, K).any(axis=3)  # [y, x, k, y', x', k']
  step = _step_of(ks, spatial_codes)
  y, xx, k, y2, x2, k2 = np.nonzero(dep)
  assert (step[k2, y2, x2] < step[k, y, xx]).all()
  assert dep[:, :, 1, :, :, 0].any(axis=(2, 3)).all()  # code 1 sees code 0 at every position


@functools.lru_cache(maxsize=None)
def _model_dependencies(spatial_codes: int, kernel: int) -> np.ndarray:
  """(N, N) bool over positions in (K, H, W) raster order: logits at p change with the value at q."""
  model = CCNContextModel(num_centers=4, group=2, num_residual_units=1, kernel_size=(kernel, kernel),
                          spatial_codes=spatial_codes)
  values = jnp.asarray(np.random.default_rng(0).normal(size=(1, K, H, W)), jnp.float32)
  params = random_like(jax.eval_shape(model.init, jax.random.PRNGKey(0), values, 0.0), seed=1, scale=0.5)
  jac = np.abs(np.asarray(jax.jacrev(lambda v: model.apply(params, v, -1.5))(values)))
  return jac.reshape(K * H * W, 4, K * H * W).max(axis=1) > 0


def test_model_sub_block_codes_see_the_previous_channel_but_not_their_own():
  """Code 1 at (1, 1) sees the whole 3x3 window of code 0 around it, below and right included."""
  dep = _model_dependencies(1, 3).reshape(K, H, W, K, H, W)
  assert dep[1, 1, 1, 0, :3, :3].all()
  assert not dep[1, :, :, 1].any() and not dep[1, :, :, 2].any()


def test_kodak_latent_is_decoded_in_few_steps():
  assert len(subblock_schedule((32, 64, 96), (5, 5), 1)) == 3 * 63 + 96 + 31 == 316
  assert len(subblock_schedule((32, 64, 96), (3, 3), 1)) == 2 * 63 + 96 + 31 == 253
  assert len(subblock_schedule((32, 64, 96), (5, 5), 0)) == 32
  pos = np.concatenate(subblock_schedule((32, 64, 96), (5, 5), 1))
  assert len(pos) == 32 * 64 * 96 and len(np.unique(pos, axis=0)) == len(pos)
