"""Losses: the soft-assignment rate gradient codes the same bits and pulls latents toward likely centers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import li2018_stage1
from jcomp import losses, systems

CENTERS = jnp.array([-1.0, 0.0, 1.0])


def test_soft_rate_gradient_codes_the_hard_symbols_bits():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.standard_normal((4, 5, 3)), jnp.float32)
  latents = jnp.asarray(rng.uniform(-1.5, 1.5, (4, 5)), jnp.float32)
  symbols = jnp.argmin(jnp.abs(latents[..., None] - CENTERS), axis=-1)
  soft = losses.symbol_bits_soft_gradient(logits, symbols, latents, CENTERS, sigma=1.0)
  np.testing.assert_allclose(soft, losses.symbol_bits(logits, symbols), rtol=1e-6)


@pytest.mark.parametrize("likely", [0, 2])
def test_soft_rate_gradient_pulls_a_latent_toward_the_likelier_center(likely):
  logits = jnp.full((3,), -4.0).at[likely].set(4.0)  # P puts almost all mass on center `likely`
  z = jnp.asarray(0.1)  # quantizes to the middle center, which P finds unlikely
  bits = lambda z: losses.symbol_bits_soft_gradient(logits, jnp.asarray(1), z, CENTERS, sigma=1.0)
  step = -jax.grad(bits)(z)  # gradient descent direction on the bits
  assert np.sign(step) == np.sign(CENTERS[likely] - z), float(step)


def test_soft_rate_gradient_is_refused_for_the_binarizer():
  c = li2018_stage1.get_config()
  c.loss.soft_rate_gradient = True
  with pytest.raises(ValueError, match="soft_rate_gradient needs model.quantizer='centers'"):
    systems.build(c).validate()
