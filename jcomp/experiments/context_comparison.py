"""Context models compared on one frozen autoencoder: the 3D masked CNN, CCN (logits) and CCN + GMM head.

  jcomp context-comparison [--model=mentzer2018-compact-0.30] [--steps=300] [--num_images=24]
      [--out=runs/context_comparison]

  zoo model ─> OUT/autoencoder/: its autoencoder alone (E, Q, D and BatchNorm statistics; no context model)
  per context model (masked3d, ccn, ccn_gmm): the zoo model's config with that context model,
      init_from = OUT/autoencoder (so the context model starts fresh), optim.freeze = ("ae", "centers"),
      trained by the one trainer, `jcomp.train.train_and_evaluate`, in OUT/<name>_<steps>/
  Kodak ─> per model: estimated bpp (cross-entropy of the float32 parallel pass), real bpp (.jcomp files
           through `Codec`, decoded back and checked), sequential decode steps, entropy-decoding time
           (context model + rANS; the synthesis is the same for every row and not counted)

The shipped model's own context model (trained jointly with the AE) is the first row. Each model trains in its
own workdir: a re-run resumes it (a finished one is only evaluated); --retrain starts afresh. Outputs under --out
(git-ignored under runs/): autoencoder/, the workdirs, table.md (also printed).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jcomp import config_lib, losses, train, zoo
from jcomp.coding.codec import Codec
from jcomp.data import images as images_lib
from jcomp.models import build_context_model

CCN_CONTEXT = dict(kernel_size=(1, 5, 5), group=3, spatial_codes=1, num_residual_units=1)  # configs/ccn.py
CONTEXT_SETTINGS = {"masked3d": {},  # the shipped model's own settings
                    "ccn": CCN_CONTEXT, "ccn_gmm": dict(CCN_CONTEXT, num_components=3)}  # configs/ccn_gmm.py
MODELS = tuple(CONTEXT_SETTINGS)


def context_config(base: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """The full config of the AE `base` with context model `name` and its `CONTEXT_SETTINGS`."""
  c = copy.deepcopy(base)
  with c.unlocked():
    c.model.context.name = name
    c.model.context.update(CONTEXT_SETTINGS[name])
  return c


def export_autoencoder(model: str, out_dir: str) -> str:
  """Writes the autoencoder of zoo model `model` alone (float32, no context model) as a model directory to
  initialise from: `train.merge_variables` then leaves the context model at its fresh initialisation."""
  config, variables = zoo.load(model)
  ae_only = {"params": {"autoencoder": variables["params"]["autoencoder"]}, "batch_stats": variables["batch_stats"]}
  return zoo.save(config, jax.tree_util.tree_map(np.asarray, ae_only), out_dir, dtype="float32",
                  card=f"The autoencoder of {model}, without its context model.\n")


def training_config(base: ml_collections.ConfigDict, name: str, autoencoder: str, train_images: str,
                    num_train_images: int, crop: int, steps: int, batch_size: int, lr: float,
                    seed: int) -> ml_collections.ConfigDict:
  """The trainer's config for context model `name` on the frozen autoencoder directory `autoencoder`.

  Random `crop` x `crop` crops of the first `num_train_images` sorted files of the folder `train_images`;
  Adam on the context model only, `lr` cosine-decayed to lr / 20 over the `steps`; float32 throughout.
  """
  c = config_lib.base()  # the fields `base` (an older model's config) may lack, at their defaults
  c.update(context_config(base, name).to_dict())
  with c.unlocked():
    c.init_from = autoencoder
    c.optim.freeze = ("ae", "centers")
    c.optim.context_lr, c.optim.schedule, c.optim.lr_decay, c.optim.warmup_steps = lr, "cosine", 0.05, 0
    c.model.dtype = "float32"
    c.data.source, c.data.data_dir, c.data.manual_dir = train_images, "", ""
    c.data.train_split = c.data.eval_split = f"train[:{num_train_images}]"
    c.data.num_eval_images = min(num_train_images, 8)
    c.crop_size, c.batch_size, c.seed = crop, batch_size, seed
    c.num_train_steps, c.eval_every_steps, c.checkpoint_every_steps = steps, steps, steps
    c.log_every_steps, c.keep_checkpoints = max(steps // 5, 1), 1
  return c


def cross_entropy_fn(config: ml_collections.ConfigDict, centers: np.ndarray):
  """jitted (params, symbols (B, K, h, w) int) -> bits (B, K, h, w) of the context model's parallel pass,
  computed in float32 whatever the config's dtype (as the coders compute)."""
  m = copy.deepcopy(config.model)
  with m.unlocked():
    m.dtype = "float32"
  model = build_context_model(m)
  c = jnp.asarray(centers, jnp.float32)

  @jax.jit
  def bits(params, symbols):
    return losses.symbol_bits(model.apply({"params": params}, c[symbols], c[0], c), symbols)

  return bits


