"""Composes the shared parts into one compression autoencoder (Mentzer et al. 2018, Fig. 2):

  x ─> Encoder ─┬─ z (K channels) ──(x) mask ─> Quantizer ─> values, symbols ─> Decoder ─> x_hat
                └─ importance ─> mask (eq. 14, or Li et al.'s trimmed levels)

The context model P is a separate module (its own parameter tree, trained on its own loss, eq. 21); it reads
the symbol volume as (B, K, h, w) (`to_volume`). Which parts are used is set by `config.model`:
`quantizer` ("centers" | "binarizer"), `importance` ("mentzer" | "li" | "none"), `context.name`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jcomp.models import importance as importance_lib
from jcomp.models.autoencoder import Decoder, Encoder
from jcomp.models.quantizer import Binarizer, CentersQuantizer, nearest_center


class Autoencoder(nn.Module):
  """E, importance map, Q and D. Latent stride 8."""
  num_channels: int                 # K
  num_centers: int = 6              # L
  quantizer: str = "centers"
  importance: str = "mentzer"
  importance_levels: int = 4        # Li et al.: number of importance levels
  sigma: float = 1.0
  features: int = 128
  num_blocks: int = 5
  units_per_block: int = 3
  kernel_size: int = 3
  upsample: str = "transpose"
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    extra = 1 if self.importance == "mentzer" else 0
    kw = dict(features=self.features, num_blocks=self.num_blocks, units_per_block=self.units_per_block,
              kernel_size=self.kernel_size, dtype=self.dtype)
    self.encoder = Encoder(self.num_channels + extra, **kw)
    self.decoder = Decoder(upsample=self.upsample, **kw)
    if self.quantizer == "centers":
      self.quant = CentersQuantizer(self.num_centers, self.sigma)
    elif self.quantizer == "binarizer":
      self.quant = Binarizer()
    else:
      raise ValueError(f"unknown quantizer {self.quantizer!r}; choose 'centers' or 'binarizer'")
    if self.importance == "li":
      self.importance_net = [nn.Conv(self.features // 2, (3, 3), strides=2, dtype=self.dtype),
                             nn.Conv(1, (1, 1))]
    elif self.importance not in ("mentzer", "none"):
      raise ValueError(f"unknown importance map {self.importance!r}; choose 'mentzer', 'li' or 'none'")

  def encode(self, x: jnp.ndarray, train: bool) -> dict[str, jnp.ndarray]:
    """x (B, H, W, 3) in [0, 255], H and W multiples of 8.

    Returns dict with `values` (B, h, w, K) float32 quantized latents (training gradient attached),
    `symbols` (B, h, w, K) int32, `mask` (B, h, w, K) in {0, 1} (all ones without importance map) and
    `importance` (B, h, w) float in [0, K] (the number of kept channels, before rounding) and `latents`
    (B, h, w, K) float32, what the quantizer read (z times the mask; centers quantizer).
    """
    z, features = self.encoder(x, train)
    K = self.num_channels
    if self.importance == "mentzer":
      z, y = z[..., :K], z[..., K]
      mask, soft = importance_lib.mentzer_mask(y, K)
      importance = jnp.sum(soft, axis=-1)
    elif self.importance == "li":
      # Li et al.'s importance network reads intermediate encoder features (after the residual blocks, at
      # twice the code's resolution; a stride-2 conv brings them down). Not z: a stage-1 encoder's z reach
      # |z| ~ 100 and would saturate p at 0 or 1, where the mask's gradient cannot reach it.
      p = jax.nn.sigmoid(self.importance_net[1](nn.relu(self.importance_net[0](features))))[..., 0]
      mask = importance_lib.li_mask(p, K, self.importance_levels)
      importance = p * K
    else:
      mask = jnp.ones_like(z)
      importance = jnp.full(z.shape[:-1], float(K))
    if self.quantizer == "binarizer":
      values, symbols = self.quant(z)
      values, symbols = values * mask, symbols * jax.lax.stop_gradient(mask).astype(jnp.int32)
    else:
      z = (z * mask).astype(jnp.float32)
      values, symbols = self.quant(z)
    return dict(values=values, symbols=symbols, mask=mask, importance=importance, latents=z)

  def decode(self, values: jnp.ndarray, train: bool) -> jnp.ndarray:
    """values (B, h, w, K) -> x_hat (B, 8h, 8w, 3) float32 in [0, 255]."""
    return self.decoder(values, train)

  def __call__(self, x: jnp.ndarray, train: bool) -> dict[str, jnp.ndarray]:
    out = self.encode(x, train)
    out["x_hat"] = self.decode(out["values"], train)
    return out


def masked_symbol(quantizer: str, centers) -> int:
  """The symbol every masked-out latent carries (known to a decoder that knows the mask), as `encode` makes it:
  binarizer: 0 (`symbols * mask`, value 0); centers: Q(0), the nearest center to 0 (`quant(z * mask)`, Mentzer
  et al.'s "zero symbol", value centers[Q(0)]). In both cases the masked value is centers[masked_symbol], so
  decoder input = centers[symbols] holds at every position. centers: (L,) float32."""
  if quantizer == "binarizer":
    return 0
  return int(nearest_center(jnp.zeros((), jnp.float32), jnp.asarray(centers, jnp.float32))[1])


def to_volume(t: jnp.ndarray) -> jnp.ndarray:
  """(B, h, w, K, ...) -> (B, K, h, w, ...): the context model's depth-major view."""
  return jnp.moveaxis(t, 3, 1)


def build_autoencoder(model_config: ml_collections.ConfigDict) -> Autoencoder:
  m = model_config
  return Autoencoder(
      num_channels=m.num_channels, num_centers=m.num_centers, quantizer=m.quantizer,
      importance=m.importance, importance_levels=m.importance_levels, sigma=m.sigma,
      features=m.features, num_blocks=m.num_blocks, units_per_block=m.units_per_block,
      kernel_size=m.kernel_size, upsample=m.upsample, dtype=jnp.dtype(m.dtype))
