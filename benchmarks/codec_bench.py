"""End-to-end codec timing on one image: encode/decode seconds, their split, peak RSS, real vs estimated bpp.

  python benchmarks/codec_bench.py --model=mentzer2018-compact-0.30 --image=PATH/kodim01.png
  python benchmarks/codec_bench.py --config=configs/med.py --image=PATH/kodim01.png   # random weights

Runs compress and decompress once to fill the jit caches, then --repeats more times and reports the median
of every figure (this machine's timings vary by +-30 % from run to run), as the peer figures (CompressAI's
mbt2018 on this machine) were taken warm. Splits: analysis (encoder network), context (wavefront
context model), coder (rANS + table quantization), synthesis (decoder network).
"""

from __future__ import annotations

import argparse
import resource
import time

import jax
import numpy as np

from jcomp import config_lib, systems
from jcomp.coding.codec import Codec
from jcomp.data.images import read_image


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model", default=None)
  p.add_argument("--config", default=None)
  p.add_argument("--image", required=True)
  p.add_argument("--repeats", type=int, default=5)
  a = p.parse_args()
  if a.model:
    codec = Codec.load(a.model)
  else:
    config = config_lib.from_file(a.config)
    config.model.dtype = "float32"
    v = systems.build(config).init(jax.random.PRNGKey(0))
    codec = Codec(config, jax.tree_util.tree_map(np.asarray, v), name=a.config)
  image = read_image(a.image)
  runs = []
  for _ in range(1 + a.repeats):
    t = time.perf_counter()
    r = codec.compress(image)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    out, dt = codec.decompress_with_timings(r.data)
    dec = time.perf_counter() - t
    runs.append(dict(encode=enc, decode=dec, **{f"encode_{k}": v for k, v in r.timings.items()},
                     **{f"decode_{k}": v for k, v in dt.items()}, coder_share=dt["coder_s"] / dec,
                     no_synthesis=dec - dt["synthesis_s"]))
  assert np.array_equal(out, codec.reconstruct(image))
  med = {k: float(np.median([run[k] for run in runs[1:]])) for k in runs[0]}
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  H, W = image.shape[:2]
  split = lambda prefix: ", ".join(f"{k[len(prefix):]} {v:.2f}" for k, v in med.items() if k.startswith(prefix))
  print(f"model {codec.name}  image {a.image} {W}x{H}  latent {codec.analyze(image)['symbols'].shape}")
  print(f"medians of {a.repeats} warm runs:")
  print(f"encode {med['encode']:.2f} s  ({split('encode_')})")
  print(f"decode {med['decode']:.2f} s  ({split('decode_')})")
  shares = ", ".join(f"{100 * run['coder_share']:.1f}" for run in runs[1:])
  print(f"decode without synthesis {med['no_synthesis']:.2f} s; coder share of decode "
        f"{100 * med['coder_share']:.1f} % (per run: {shares}); peak RSS {rss:.2f} GiB")
  print(f"bpp real {r.bpp_real:.4f}  estimate {r.bpp_est:.4f}  ideal (quantized tables) "
        f"{r.bits_ideal / H / W:.4f}  payload overhead over ideal "
        f"{100 * (8 * len(r.data) - r.bits_ideal) / r.bits_ideal:.3f} % incl. header")


if __name__ == "__main__":
  main()
