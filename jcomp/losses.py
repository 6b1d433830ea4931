"""Losses of Mentzer et al. 2018, in bits (Sec. 3.3-3.5, eq. 13, 19-21).

Coding costs are returned per symbol (bits / symbol, averaged over the batch) unless the name says
otherwise; `bpp` divides the summed bits by the number of pixels of the (unpadded) image.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jcomp import metrics
from jcomp.config_lib import lookup

LOG2E = 1.4426950408889634


def symbol_bits(logits: jnp.ndarray, symbols: jnp.ndarray) -> jnp.ndarray:
  """-log2 P(symbol) per position. logits (..., L), symbols (...) int -> bits (...) float32."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.take_along_axis(logp, symbols[..., None], axis=-1)[..., 0] * LOG2E


def symbol_bits_soft_gradient(logits: jnp.ndarray, symbols: jnp.ndarray, latents: jnp.ndarray,
                              centers: jnp.ndarray, sigma: float) -> jnp.ndarray:
  """`symbol_bits` forward; backward, the gradient of the expected bits under the soft assignment (eq. 3),
  sum_l softmax(-sigma (z - c_l)^2)_l (-log2 P(l)), which also reaches the latents z.

  With the hard index the rate's only path to the encoder is the context the symbol gives its successors
  (and the importance map, dead once saturated); this one pulls each z toward the centers P finds likely.
  logits (..., L), symbols (...), latents (...) float, centers (L,) -> bits (...) float32.
  """
  hard = symbol_bits(logits, symbols)
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  w = jax.nn.softmax(-sigma * (latents.astype(jnp.float32)[..., None] - centers) ** 2, axis=-1)
  soft = -jnp.sum(w * logp, axis=-1) * LOG2E
  return jax.lax.stop_gradient(hard) + (soft - jax.lax.stop_gradient(soft))


def coding_cost(bits: jnp.ndarray) -> jnp.ndarray:
  """C (eq. 13), mean bits per symbol over a (B, ...) batch."""
  return jnp.mean(bits)


def masked_coding_cost(bits: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  """MC (eq. 19): bits weighted by the (ceil'ed) mask, mean per symbol. Gradient reaches the mask."""
  return jnp.mean(bits * mask)


def kept_bits(mask: jnp.ndarray) -> jnp.ndarray:
  """Li et al. 2018's rate (eq. 6): kept bits per symbol, the mean of the {0, 1} mask (gradient: the mask's
  surrogate), i.e. the code length before entropy coding, normalised like `coding_cost`."""
  return jnp.mean(mask)


def zeroth_order_bits(bits: jnp.ndarray, layer_depth: int) -> jnp.ndarray:
  """(n,) bits per bit of a per-layer zeroth-order model of binary codes (..., n K) in {0, 1}: the binary
  entropy of each layer's frequency of ones over `bits` itself (an oracle baseline: it ignores the cost of
  sending the frequency)."""
  n = bits.shape[-1] // layer_depth
  p = jnp.asarray(bits, jnp.float32).reshape(-1, n, layer_depth).mean(axis=(0, 2))
  return -(jax.scipy.special.xlogy(p, p) + jax.scipy.special.xlogy(1 - p, 1 - p)) / jnp.log(2.0)


def rate_term(bits_per_symbol: jnp.ndarray, beta: float, target: float) -> jnp.ndarray:
  """beta * max(H - t, 0): the clipped rate term, switched off below the target t (bits/symbol)."""
  return beta * jax.nn.relu(bits_per_symbol - target)


DISTORTIONS = {"ms_ssim": lambda ms_ssim, mse: 1.0 - ms_ssim, "mse": lambda ms_ssim, mse: mse / 255.0**2,
               # Both: equal parts near 22 dB and MS-SSIM 0.85 (1 - 0.85 = 0.15 = 24 x 10^-2.2).
               "ms_ssim+mse": lambda ms_ssim, mse: 1.0 - ms_ssim + 24.0 * mse / 255.0**2}


def distortion(x: jnp.ndarray, x_hat: jnp.ndarray, kind: str) -> tuple[jnp.ndarray, dict]:
  """Mean distortion over the batch and its metrics. x, x_hat (B, H, W, 3) in [0, 255].

  kind 'ms_ssim': 1 - MS-SSIM (to be scaled by K_d); 'mse': MSE / 255^2 (same scale convention);
  'ms_ssim+mse': their sum with MSE x 24 (both metrics at once: the quickstart's).
  """
  ms_ssim = metrics.ms_ssim(x, x_hat)
  mse = metrics.mse(x, x_hat)
  psnr = 10.0 * jnp.log10(255.0**2 / jnp.maximum(mse, 1e-10))
  d = lookup(DISTORTIONS, "distortion", kind)(ms_ssim, mse)
  return jnp.mean(d), dict(ms_ssim=jnp.mean(ms_ssim), psnr=jnp.mean(psnr), mse=jnp.mean(mse))
