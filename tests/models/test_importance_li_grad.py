"""Li et al.'s mask passes the paper's windowed gradient to the importance map."""

import jax
import jax.numpy as jnp
import numpy as np

from jcomp.models import importance


def test_li_mask_gradient_reaches_p_near_each_switch_and_forward_is_exact():
  p = jnp.linspace(0.01, 0.99, 37)
  n, levels = 16, 4
  mask = importance.li_mask(p, n, levels)
  level = np.ceil(np.asarray(p) * levels)
  np.testing.assert_array_equal(np.asarray(mask).sum(-1), np.ceil(level * n / levels))
  grad = jax.grad(lambda q: jnp.sum(importance.li_mask(q, n, levels)))(p)
  assert np.all(np.asarray(grad) > 0)  # every p is within one level of some channel's switch