def decode_steps(config: ml_collections.ConfigDict, shape: tuple[int, int, int]) -> int:
  """Sequential steps of the model's parallel decoder for a (K, h, w) volume."""
  return len(build_context_model(config.model).decode_schedule(shape))


@dataclasses.dataclass
class Row:
  name: str
  bpp_est: float = 0.0               # Kodak mean, bits per pixel
  bpp_real: float = 0.0
  steps: str = ""
  decode_s: float = 0.0              # entropy decoding per image (context model + rANS), seconds
  num_params: int = 0


def evaluate(name: str, config, variables: dict, images: list[np.ndarray]) -> Row:
  """Real .jcomp files of every image through `Codec`, checked to decode to the encoder's symbols."""
  codec = Codec(config, variables, name=name)
  ctx_params = variables["params"]["context"]
  bits = cross_entropy_fn(config, codec.centers)
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
  return Row(name=name, bpp_est=float(np.mean(est)), bpp_real=float(np.mean(real)),
             steps=" / ".join(f"{steps[s]} ({s[1]}x{s[2]})" for s in sorted(steps)),
             decode_s=float(np.mean(dec_s)),
             num_params=int(sum(np.size(x) for x in jax.tree_util.tree_leaves(ctx_params))))


def markdown_table(rows: list[Row], note: str) -> str:
  lines = [note, "",
           "| context model | params | Kodak bpp (est.) | Kodak bpp (real) | overhead | sequential steps | "
           "entropy decode s/image |",
           "| --- | ---: | ---: | ---: | ---: | --- | ---: |"]
  for r in rows:
    lines.append(f"| {r.name} | {r.num_params:,} | {r.bpp_est:.4f} | {r.bpp_real:.4f} | "
                 f"{100 * (r.bpp_real / r.bpp_est - 1):+.1f} % | {r.steps} | {r.decode_s:.2f} |")
  return "\n".join(lines) + "\n"


def run(model: str, train_images: str, num_train_images: int, crop: int, kodak: str, num_images: int,
        steps: int, batch_size: int, lr: float, seed: int, out: str, retrain: bool = False) -> str:
  """Trains (or resumes) the context models of `MODELS` on `model`'s frozen autoencoder, evaluates them and
  the shipped model on the first `num_images` of `kodak`; writes OUT/table.md and returns it ("" when an
  image folder is missing: the experiment is skipped)."""
  for folder in (train_images, kodak):
    if not os.path.isdir(folder):
      print(f"context_comparison: skipped, image folder {folder!r} not found (pass --train_images/--kodak)")
      return ""
  os.makedirs(out, exist_ok=True)
  autoencoder = export_autoencoder(model, os.path.join(out, "autoencoder"))
  config, variables = zoo.load(model)
  test_images = [images_lib.read_image(p) for p in images_lib.list_images(kodak, num_images)]
  rows = [evaluate(f"{model} (shipped, joint)", config, variables, test_images)]
  print(markdown_table(rows, ""), flush=True)
  for name in MODELS:
    workdir = os.path.join(out, f"{name}_{steps}")
    if retrain and os.path.isdir(workdir):
      shutil.rmtree(workdir)
    cfg = training_config(config, name, autoencoder, train_images, num_train_images, crop, steps, batch_size,
                          lr, seed)
    t = time.perf_counter()
    train.train_and_evaluate(cfg, workdir)
    print(f"{name}: trained in {time.perf_counter() - t:.0f} s ({workdir})", flush=True)
    trained_config, trained = zoo.load(workdir)
    rows.append(evaluate(name, trained_config, trained, test_images))
    print(markdown_table(rows[-1:], ""), flush=True)

  note = (f"Frozen AE of `{model}`; context models trained from scratch by `jcomp.train` on random {crop}x{crop} "
          f"crops of the first {num_train_images} sorted images of {os.path.basename(os.path.normpath(train_images))}, "
          f"Adam lr {lr} cosine, {steps} steps of batch {batch_size}; Kodak: {len(test_images)} images, real .jcomp "
          f"files (decoded and checked), means per image; decode time on {jax.default_backend().upper()}, compile "
          "excluded.")
  table = markdown_table(rows, note)
  with open(os.path.join(out, "table.md"), "w") as f:
    f.write(table)
  print(table)
  return table
