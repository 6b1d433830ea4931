"""Real vs estimated bpp per image: where the bytes of a `.jcomp` file go.

  python benchmarks/bpp_gap.py --model=mentzer2018-compact-0.30 --images=PATH/kodak

For every image: real bpp (the file), the model's cross-entropy estimate, and the file's bytes split into the
container (magic, header, CRC), payload 0 (the importance map's kept-channel counts) and payload 1 (the kept
symbols), with payload 1's overhead over the ideal code length of the coder's quantized tables. Ends with the
extremes over the images. Nothing is timed.
"""

from __future__ import annotations

import argparse

import numpy as np

from jcomp.coding import bitstream
from jcomp.coding.codec import Codec
from jcomp.eval.rd import image_refs


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model", required=True)
  p.add_argument("--images", required=True, help="folder, glob, image file or tfds:NAME[:SPLIT]")
  a = p.parse_args()
  codec = Codec.load(a.model)
  rows = []
  print(f"{'image':<14} {'bpp real':>9} {'bpp est':>9} {'gap B':>6} {'container B':>11} {'counts B':>8} "
        f"{'symbols B':>9} {'ideal B':>9} {'overhead':>9}")
  for ref in image_refs(a.images):
    name, image = ref.name, ref.load()
    r = codec.compress(image)
    _, payloads = bitstream.unpack(r.data)
    H, W = image.shape[:2]
    container = len(r.data) - sum(len(x) for x in payloads)
    ideal = r.bits_ideal / 8
    row = dict(gap=(r.bpp_real - r.bpp_est) * H * W / 8, container=container, counts=len(payloads[0]),
               symbols=len(payloads[1]), ideal=ideal, overhead=100 * (len(payloads[1]) - ideal) / ideal,
               real_ge_est=r.bpp_real >= r.bpp_est)
    rows.append(row)
    print(f"{name:<14} {r.bpp_real:>9.4f} {r.bpp_est:>9.4f} {row['gap']:>6.1f} {container:>11d} "
          f"{row['counts']:>8d} {row['symbols']:>9d} {ideal:>9.1f} {row['overhead']:>8.3f}%")
  get = lambda k: np.array([r[k] for r in rows])
  print(f"{len(rows)} images: real >= estimate on {int(get('real_ge_est').sum())}; gap {get('gap').min():.1f}"
        f"..{get('gap').max():.1f} bytes = container {get('container').min()}..{get('container').max()} "
        f"+ counts {get('counts').min()}..{get('counts').max()} + symbol payload over ideal "
        f"{(get('symbols') - get('ideal')).min():.1f}..{(get('symbols') - get('ideal')).max():.1f} bytes "
        f"({get('overhead').min():.3f}..{get('overhead').max():.3f} %) + (ideal - estimate)")


if __name__ == "__main__":
  main()
