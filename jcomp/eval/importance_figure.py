"""The importance map and latent channels of one image under a model (Mentzer et al. 2018, Fig. 6; Li et al.
2018, Fig. 5), for any jcomp model: Mentzer (eq. 14 map), Li (trimmed binary code) or no map.

  python -m jcomp.eval.importance_figure --model=NAME_OR_WORKDIR --image=kodim15.png --out=importance.png

The map drawn is the number of channels the mask keeps per position (what the trimmed code codes: the rounded
map, Li et al.'s quantized levels), so a channel k is greyed exactly where it is dropped (k >= count).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PIL import Image


def kept_channel_map(analysis: dict, has_importance: bool) -> np.ndarray | None:
  """(h, w) float kept-channel counts from `Codec.analyze`, or None for a model without importance map."""
  return np.asarray(analysis["counts"], np.float64) if has_importance else None


def main(argv=None) -> int:
  from jcomp.coding.codec import load_codec  # pylint: disable=g-import-not-at-top
  from jcomp.eval import plots  # pylint: disable=g-import-not-at-top
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model", required=True, help="zoo name, exported model directory or training workdir")
  p.add_argument("--image", required=True)
  p.add_argument("--out", required=True, help="output PNG")
  a = p.parse_args(argv)
  try:
    codec = load_codec(a.model).codec
    with Image.open(a.image) as im:
      image = np.asarray(im.convert("RGB"))
  except Exception as e:  # pylint: disable=broad-except
    print(f"error: {e}", file=sys.stderr)
    return 1
  r = codec.analyze(image)
  m = codec.config.model
  importance = kept_channel_map(r, m.importance != "none")
  kept = f", {np.mean(r['counts']) / m.num_channels:.0%} of {m.num_channels} channels kept"
  title = f"{codec.config.system} ({m.quantizer}, importance: {m.importance}{kept}): {a.image}"
  plots.plot_importance_and_latents(image, importance, r["values"], a.out, title=title)
  print(a.out)
  return 0


if __name__ == "__main__":
  sys.exit(main())
