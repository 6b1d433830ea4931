"""The context-model contract: what the codec, the trainer and eval need of any context model P.

A context model is a Flax module over a symbol volume of K channels (the coding order's depth axis):

  model.apply({'params': p}, values, pad_value, centers)  -> logits (B, K, h, w, L) float32
      values (B, K, h, w) float32: centers[symbols]; pad_value: what the volume is padded with (centers[0]);
      centers (L,): the symbol values (a mixture head discretises over their bins; others ignore them).
      The logits at a position depend only on positions decoded at earlier steps of `decode_schedule`
      (tests/models/test_context_contract.py checks it for every registered model).
  model.decode_schedule((K, h, w))  -> list of (M_s, 3) int32 positions per parallel decoding step
  model.step_coder(params, centers, (K, h, w))  -> a `jcomp.coding.step_coder.StepCoder` that runs the
      model along its schedule and emits the coder's integer tables; by default the `GenericCoder` (one full
      pass per step), overridden by models with an incremental coder of their own.
  model.integer_model(params, centers, calibration)  -> an integer version of the model (post-training
      quantization on calibration symbol volumes), whose tables are integer arithmetic end to end
  model.integer_step_coder(integer_model, (K, h, w))  -> its step coder: tables identical on every backend
      and in NumPy. Models without these raise NotImplementedError (their files are float-coded, format 3).

The modules: `masked3d` (Mentzer et al. 2018), `ccn` and `ccn_gmm` (Li et al. 2019), `progressive` (binary
codes); `jcomp.models.CONTEXT_MODELS` is their table.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jcomp.coding import step_coder


class ContextModel(nn.Module):
  """Base class of the context models (no fields: each model declares its own)."""

  def decode_schedule(self, shape: tuple[int, int, int]) -> list[np.ndarray]:
    raise NotImplementedError

  def step_coder(self, params: dict, centers: np.ndarray, shape: tuple[int, int, int]) -> step_coder.StepCoder:
    """The generic coder: one parallel pass of this model per schedule step."""
    c = jnp.asarray(centers, jnp.float32)
    return step_coder.GenericCoder(lambda v: self.apply({"params": params}, v, c[0], c), centers, shape,
                                   self.decode_schedule(shape))

  def integer_model(self, params: dict, centers: np.ndarray, calibration: list[np.ndarray], **bits):
    raise NotImplementedError(f"{type(self).__name__} has no integer inference")

  def integer_step_coder(self, model, shape: tuple[int, int, int]) -> step_coder.StepCoder:
    raise NotImplementedError(f"{type(self).__name__} has no integer inference")
