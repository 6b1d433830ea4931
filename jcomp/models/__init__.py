"""Explicit tables of the model parts, looked up by the name in the config."""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections

from jcomp.models.ccn import CCNContextModel, CCNGMMContextModel
from jcomp.models.compressor import Autoencoder, build_autoencoder, to_volume
from jcomp.models.context_model import ContextModel3D

CONTEXT_MODELS = ("masked3d", "ccn")  # logits models: apply(params, values, pad_value)
GMM_CONTEXT_MODELS = ("ccn_gmm",)     # mixture heads: apply(params, values, pad_value, centers=centers)


def build_context_model(model_config: ml_collections.ConfigDict):
  """The context model named by `model_config.context.name`."""
  c = model_config.context
  if c.name == "masked3d":
    return ContextModel3D(num_centers=model_config.num_centers, features=c.features,
                          num_residual_units=c.num_residual_units,
                          kernel_size=tuple(c.kernel_size), dtype=jnp.dtype(model_config.dtype))
  if c.name == "ccn":
    # kernel_size: the spatial (kh, kw) are its last two entries (a 3D model's depth entry is ignored).
    return CCNContextModel(num_centers=model_config.num_centers, group=c.get("group", 3),
                           num_residual_units=c.num_residual_units, kernel_size=tuple(c.kernel_size)[-2:],
                           spatial_codes=c.get("spatial_codes", 1), dtype=jnp.dtype(model_config.dtype))
  if c.name == "ccn_gmm":
    return CCNGMMContextModel(num_centers=model_config.num_centers, num_components=c.get("num_components", 3),
                              group=c.get("group", 3), num_residual_units=c.num_residual_units,
                              kernel_size=tuple(c.kernel_size)[-2:], spatial_codes=c.get("spatial_codes", 1),
                              dtype=jnp.dtype(model_config.dtype))
  raise ValueError(f"unknown context model {c.name!r}; choose one of {CONTEXT_MODELS + GMM_CONTEXT_MODELS}")


def context_kwargs(model, centers) -> dict:
  """Extra keyword arguments of `model.apply(params, values, pad_value, **kw)`: {'centers': centers (L,)}
  for models that discretise over the quantizer's bins (`needs_centers`), else {}."""
  return {"centers": centers} if getattr(model, "needs_centers", False) else {}


__all__ = ["Autoencoder", "build_autoencoder", "build_context_model", "context_kwargs", "to_volume"]
