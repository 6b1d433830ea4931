"""What the integer context model costs: rate on Kodak and coding time, float (format 3) vs integer (format 4).

  python benchmarks/integer_rate.py --images=../shared/data/kodak [--models=NAME,...] [--time-image=kodim05]

Per model, every image is analysed once and its symbols coded twice: with the float context model's tables
(format 3, what the codec wrote before) and with the integer model's (format 4). The reconstruction depends
only on the symbols, which are the same, so distortion is unchanged by construction (checked on the timing
image: both files decode to the same pixels as `reconstruct`). Prints mean bpp of both and the change, then the
family's BD-rate (integer vs float curve, at the cards' Kodak MS-SSIM and PSNR of each model), then encode and
decode time of one image, float and integer alternated in one process (best of `--repeats`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from jcomp import zoo
from jcomp.coding.codec import Codec
from jcomp.eval import bd_rate
from jcomp.eval.rd import image_refs


def _best_time(fn, repeats: int) -> float:
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t)
  return best


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--images", default="../shared/data/kodak")
  p.add_argument("--models", default="", help="comma-separated (default: every shipped model with an integer "
                 "context model)")
  p.add_argument("--time-image", default="kodim05")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--max-images", type=int, default=None)
  a = p.parse_args()
  names = a.models.split(",") if a.models else [n for n in zoo.names() if zoo.load_integer(n) is not None]
  refs = image_refs(a.images, a.max_images)
  print(f"{len(refs)} images from {a.images}")
  rows = []
  print(f"{'model':<28} {'bpp float':>10} {'bpp int':>10} {'change %':>9} {'max img %':>9}")
  for name in names:
    config, variables = zoo.load(name)
    ci, cf = Codec(config, variables, name, zoo.load_integer(name)), Codec(config, variables, name)
    bf, bi, timing = [], [], None
    for ref in refs:
      image = ref.load()
      analysis = ci.analyze(image)
      ri, rf = ci.encode_analysis(analysis), cf.encode_analysis(analysis)
      assert ri.data[4] == 4 and rf.data[4] == 3
      bf.append(rf.bpp_real)
      bi.append(ri.bpp_real)
      if ref.name.startswith(a.time_image) and timing is None:
        same = (np.array_equal(ci.decompress(ri.data), cf.decompress(rf.data))
                and np.array_equal(ci.decompress(ri.data), ci.reconstruct(image)))
        timing = dict(same_pixels=same,
                      enc_float=_best_time(lambda: cf.compress(image), a.repeats),
                      enc_int=_best_time(lambda: ci.compress(image), a.repeats),
                      dec_float=_best_time(lambda: cf.decompress(rf.data), a.repeats),
                      dec_int=_best_time(lambda: ci.decompress(ri.data), a.repeats))
    bf, bi = np.array(bf), np.array(bi)
    change = 100 * (bi.mean() / bf.mean() - 1)
    rows.append(dict(name=name, bpp_float=bf.mean(), bpp_int=bi.mean(), card=zoo.card(name), timing=timing))
    print(f"{name:<28} {bf.mean():>10.4f} {bi.mean():>10.4f} {change:>+9.3f} "
          f"{100 * np.max(np.abs(bi / bf - 1)):>9.3f}", flush=True)
  with_cards = [r for r in rows if "kodak_ms_ssim" in r["card"]]
  if len(with_cards) >= 2 and len(refs) == 24:
    for metric, key in (("MS-SSIM dB", "kodak_ms_ssim"), ("PSNR", "kodak_psnr")):
      m = [r["card"][key] for r in with_cards]
      m = [-10 * np.log10(1 - v) for v in m] if key == "kodak_ms_ssim" else m
      bd = bd_rate.bd_rate([r["bpp_float"] for r in with_cards], m, [r["bpp_int"] for r in with_cards], m)
      print(f"family BD-rate, integer vs float ({metric} of the cards): {bd:+.3f} %")
  print(f"\ntime on {a.time_image} (best of {a.repeats}, s)")
  print(f"{'model':<28} {'enc float':>9} {'enc int':>9} {'ratio':>6} {'dec float':>9} {'dec int':>9} {'ratio':>6} "
        f"{'same px':>7}")
  for r in rows:
    t = r["timing"]
    if t:
      print(f"{r['name']:<28} {t['enc_float']:>9.2f} {t['enc_int']:>9.2f} {t['enc_int'] / t['enc_float']:>6.2f} "
            f"{t['dec_float']:>9.2f} {t['dec_int']:>9.2f} {t['dec_int'] / t['dec_float']:>6.2f} "
            f"{str(t['same_pixels']):>7}")


if __name__ == "__main__":
  main()
