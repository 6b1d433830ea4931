"""Composes the shared parts into one compression autoencoder (Mentzer et al. 2018, Fig. 2):

  x ─> Encoder ─┬─ z (K channels) ──(x) mask ─> Quantizer ─> values, symbols ─> Decoder ─> x_hat
                └─ importance ─> mask (eq. 14, or Li et al.'s trimmed levels)

The context model P is a separate module (its own parameter tree, trained on its own loss, eq. 21); it reads
the symbol volume as (B, K, h, w) (`to_volume`). Which parts are used is set by `config.model`:
`quantizer` ("centers" | "binarizer"), `importance` ("mentzer" | "li" | "none"), `context.name`.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from jcomp.config_lib import lookup
from jcomp.models.autoencoder import Decoder, Encoder
from jcomp.models.importance import IMPORTANCE_MAPS
from jcomp.models.quantizer import QUANTIZERS


class Autoencoder(nn.Module):
  """E, importance map, Q and D. Latent stride 8. The parts are looked up by name in `QUANTIZERS` and
  `IMPORTANCE_MAPS`."""
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
  bn_momentum: float = 0.99         # BatchNorm running averages (model.bn_momentum; absent = 0.99)

  def setup(self):
    importance_kw = {"li": dict(levels=self.importance_levels, features=self.features // 2, dtype=self.dtype)}
    quantizer_kw = {"centers": dict(num_centers=self.num_centers, sigma=self.sigma)}
    self.importance_map = lookup(IMPORTANCE_MAPS, "importance map", self.importance)(
        self.num_channels, **importance_kw.get(self.importance, {}))
    self.quant = lookup(QUANTIZERS, "quantizer", self.quantizer)(**quantizer_kw.get(self.quantizer, {}))
    kw = dict(features=self.features, num_blocks=self.num_blocks, units_per_block=self.units_per_block,
              kernel_size=self.kernel_size, dtype=self.dtype, bn_momentum=self.bn_momentum)
    self.encoder = Encoder(self.num_channels + self.importance_map.extra_channels, **kw)
    self.decoder = Decoder(upsample=self.upsample, **kw)

  def encode(self, x: jnp.ndarray, train: bool) -> dict[str, jnp.ndarray]:
    """x (B, H, W, 3) in [0, 255], H and W multiples of 8.

    Returns dict with `values` (B, h, w, K) float32 quantized latents (training gradient attached),
    `symbols` (B, h, w, K) int32, `mask` (B, h, w, K) in {0, 1} (all ones without importance map),
    `importance` (B, h, w) float in [0, K] (the number of kept channels, before rounding) and `latents`
    (B, h, w, K) float32, what the quantizer read.
    """
    z, features = self.encoder(x, train)
    z, mask, importance = self.importance_map(z, features)
    values, symbols, latents = self.quant(z, mask)
    return dict(values=values, symbols=symbols, mask=mask, importance=importance, latents=latents)

  def decode(self, values: jnp.ndarray, train: bool) -> jnp.ndarray:
    """values (B, h, w, K) -> x_hat (B, 8h, 8w, 3) float32 in [0, 255]."""
    return self.decoder(values, train)

  def __call__(self, x: jnp.ndarray, train: bool) -> dict[str, jnp.ndarray]:
    out = self.encode(x, train)
    out["x_hat"] = self.decode(out["values"], train)
    return out


def symbol_values(model_config: ml_collections.ConfigDict, autoencoder_params: dict) -> jnp.ndarray:
  """The value of each symbol index (L,) float32: the learned centers, or (0, 1) for the binarizer."""
  return lookup(QUANTIZERS, "quantizer", model_config.quantizer).symbol_values(autoencoder_params.get("quant"))


def importance_part(model_config: ml_collections.ConfigDict):
  """The importance map's class (its `codes_counts`, `rate_bits`)."""
  return lookup(IMPORTANCE_MAPS, "importance map", model_config.importance)


def to_volume(t: jnp.ndarray) -> jnp.ndarray:
  """(B, h, w, K, ...) -> (B, K, h, w, ...): the context model's depth-major view."""
  return jnp.moveaxis(t, 3, 1)


def build_autoencoder(model_config: ml_collections.ConfigDict) -> Autoencoder:
  m = model_config
  return Autoencoder(
      num_channels=m.num_channels, num_centers=m.num_centers, quantizer=m.quantizer,
      importance=m.importance, importance_levels=m.importance_levels, sigma=m.sigma,
      features=m.features, num_blocks=m.num_blocks, units_per_block=m.units_per_block,
      kernel_size=m.kernel_size, upsample=m.upsample, dtype=jnp.dtype(m.dtype),
      bn_momentum=m.get("bn_momentum", 0.99))
