"""Context models compared on one frozen autoencoder: the 3D masked CNN, CCN (logits) and CCN + GMM head.

  python -m jcomp.eval.context_comparison [--steps=300] [--num_images=24] [--out=runs/context_comparison]

  frozen AE (zoo model) ─E, Q─> symbol volumes (N, K, h, w) of random 160 x 160 crops, encoded once, cached
                                 ─> masked3d (fresh init), ccn, ccn_gmm trained on them, same Adam and steps
  Kodak ─> per model: estimated bpp (cross-entropy of the float32 parallel pass), real bpp (.jcomp files
           through `Codec`, decoded back and checked), sequential decode steps, entropy-decoding time
           (context model + rANS; the synthesis is the same for every row and not counted)

The shipped model's own context model (trained jointly with the AE) is the first row. Training the context
models needs no autoencoder pass (the volumes are cached), so the experiment takes minutes on a CPU. Outputs
under --out (git-ignored under runs/): volumes.npz (the cache), params_<name>.npz, table.md (also printed).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import time

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from PIL import Image

from jcomp import losses, zoo
from jcomp.coding.codec import Codec
from jcomp.coding.schedule import wavefront_schedule
from jcomp.coding.subblock import subblock_schedule
from jcomp.models import build_autoencoder, build_context_model, context_kwargs
from jcomp.models.quantizer import quantizer_centers

MODELS = ("masked3d", "ccn", "ccn_gmm")
SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data")
CCN_CONTEXT = dict(kernel_size=(1, 5, 5), group=3, spatial_codes=1, num_residual_units=1)  # configs/ccn.py


def list_images(folder: str, count: int) -> list[str]:
  """The first `count` image files of `folder`, sorted by name."""
  exts = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
  return [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.lower().endswith(exts)][:count]


def load_rgb(path: str) -> np.ndarray:
  """(H, W, 3) uint8."""
  with Image.open(path) as im:
    return np.asarray(im.convert("RGB"))


def random_crops(paths: list[str], size: int, seed: int) -> np.ndarray:
  """One random (size, size) crop per image (reflect-padded if smaller): (N, size, size, 3) uint8."""
  rng = np.random.default_rng(seed)
  crops = []
  for p in paths:
    im = load_rgb(p)
    ph, pw = max(size - im.shape[0], 0), max(size - im.shape[1], 0)
    im = np.pad(im, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    y, x = rng.integers(0, im.shape[0] - size + 1), rng.integers(0, im.shape[1] - size + 1)
    crops.append(im[y:y + size, x:x + size])
  return np.stack(crops)


def encode_volumes(config: ml_collections.ConfigDict, variables: dict, crops: np.ndarray,
                   batch_size: int = 16) -> np.ndarray:
  """Symbols of the frozen AE: crops (N, S, S, 3) uint8 -> (N, K, S/8, S/8) uint8."""
  ae = build_autoencoder(config.model)
  ae_vars = {"params": variables["params"]["autoencoder"], "batch_stats": variables["batch_stats"]}
  encode = jax.jit(lambda x: ae.apply(ae_vars, x, train=False, method="encode")["symbols"])
  out = [np.asarray(encode(jnp.asarray(crops[i:i + batch_size], jnp.float32)))
         for i in range(0, len(crops), batch_size)]
  return np.concatenate(out).transpose(0, 3, 1, 2).astype(np.uint8)


def context_config(base: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """The full config of the AE `base` with context model `name` (masked3d keeps the shipped settings)."""
  c = copy.deepcopy(base)
  if name == "masked3d":
    return c
  with c.unlocked():
    c.model.context.name = name
    c.model.context.update(CCN_CONTEXT)
    if name == "ccn_gmm":
      c.model.context.num_components = 3
  return c


def float32_context(config: ml_collections.ConfigDict):
  """The config's context model computing in float32 (training and cross-entropy; the coders are float32)."""
  m = copy.deepcopy(config.model)
  with m.unlocked():
    m.dtype = "float32"
  return build_context_model(m)


def cross_entropy_fn(model, centers: np.ndarray):
  """jitted (params, symbols (B, K, h, w) int) -> bits (B, K, h, w) of the model's parallel pass."""
  c = jnp.asarray(centers, jnp.float32)

  @jax.jit
  def bits(params, symbols):
    logits = model.apply({"params": params}, c[symbols], c[0], **context_kwargs(model, c))
    return losses.symbol_bits(logits, symbols)

  return bits


