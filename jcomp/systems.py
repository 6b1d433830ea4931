"""What the trainer trains: a system's networks, their loss and metrics, and their parameter groups.

The trainer (`jcomp.train`) needs of a system only

  init(rng)                                       -> {'params', 'batch_stats'} (float32)
  loss(params, batch_stats, batch, train, step)   -> (loss, (metrics, new_batch_stats)); pure, jittable
  group(path)                                     -> the optimizer group of a parameter (one of GROUPS)
  log_line(step, metrics, items_per_s), eval_line(step, metrics)   -> console lines

Two systems, chosen by what the context model reads (`jcomp.models.CONTEXT_MODELS[name].reads`):
  ImageSystem   autoencoder + context model trained concurrently (Mentzer et al. 2018, Sec. 3.5; also Li et
                al. 2018 and CCN): batches are images (B, S, S, 3) uint8.
  CodeSystem    a context model alone over binary codes (the progressive system): batches are codes
                (B, S, S, D) uint8 in {0, 1}.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jcomp import losses
from jcomp.config_lib import lookup
from jcomp.models.progressive import CODE_VALUES
from jcomp.models import (QUANTIZERS, build_autoencoder, build_context_model, context_entry, importance_part,
                          symbol_values, to_volume)

GROUPS = ("encoder", "decoder", "centers", "context")  # optimizer groups (train.make_optimizer)
GROUP_ALIASES = {"ae": ("encoder", "decoder")}  # optim.freeze: "ae" = the whole autoencoder


def frozen_groups(config: ml_collections.ConfigDict) -> set[str]:
  """The optimizer groups `optim.freeze` keeps fixed ("ae" = encoder and decoder)."""
  named = set(config.optim.get("freeze", ()))
  unknown = named - set(GROUPS) - set(GROUP_ALIASES)
  if unknown:
    raise ValueError(f"optim.freeze names unknown groups {sorted(unknown)}; choose from "
                     f"{list(GROUPS) + list(GROUP_ALIASES)}")
  return set().union(*(GROUP_ALIASES.get(g, (g,)) for g in named))


@dataclasses.dataclass(frozen=True, eq=False)
class ImageSystem:
  """The image compression system. The two objectives are one scalar with stop_gradients:

    loss = K_d d(x, x_hat) + beta max(H - t, 0)        H from P with *frozen* params (gradient to E, D, Q)
         + C                                           C from P with a *gradient-stopped input* (gradient to P)

  H is the reference code's mean of the masked (eq. 19) and unmasked (eq. 13) bits per symbol; the rate term
  reads the importance map's own rate (`rate_bits`: H, or Li et al.'s kept bits).
  """
  config: ml_collections.ConfigDict

  def __post_init__(self):
    object.__setattr__(self, "autoencoder", build_autoencoder(self.config.model))
    object.__setattr__(self, "context", build_context_model(self.config.model))

  def init(self, rng: jax.Array) -> dict:
    s, K = self.config.crop_size, self.config.model.num_channels
    k_ae, k_ctx = jax.random.split(rng)
    ae_vars = self.autoencoder.init(k_ae, jnp.zeros((1, s, s, 3), jnp.float32), train=False)
    ctx_vars = self.context.init(k_ctx, jnp.zeros((1, K, s // 8, s // 8)), 0.0)
    return {"params": {"autoencoder": ae_vars["params"], "context": ctx_vars["params"]},
            "batch_stats": ae_vars.get("batch_stats", {})}

  def group(self, keys: tuple[str, ...]) -> str:
    if keys[0] == "context":
      return "context"
    if "centers" in keys:
      return "centers"
    return "decoder" if "decoder" in keys[:2] else "encoder"

  def loss(self, params, batch_stats, batch: jnp.ndarray, train: bool, step=None):
    """batch (B, H, W, 3) uint8. Metrics in bits per symbol (`bits_per_symbol`, `H`), bpp (`bpp_est` =
    MC K / 64: the kept symbols, what a file codes), MS-SSIM, PSNR (dB)."""
    c = self.config
    x = batch.astype(jnp.float32)
    ae_vars = {"params": params["autoencoder"], "batch_stats": batch_stats}
    # BatchNorm learns its statistics only while the whole autoencoder trains (a decoder fine-tune: eval mode).
    if train and not {"encoder", "decoder"} & frozen_groups(c):
      out, updates = self.autoencoder.apply(ae_vars, x, train=True, mutable=["batch_stats"])
      new_stats = updates["batch_stats"]
    else:
      out, new_stats = self.autoencoder.apply(ae_vars, x, train=False), batch_stats
    centers = jax.lax.stop_gradient(symbol_values(c.model, params["autoencoder"]))
    values, symbols, mask = (to_volume(out[k]) for k in ("values", "symbols", "mask"))
    # P learns on its own loss (eq. 21): gradient-stopped input.
    bits_p = losses.symbol_bits(
        self.context.apply({"params": params["context"]}, jax.lax.stop_gradient(values), centers[0], centers),
        symbols)
    coding = losses.coding_cost(bits_p)
    # E, D, Q see P frozen (eq. 20).
    logits_ae = self.context.apply({"params": jax.lax.stop_gradient(params["context"])}, values, centers[0],
                                   centers)
    if c.loss.soft_rate_gradient:
      bits_ae = losses.symbol_bits_soft_gradient(logits_ae, symbols, to_volume(out["latents"]), centers,
                                                 c.model.sigma)
    else:
      bits_ae = losses.symbol_bits(logits_ae, symbols)
    masked = losses.masked_coding_cost(bits_ae, mask)
    h_est = 0.5 * (masked + losses.coding_cost(bits_ae))
    dist, dm = losses.distortion(x, out["x_hat"], c.loss.distortion)
    beta = c.loss.beta
    if step is not None and c.loss.rate_warmup_steps > 0:
      beta = jnp.where(step >= c.loss.rate_warmup_steps, beta, 0.0)
    rate = losses.rate_term(importance_part(c.model).rate_bits(mask, h_est), beta,
                            c.loss.target_bits_per_symbol)
    loss = c.loss.distortion_weight * dist + rate + coding
    K = c.model.num_channels
    m = dict(loss=loss, distortion=dist, rate_term=rate, bits_per_symbol=coding, H=h_est,
             bpp_est=masked * K / 64.0, importance=jnp.mean(out["mask"]), **dm)
    return loss, (m, new_stats)

  def validate(self) -> None:
    quantizer = lookup(QUANTIZERS, "quantizer", self.config.model.quantizer)
    if self.config.loss.soft_rate_gradient and not quantizer.learned_centers:
      raise ValueError("loss.soft_rate_gradient needs model.quantizer='centers' (it differentiates the soft "
                       f"assignment to the learned centers), got {self.config.model.quantizer!r}")

  @staticmethod
  def log_line(step: int, m: dict, items_s: float) -> str:
    return (f"step {step:7d} | {items_s:7.1f} img/s | loss {m['loss']:.4f} | bpp_est {m['bpp_est']:.3f} | "
            f"ms_ssim {m['ms_ssim']:.4f} | psnr {m['psnr']:.2f} | H {m['H']:.3f} | "
            f"imp {m['importance']:.2f} | lr {m['lr_ae']:.1e}")

  @staticmethod
  def eval_line(step: int, m: dict) -> str:
    return (f"eval  {step:7d} | bpp_est {m['bpp_est']:.3f} | ms_ssim {m['ms_ssim']:.4f} | "
            f"psnr {m['psnr']:.2f} | imp {m['importance']:.2f}")


@dataclasses.dataclass(frozen=True, eq=False)
class CodeSystem:
  """A context model over binary codes (B, S, S, D): the coded part is the first n layers of K bits
  (`model.context.coded_layer_count`, all when 0), read as the volume (n K, S, S) of values -1/+1.
  Loss: the mean cross-entropy of the coded bits (bits per bit); metrics also per layer and the per-layer
  zeroth-order baseline of the batch itself."""
  config: ml_collections.ConfigDict

  def __post_init__(self):
    object.__setattr__(self, "context", build_context_model(self.config.model))

  def init(self, rng: jax.Array) -> dict:
    k, s = self.config.model.context.layer_depth, self.config.crop_size
    params = self.context.init(rng, jnp.zeros((1, k, s, s)), 0.0)["params"]
    return {"params": {"context": params}, "batch_stats": {}}

  @staticmethod
  def group(keys: tuple[str, ...]) -> str:
    del keys
    return "context"

  def loss(self, params, batch_stats, batch: jnp.ndarray, train: bool, step=None):
    del train, step
    c = self.config.model.context
    layers = batch.shape[-1] // c.layer_depth
    n = layers if c.coded_layer_count <= 0 else min(c.coded_layer_count, layers)
    symbols = jnp.moveaxis(batch[..., :n * c.layer_depth].astype(jnp.int32), -1, 1)  # (B, n K, S, S)
    values = jnp.asarray(CODE_VALUES)[symbols]
    bits = losses.symbol_bits(self.context.apply({"params": params["context"]}, values, 0.0), symbols)
    per_layer = bits.reshape(bits.shape[0], n, -1).mean(axis=(0, 2))
    zeroth = losses.zeroth_order_bits(batch[..., :n * c.layer_depth], c.layer_depth)
    loss = jnp.mean(bits)
    return loss, (dict(loss=loss, bits_per_bit=loss, layer_bits_per_bit=per_layer,
                       zeroth_order_bits_per_bit=jnp.mean(zeroth), zeroth_order_layers=zeroth), batch_stats)

  def validate(self) -> None:
    pass

  @staticmethod
  def log_line(step: int, m: dict, items_s: float) -> str:
    layers = " ".join(f"{v:.3f}" for v in np.asarray(m["layer_bits_per_bit"]))
    return (f"step {step:7d} | {items_s:7.1f} codes/s | bits/bit {float(m['bits_per_bit']):.4f} | "
            f"layers {layers} | lr {m['lr_context']:.1e}")

  @staticmethod
  def eval_line(step: int, m: dict) -> str:
    layers = " ".join(f"{v:.3f}" for v in np.asarray(m["layer_bits_per_bit"]))
    zeroth = " ".join(f"{v:.3f}" for v in np.asarray(m["zeroth_order_layers"]))
    return (f"eval  {step:7d} | bits/bit {float(m['bits_per_bit']):.4f} (layers {layers}) | zeroth-order "
            f"{float(m['zeroth_order_bits_per_bit']):.4f} (layers {zeroth})")


SYSTEMS = {"latents": ImageSystem, "codes": CodeSystem}


def build(config: ml_collections.ConfigDict) -> ImageSystem | CodeSystem:
  """The system of a config: by what its context model reads."""
  return SYSTEMS[context_entry(config.model).reads](config)
