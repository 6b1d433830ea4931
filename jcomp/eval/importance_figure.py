"""The importance map and latent channels of one image under a model (Mentzer et al. 2018, Fig. 6).

  python -m jcomp.eval.importance_figure --model=NAME --image=kodim15.png --out=importance.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PIL import Image


def main(argv=None) -> int:
  from jcomp.coding.codec import load_codec  # pylint: disable=g-import-not-at-top
  from jcomp.eval import plots  # pylint: disable=g-import-not-at-top
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model", required=True)
  p.add_argument("--image", required=True)
  p.add_argument("--out", required=True)
  a = p.parse_args(argv)
  try:
    codec = load_codec(a.model).codec
    with Image.open(a.image) as im:
      image = np.asarray(im.convert("RGB"))
  except Exception as e:  # pylint: disable=broad-except
    print(f"error: {e}", file=sys.stderr)
    return 1
  r = codec.analyze(image)
  importance = r["importance"] if codec.config.model.importance != "none" else None
  plots.plot_importance_and_latents(image, importance, r["values"], a.out, title=f"{a.model}: {a.image}")
  print(a.out)
  return 0


if __name__ == "__main__":
  sys.exit(main())
