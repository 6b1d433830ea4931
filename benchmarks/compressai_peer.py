"""The peer figure of the codec benchmark: CompressAI's autoregressive mbt2018 on one image, random weights.

Runs in its own environment (CompressAI needs PyTorch, which jcomp does not depend on):

  python -m venv PEER_VENV && PEER_VENV/bin/pip install torch==2.14.1 torchvision==0.29.1 compressai tqdm pandas requests
  PEER_VENV/bin/python benchmarks/compressai_peer.py --image=PATH/kodim01.png

Runs compress and decompress once to warm up, then --repeats more times and reports the medians, as
benchmarks/codec_bench.py does, so the two can be run back to back on the same machine. mbt2018 decodes its 2D masked context model serially
(one latent position at a time), jcomp's wavefront decoder one wavefront at a time.
"""

import argparse
import resource
import time

import numpy as np
import torch
from compressai.zoo import mbt2018
from PIL import Image


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--image", required=True)
  p.add_argument("--quality", type=int, default=3)
  p.add_argument("--repeats", type=int, default=3)
  a = p.parse_args()
  torch.manual_seed(0)
  model = mbt2018(quality=a.quality, pretrained=False).eval()
  model.update(force=True)
  image = np.asarray(Image.open(a.image).convert("RGB"))
  x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255.0
  times = []
  with torch.no_grad():
    for _ in range(1 + a.repeats):
      t = time.perf_counter()
      out = model.compress(x)
      enc = time.perf_counter() - t
      t = time.perf_counter()
      model.decompress(out["strings"], out["shape"])
      times.append((enc, time.perf_counter() - t))
  enc, dec = np.median(times[1:], axis=0)
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  H, W = image.shape[:2]
  bpp = 8 * sum(len(s[0]) for s in out["strings"]) / (H * W)
  print(f"CompressAI mbt2018 q{a.quality} (random weights, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads)  image {W}x{H}")
  print(f"medians of {a.repeats} warm runs: encode {enc:.2f} s  decode {dec:.2f} s  peak RSS {rss:.2f} GiB  "
        f"bpp {bpp:.3f}")


if __name__ == "__main__":
  main()