def train_context(model, params: dict, symbols: np.ndarray, centers: np.ndarray, steps: int,
                  batch_size: int = 8, lr: float = 3e-3, seed: int = 0, log_every: int = 0
                  ) -> tuple[dict, list[float]]:
  """Adam (cosine-decayed lr) on the mean bits per symbol over random batches of the cached volumes.

  symbols: (N, K, h, w) ints in [0, L). Returns the trained params and the loss (bits/symbol) per step.
  """
  c = jnp.asarray(centers, jnp.float32)
  tx = optax.adam(optax.cosine_decay_schedule(lr, max(steps, 1), alpha=0.05))

  def loss_fn(p, s):
    logits = model.apply({"params": p}, c[s], c[0], **context_kwargs(model, c))
    return jnp.mean(losses.symbol_bits(logits, s))

  @jax.jit
  def step(p, opt, s):
    loss, g = jax.value_and_grad(loss_fn)(p, s)
    updates, opt = tx.update(g, opt, p)
    return optax.apply_updates(p, updates), opt, loss

  rng = np.random.default_rng(seed)
  opt, history = tx.init(params), []
  for i in range(steps):
    batch = jnp.asarray(symbols[rng.integers(0, len(symbols), batch_size)], jnp.int32)
    params, opt, loss = step(params, opt, batch)
    history.append(float(loss))
    if log_every and (i % log_every == 0 or i == steps - 1):
      print(f"  step {i:5d}  {history[-1]:.4f} bits/symbol", flush=True)
  return params, history


def decode_steps(config: ml_collections.ConfigDict, shape: tuple[int, int, int]) -> int:
  """Sequential steps of the model's parallel decoder for a (K, h, w) volume."""
  c = config.model.context
  if c.name == "masked3d":
    return len(wavefront_schedule(*shape))
  return len(subblock_schedule(*shape, tuple(c.kernel_size)[-2:], c.get("spatial_codes", 1)))


@dataclasses.dataclass
class Row:
  name: str
  train_bits: float = float("nan")   # last 20 training steps, bits/symbol (nan for the shipped model)
  bpp_est: float = 0.0               # Kodak mean, bits per pixel
  bpp_real: float = 0.0
  steps: str = ""
  decode_s: float = 0.0              # entropy decoding per image (context model + rANS), seconds
  num_params: int = 0


def evaluate(name: str, config, variables: dict, images: list[np.ndarray], train_bits: float) -> Row:
  """Real .jcomp files of every image through `Codec`, checked to decode to the encoder's symbols."""
  codec = Codec(config, variables, name=name)
  centers = codec.centers
  ctx_params = variables["params"]["context"]
  bits = cross_entropy_fn(float32_context(config), centers)
  seen_shapes, est, real, dec_s, steps = set(), [], [], [], {}
  for image in images:
    symbols = codec.analyze(image)["symbols"]
    if symbols.shape not in seen_shapes:  # compile the coder's steps for this shape outside the timings
      seen_shapes.add(symbols.shape)
      codec.decompress_symbols(codec.compress(image).data)
      steps[symbols.shape] = decode_steps(config, symbols.shape)
    result = codec.compress(image)
    t = time.perf_counter()
    _, decoded, _ = codec.decompress_symbols(result.data)
    dec_s.append(time.perf_counter() - t)
    if not np.array_equal(decoded, symbols):
      raise AssertionError(f"{name}: decoded symbols differ from the encoder's")
    pixels = image.shape[0] * image.shape[1]
    est.append(float(np.sum(bits(ctx_params, jnp.asarray(symbols)[None]))) / pixels)
    real.append(result.bpp_real)
  return Row(name=name, train_bits=train_bits, bpp_est=float(np.mean(est)), bpp_real=float(np.mean(real)),
             steps=" / ".join(f"{steps[s]} ({s[1]}x{s[2]})" for s in sorted(steps)),
             decode_s=float(np.mean(dec_s)),
             num_params=int(sum(np.size(x) for x in jax.tree_util.tree_leaves(ctx_params))))


