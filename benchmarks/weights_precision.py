"""Does storing a model's weights in float16 move its RD curve? (zoo models are shipped in float16)

  python benchmarks/weights_precision.py --images=PATH/kodak --models=DIR32_A,DIR32_B [--max-images=6]

For each float32 model directory, a float16 copy is made in memory; both code the images (estimated bpp =
cross-entropy of the context model, MS-SSIM of the reconstruction), and the BD-rate of the float16 curve
against the float32 curve is printed (MS-SSIM dB), with per-model mean differences.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from jcomp import metrics, zoo
from jcomp.coding.codec import Codec
from jcomp.eval import bd_rate, rd


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--images", required=True)
  p.add_argument("--models", required=True)
  p.add_argument("--max-images", type=int, default=6)
  a = p.parse_args()
  refs = rd.image_refs(a.images, a.max_images)
  images = [r.load() for r in refs]
  curves = {"float32": ([], []), "float16": ([], [])}
  for spec in a.models.split(","):
    config, v32 = zoo.load(spec)
    v16 = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float16).astype(np.float32), v32)
    for name, v in (("float32", v32), ("float16", v16)):
      codec = Codec(config, jax.tree_util.tree_map(np.asarray, v))
      bpp, msssim = [], []
      for im in images:
        an = codec.analyze(im)
        bpp.append(codec.estimate_bits(an["symbols"]) / im.shape[0] / im.shape[1])
        rec = codec.reconstruct(im)
        msssim.append(float(metrics.ms_ssim(jnp.asarray(im, jnp.float32), jnp.asarray(rec, jnp.float32))))
      curves[name][0].append(np.mean(bpp))
      curves[name][1].append(np.mean(msssim))
      print(f"{spec:40s} {name}: bpp_est {np.mean(bpp):.4f}  MS-SSIM {np.mean(msssim):.5f}", flush=True)
  db = lambda m: [float(metrics.ms_ssim_db(float(x))) for x in m]
  r32, m32 = curves["float32"]
  r16, m16 = curves["float16"]
  print(f"BD-rate float16 vs float32 (MS-SSIM dB, {len(images)} images): "
        f"{bd_rate.bd_rate(r32, db(m32), r16, db(m16)):+.3f} %")


if __name__ == "__main__":
  main()
