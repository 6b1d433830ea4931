"""End-to-end codec timing on one image: encode/decode seconds, their split, peak RSS, real vs estimated bpp.

  python benchmarks/codec_bench.py --model=mentzer2018-compact-0.30 --image=PATH/kodim01.png
  python benchmarks/codec_bench.py --config=configs/med.py --image=PATH/kodim01.png   # random weights

Runs compress and decompress twice and reports the second (warm: jit caches filled), as the peer figures
(CompressAI's mbt2018 on this machine) were taken. Splits: analysis (encoder network), context (wavefront
context model), coder (rANS + table quantization), synthesis (decoder network).
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import time

import jax
import numpy as np
from PIL import Image

from jcomp import train
from jcomp.coding.codec import Codec


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model", default=None)
  p.add_argument("--config", default=None)
  p.add_argument("--image", required=True)
  a = p.parse_args()
  if a.model:
    codec = Codec.load(a.model)
  else:
    path, _, arg = a.config.partition(":")
    spec = importlib.util.spec_from_file_location("cfg", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    config = mod.get_config(arg or None)
    config.model.dtype = "float32"
    v = train.init_variables(train.build_models(config), config, jax.random.PRNGKey(0))
    codec = Codec(config, jax.tree_util.tree_map(np.asarray, v), name=a.config)
  image = np.asarray(Image.open(a.image).convert("RGB"))
  for run in range(2):
    t = time.perf_counter()
    r = codec.compress(image)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    out, dt = codec.decompress_with_timings(r.data)
    dec = time.perf_counter() - t
  assert np.array_equal(out, codec.reconstruct(image))
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  H, W = image.shape[:2]
  print(f"model {codec.name}  image {a.image} {W}x{H}  latent {codec.analyze(image)['symbols'].shape}")
  print(f"encode {enc:.2f} s  ({', '.join(f'{k} {v:.2f}' for k, v in r.timings.items())})")
  print(f"decode {dec:.2f} s  ({', '.join(f'{k} {v:.2f}' for k, v in dt.items())})")
  print(f"decode without synthesis {dec - dt['synthesis_s']:.2f} s; peak RSS {rss:.2f} GiB")
  print(f"bpp real {r.bpp_real:.4f}  estimate {r.bpp_est:.4f}  ideal (quantized tables) "
        f"{r.bits_ideal / H / W:.4f}  payload overhead over ideal "
        f"{100 * (8 * len(r.data) - r.bits_ideal) / r.bits_ideal:.3f} % incl. header")


if __name__ == "__main__":
  main()