def markdown_table(rows: list[Row], note: str) -> str:
  lines = [note, "",
           "| context model | params | train bits/symbol | Kodak bpp (est.) | Kodak bpp (real) | overhead | "
           "sequential steps | entropy decode s/image |",
           "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
  for r in rows:
    tb = "-" if np.isnan(r.train_bits) else f"{r.train_bits:.4f}"
    lines.append(f"| {r.name} | {r.num_params:,} | {tb} | {r.bpp_est:.4f} | {r.bpp_real:.4f} | "
                 f"{100 * (r.bpp_real / r.bpp_est - 1):+.1f} % | {r.steps} | {r.decode_s:.2f} |")
  return "\n".join(lines) + "\n"


def _save_params(path: str, params: dict) -> None:
  flat = flax.traverse_util.flatten_dict(jax.device_get(params), sep="/")
  np.savez(path, **{k: np.asarray(v) for k, v in flat.items()})


def _load_params(path: str) -> dict:
  with np.load(path) as f:
    return flax.traverse_util.unflatten_dict({k: jnp.asarray(f[k]) for k in f.files}, sep="/")


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--model", default="mentzer2018-compact-0.30", help="zoo model whose AE is frozen")
  p.add_argument("--train_images", default=os.path.join(SHARED_DATA, "imagenet-sample-256"))
  p.add_argument("--num_train_images", type=int, default=900)
  p.add_argument("--crop", type=int, default=160)
  p.add_argument("--kodak", default=os.path.join(SHARED_DATA, "kodak"))
  p.add_argument("--num_images", type=int, default=24, help="Kodak images to code")
  p.add_argument("--steps", type=int, default=300)
  p.add_argument("--batch_size", type=int, default=8)
  p.add_argument("--lr", type=float, default=3e-3)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--out", default=os.path.join("runs", "context_comparison"))
  p.add_argument("--retrain", action="store_true", help="ignore cached trained params")
  a = p.parse_args(argv)
  for folder in (a.train_images, a.kodak):
    if not os.path.isdir(folder):
      print(f"context_comparison: skipped, image folder {folder!r} not found (pass --train_images/--kodak)")
      return 0
  os.makedirs(a.out, exist_ok=True)
  config, variables = zoo.load(a.model)
  centers = np.asarray(quantizer_centers(variables["params"]["autoencoder"].get("quant"),
                                         config.model.quantizer))

  cache = os.path.join(a.out, "volumes.npz")
  key = f"{a.model}|{a.train_images}|{a.num_train_images}|{a.crop}|{a.seed}"
  if os.path.exists(cache) and str(np.load(cache)["key"]) == key:
    symbols = np.load(cache)["symbols"]
    print(f"cached symbol volumes {symbols.shape} from {cache}")
  else:
    t = time.perf_counter()
    paths = list_images(a.train_images, a.num_train_images)
    symbols = encode_volumes(config, variables, random_crops(paths, a.crop, a.seed))
    np.savez(cache, symbols=symbols, key=key)
    print(f"encoded {len(paths)} crops -> {symbols.shape} in {time.perf_counter() - t:.0f} s", flush=True)

  kodak = [load_rgb(f) for f in list_images(a.kodak, a.num_images)]
  rows = [evaluate(f"{a.model} (shipped, joint)", config, variables, kodak, float("nan"))]
  print(markdown_table(rows, ""), flush=True)
  for name in MODELS:
    cfg = context_config(config, name)
    model = float32_context(cfg)
    path = os.path.join(a.out, f"params_{name}_{a.steps}.npz")
    t = time.perf_counter()
    if os.path.exists(path) and not a.retrain:
      params, train_bits = _load_params(path), float("nan")
      print(f"{name}: trained params from {path}")
    else:
      init = model.init(jax.random.PRNGKey(a.seed), jnp.zeros((1,) + symbols.shape[1:]), 0.0)["params"]
      print(f"{name}: training {a.steps} steps", flush=True)
      params, history = train_context(model, init, symbols, centers, a.steps, a.batch_size, a.lr, a.seed,
                                      log_every=max(a.steps // 5, 1))
      train_bits = float(np.mean(history[-20:]))
      _save_params(path, params)
    print(f"{name}: trained in {time.perf_counter() - t:.0f} s", flush=True)
    v = {"params": {**variables["params"], "context": params}, "batch_stats": variables["batch_stats"]}
    rows.append(evaluate(name, cfg, v, kodak, train_bits))
    print(markdown_table(rows[-1:], ""), flush=True)

  note = (f"Frozen AE of `{a.model}`; context models trained on {len(symbols)} random {a.crop}x{a.crop} crops "
          f"(first {a.num_train_images} sorted images of {os.path.basename(os.path.normpath(a.train_images))}), "
          f"Adam lr {a.lr} cosine, {a.steps} steps of batch {a.batch_size}; Kodak: {len(kodak)} images, "
          f"real .jcomp files (decoded and checked), means per image; decode time on "
          f"{jax.default_backend().upper()}, compile excluded.")
  table = markdown_table(rows, note)
  with open(os.path.join(a.out, "table.md"), "w") as f:
    f.write(table)
  print(table)
  return 0


if __name__ == "__main__":
  sys.exit(main())
