"""Explicit tables of the model parts, looked up by the name in the config.

  CONTEXT_MODELS   context models (the contract of `jcomp.models.context`), by `config.model.context.name`
  QUANTIZERS       `config.model.quantizer` (jcomp.models.quantizer)
  IMPORTANCE_MAPS  `config.model.importance` (jcomp.models.importance)
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp
import ml_collections

from jcomp.config_lib import lookup
from jcomp.models.ccn import CCNContextModel, CCNGMMContextModel
from jcomp.models.compressor import (Autoencoder, build_autoencoder, importance_part, symbol_values,
                                     to_volume)
from jcomp.models.context import ContextModel
from jcomp.models.importance import IMPORTANCE_MAPS
from jcomp.models.masked3d import ContextModel3D
from jcomp.models.progressive import ProgressiveModel
from jcomp.models.quantizer import QUANTIZERS, masked_symbol


@dataclasses.dataclass(frozen=True)
class ContextEntry:
  """A context model of the table: how to build it from `config.model`, and what it codes: the `latents`
  of an autoencoder (systems with an image codec) or binary `codes` given as data (no autoencoder)."""
  build: Callable[[ml_collections.ConfigDict], ContextModel]
  reads: str = "latents"


def _masked3d(m: ml_collections.ConfigDict) -> ContextModel:
  c = m.context
  return ContextModel3D(num_centers=m.num_centers, features=c.features, num_residual_units=c.num_residual_units,
                        kernel_size=tuple(c.kernel_size), dtype=jnp.dtype(m.dtype))


def _ccn(m: ml_collections.ConfigDict) -> ContextModel:
  # kernel_size: the spatial (kh, kw) are its last two entries (a 3D model's depth entry is ignored).
  c = m.context
  return CCNContextModel(num_centers=m.num_centers, group=c.get("group", 3), num_residual_units=c.num_residual_units,
                         kernel_size=tuple(c.kernel_size)[-2:], spatial_codes=c.get("spatial_codes", 1),
                         dtype=jnp.dtype(m.dtype))


def _ccn_gmm(m: ml_collections.ConfigDict) -> ContextModel:
  c = m.context
  return CCNGMMContextModel(num_centers=m.num_centers, num_components=c.get("num_components", 3),
                            group=c.get("group", 3), num_residual_units=c.num_residual_units,
                            kernel_size=tuple(c.kernel_size)[-2:], spatial_codes=c.get("spatial_codes", 1),
                            dtype=jnp.dtype(m.dtype))


def _progressive(m: ml_collections.ConfigDict) -> ContextModel:
  # kernel_size: the spatial kernel s is its last entry.
  c = m.context
  s = tuple(c.kernel_size)[-1]
  if s < 1 or s % 2 == 0:
    raise ValueError(f"the progressive model needs an odd spatial kernel, got {c.kernel_size}")
  if c.layer_depth < 1 or c.layer_count < 1:
    raise ValueError(f"layer_depth and layer_count must be >= 1, got {c.layer_depth}, {c.layer_count}")
  return ProgressiveModel(layer_depth=c.layer_depth, layer_count=c.layer_count, features=c.features,
                                 cond_layers=c.cond_layers, num_residual_units=c.num_residual_units,
                                 kernel_size=s, dtype=jnp.dtype(m.dtype))


CONTEXT_MODELS = {
    "masked3d": ContextEntry(_masked3d),
    "ccn": ContextEntry(_ccn),
    "ccn_gmm": ContextEntry(_ccn_gmm),
    "progressive": ContextEntry(_progressive, reads="codes"),
}


def context_entry(model_config: ml_collections.ConfigDict) -> ContextEntry:
  return lookup(CONTEXT_MODELS, "context model", model_config.context.name)


def build_context_model(model_config: ml_collections.ConfigDict) -> ContextModel:
  """The context model named by `model_config.context.name`."""
  return context_entry(model_config).build(model_config)


__all__ = ["Autoencoder", "CONTEXT_MODELS", "ContextModel", "IMPORTANCE_MAPS", "QUANTIZERS", "build_autoencoder",
           "build_context_model", "context_entry", "importance_part", "masked_symbol", "symbol_values",
           "to_volume"]
