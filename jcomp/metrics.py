"""Image-quality metrics: the one MS-SSIM and PSNR of jcomp, used by training, eval and codecs.

MS-SSIM follows Wang, Simoncelli, Bovik (2003) exactly as `tf.image.ssim_multiscale` computes it: five
scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), an 11x11 Gaussian window (sigma 1.5) applied
with VALID padding, K1 = 0.01, K2 = 0.03, data range 255, 2x2 average-pool downsampling after symmetric
padding to an even size, contrast-structure terms clipped at 0 (ReLU), per-channel products averaged over
the colour channels. One extension: where a scale is smaller than the window (e.g. the 10x10 coarsest scale
of a 160x160 training crop, which TF rejects), the window shrinks to the image size with sigma scaled in
proportion, as in the reference `msssim.py` of tensorflow/models that Mentzer et al. trained with. For
images of at least 176x176 pixels the result equals TF's.

All functions are pure JAX, differentiable and jit-able; images are float arrays in [0, 255] of shape
(B, H, W, C) (or (H, W, C)).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian_kernel(size: int, sigma: float) -> jnp.ndarray:
  """Normalized 1D Gaussian window, shape (size,). TF's 2D window is its outer product with itself."""
  coords = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2.0
  return jax.nn.softmax(-0.5 * coords**2 / sigma**2)


def _filter(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """VALID filtering of (B, H, W, C) with the separable window kernel x kernel (k,), channel by channel.

  Each 1D pass is a matmul with the banded (n - k + 1, n) matrix of the taps: on XLA's CPU backend about 5x
  faster than a depthwise `conv_general_dilated` (which dominated `jcomp eval`'s time per JPEG point), and
  equal to it within float32 rounding (MS-SSIM within 1e-6 on Kodak).
  """
  k = kernel.shape[0]
  for axis in (1, 2):
    n = x.shape[axis]
    d = jnp.arange(n)[None, :] - jnp.arange(n - k + 1)[:, None]
    band = jnp.where((d >= 0) & (d < k), kernel[jnp.clip(d, 0, k - 1)], 0.0)
    x = jnp.moveaxis(jnp.tensordot(band, jnp.moveaxis(x, axis, 0), axes=1,
                                   precision=jax.lax.Precision.HIGHEST), 0, axis)
  return x


def _ssim_per_channel(x, y, max_val, filter_size, filter_sigma, k1, k2):
  """Returns (ssim, cs), each (B, C): means over space of l*cs and of cs."""
  h, w = x.shape[-3], x.shape[-2]
  size = min(filter_size, h, w)
  sigma = filter_sigma * size / filter_size
  kernel = _gaussian_kernel(size, sigma)
  c1 = (k1 * max_val) ** 2
  c2 = (k2 * max_val) ** 2
  mean_x = _filter(x, kernel)
  mean_y = _filter(y, kernel)
  num0 = mean_x * mean_y * 2.0
  den0 = mean_x**2 + mean_y**2
  luminance = (num0 + c1) / (den0 + c1)
  num1 = _filter(x * y, kernel) * 2.0
  den1 = _filter(x**2 + y**2, kernel)
  cs = (num1 - num0 + c2) / (den1 - den0 + c2)
  return jnp.mean(luminance * cs, axis=(-3, -2)), jnp.mean(cs, axis=(-3, -2))


def _downsample(x: jnp.ndarray) -> jnp.ndarray:
  """2x2 average pool after symmetric padding of odd sizes (as TF)."""
  ph, pw = x.shape[-3] % 2, x.shape[-2] % 2
  if ph or pw:
    x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="symmetric")
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def ms_ssim(x: jnp.ndarray, y: jnp.ndarray, max_val: float = 255.0,
            weights=MS_SSIM_WEIGHTS, filter_size: int = 11,
            filter_sigma: float = 1.5, k1: float = 0.01,
            k2: float = 0.03) -> jnp.ndarray:
  """Multi-scale SSIM.

  Args:
    x, y: images (B, H, W, C) or (H, W, C), float in [0, max_val].
  Returns:
    MS-SSIM per image, shape (B,) (or a scalar for unbatched input), in [0, 1].
  """
  unbatched = x.ndim == 3
  if unbatched:
    x, y = x[None], y[None]
  x = x.astype(jnp.float32)
  y = y.astype(jnp.float32)
  mcs = []
  ssim = None
  for k in range(len(weights)):
    if k > 0:
      x, y = _downsample(x), _downsample(y)
    ssim, cs = _ssim_per_channel(x, y, max_val, filter_size, filter_sigma, k1, k2)
    mcs.append(jax.nn.relu(cs))
  values = jnp.stack(mcs[:-1] + [jax.nn.relu(ssim)], axis=-1)  # (B, C, S)
  w = jnp.asarray(weights, jnp.float32)
  # x ** w with a safe gradient at x = 0.
  powered = jnp.where(values > 0, jnp.power(jnp.maximum(values, 1e-12), w), 0.0)
  out = jnp.mean(jnp.prod(powered, axis=-1), axis=-1)
  return out[0] if unbatched else out


def ms_ssim_db(value) -> float | jnp.ndarray:
  """MS-SSIM in decibels: -10 log10(1 - MS-SSIM)."""
  if isinstance(value, float):
    return -10.0 * math.log10(max(1.0 - value, 1e-10))
  return -10.0 * jnp.log10(jnp.maximum(1.0 - value, 1e-10))


def mse(x: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
  """Mean squared error per image over (H, W, C); shape (B,)."""
  d = x.astype(jnp.float32) - y.astype(jnp.float32)
  return jnp.mean(d * d, axis=(-3, -2, -1))


def psnr(x: jnp.ndarray, y: jnp.ndarray, max_val: float = 255.0) -> jnp.ndarray:
  """PSNR in dB per image over RGB, (B,). Identical images give +inf."""
  return 10.0 * jnp.log10(max_val**2 / mse(x, y))
