"""Growing a trained model into a larger one, so that fine-tuning starts from what it learned.

Two ways up in rate, each the identity (or nearly) at the start of the fine-tune:
- `widen_latents`: K latent channels -> more (the reference code's high-rate point has K = 64, the others 32;
  with L = 6 a K = 32 code carries at most 32 log2(6) / 64 = 1.29 bpp);
- `refine_centers`: L centers -> 2L - 1, the midpoints inserted (finer quantization; a decoder trained on the
  L centers already decodes the midpoints well: MS-SSIM 0.9797 -> 0.9850 on 4 Kodak images for the shipped
  0.90 model before any training).
`grow` applies both where the target's shapes ask for them (`jcomp.train`, on `config.init_from`).
The layers are found by their Flax names in `models.autoencoder` (the encoder's `Conv_2` makes z, the
decoder's `Upsample_0` reads it); renaming them there would also orphan every shipped checkpoint.
"""

from __future__ import annotations

import jax
import numpy as np


def widen_latents(source: dict, target: dict) -> dict:
  """Autoencoder params trees: a trained one (`source`, K_s latent channels) laid into a wider one
  (`target`, K_t >= K_s; same features and depth).

  Encoder's last conv: the K_s latent filters go to outputs [:K_s] and the importance filter (if any) to the
  last output; the K_t - K_s new filters keep the target's initialisation, so the new channels start as
  random projections of the encoder's features. Decoder's first layer: the K_s input rows are copied and the
  new rows are zero, so the decoded image is unchanged until training uses the new channels. Every other
  leaf is the source's. Returns a source-like tree (NumPy) whose two widened leaves have the target's shape;
  the source unchanged when K_s == K_t.
  """
  def only_kernel(tree: dict) -> tuple[str, np.ndarray]:
    (name, layer), = tree.items()  # Upsample_0 holds one conv
    return name, layer["kernel"]

  enc_s, enc_t = source["encoder"]["Conv_2"], target["encoder"]["Conv_2"]
  dec_name, dec_s = only_kernel(source["decoder"]["Upsample_0"])
  _, dec_t = only_kernel(target["decoder"]["Upsample_0"])
  k_s, k_t = dec_s.shape[2], dec_t.shape[2]
  if k_s == k_t:
    return source
  extra = enc_s["kernel"].shape[-1] - k_s  # 1 with Mentzer et al.'s importance channel, else 0
  if k_s > k_t or enc_t["kernel"].shape[-1] - k_t != extra or dec_s.shape[3:] != dec_t.shape[3:]:
    raise ValueError(f"cannot widen a model with {k_s} latent channels (+{extra}) to {k_t} "
                     f"(+{enc_t['kernel'].shape[-1] - k_t}); only K can grow")

  def widen_out(s, t):  # (..., K_s + extra) -> (..., K_t + extra)
    s, t = np.asarray(s, np.float32), np.array(t, np.float32)
    t[..., :k_s] = s[..., :k_s]
    t[..., k_t:] = s[..., k_s:]
    return t

  dec = np.zeros(dec_t.shape, np.float32)
  dec[:, :, :k_s] = np.asarray(dec_s, np.float32)
  out = jax.tree_util.tree_map(np.asarray, source)
  out["encoder"]["Conv_2"] = {"kernel": widen_out(enc_s["kernel"], enc_t["kernel"]),
                              "bias": widen_out(enc_s["bias"], enc_t["bias"])}
  out["decoder"]["Upsample_0"] = {dec_name: {**out["decoder"]["Upsample_0"][dec_name], "kernel": dec}}
  return out


def refine_centers(source: dict, target: dict) -> dict:
  """Full params trees ({'autoencoder', 'context'}): a model with L_s centers laid into one with
  L_t = 2 L_s - 1. The centers keep their indices and the L_s - 1 midpoints of neighbouring centers follow
  (so centers[0], the context model's padding value, is unchanged); the 3D context model's output layer gets
  one logit per midpoint, the mean of its two neighbours' (weights and bias). Returns a source-like tree; the
  source itself when L_s == L_t.
  """
  if "quant" not in source["autoencoder"]:  # the binarizer has no centers
    return source
  c_s = np.asarray(source["autoencoder"]["quant"]["centers"], np.float32)
  l_s, l_t = len(c_s), len(np.asarray(target["autoencoder"]["quant"]["centers"]))
  if l_s == l_t:
    return source
  if l_t != 2 * l_s - 1 or "conv_out" not in source["context"]:
    raise ValueError(f"cannot refine {l_s} centers to {l_t}: only to 2L - 1 = {2 * l_s - 1} (the midpoints), "
                     "with the 3D masked context model")
  order = np.argsort(c_s)
  lo, hi = order[:-1], order[1:]  # indices of neighbouring centers, ascending
  out = jax.tree_util.tree_map(np.asarray, source)
  out["autoencoder"]["quant"] = {"centers": np.concatenate([c_s, (c_s[lo] + c_s[hi]) / 2])}
  head = {}
  for name, w in source["context"]["conv_out"].items():  # kernel (..., L), bias (L,)
    w = np.asarray(w, np.float32)
    head[name] = np.concatenate([w, (w[..., lo] + w[..., hi]) / 2], axis=-1)
  out["context"]["conv_out"] = head
  return out


def grow(source: dict, target: dict) -> dict:
  """Full params trees: `source` with K widened and L refined to the target's (each a no-op if equal)."""
  out = dict(source)
  out["autoencoder"] = widen_latents(source["autoencoder"], target["autoencoder"])
  return refine_centers(out, target)
