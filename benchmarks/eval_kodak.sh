#!/usr/bin/env bash
# Classical-codec rate–distortion sweep on Kodak (24 PNGs, 768x512), as in the eval issue's table.
#
#   benchmarks/eval_kodak.sh KODAK_DIR [OUT_DIR] [extra `jcomp eval` flags, e.g. --models=...]
#
# Runs every available codec of jcomp.eval.codecs over its default sweep (real encode + decode, MS-SSIM
# and PSNR with jcomp.metrics), then prints the wall time, the bpp-grid-averaged MS-SSIM at 0.25 / 0.5 /
# 0.75 bpp per method, and each method's BD-rate vs. JPEG 4:2:0. Resumable: re-running with the same
# OUT_DIR only fills in missing rows. About 45 min on 2 CPU cores (MS-SSIM on the CPU dominates).
set -euo pipefail

kodak="${1:?usage: $0 KODAK_DIR [OUT_DIR] [extra flags]}"
out="${2:-runs/eval_kodak_classical}"
shift $(( $# >= 2 ? 2 : 1 ))

start=$(date +%s)
python -m jcomp eval --images="$kodak" --out="$out" "$@"
end=$(date +%s)
echo "wall time: $(( end - start )) s"

python - "$out/summary.json" <<'PY'
import json, math, sys

s = json.load(open(sys.argv[1]))
points = (0.25, 0.5, 0.75)
bd = s["bd_rate"]


def at(curve, b):
  """Linear interpolation of the averaged curve at b (no extrapolation); n_images if not all."""
  pts = [(x, y, n) for x, y, n in zip(curve["bpp"], curve["ms_ssim"],
                                      curve.get("n_images", [None] * len(curve["bpp"])))
         if y is not None]
  for (x0, y0, n0), (x1, y1, n1) in zip(pts, pts[1:]):
    if x0 - 1e-9 <= b <= x1 + 1e-9:
      t = (b - x0) / (x1 - x0)
      n = n0 if t < 0.5 else n1
      partial = f" (n={n})" if n is not None and n < s["n_images"] else ""
      return f"{y0 + t * (y1 - y0):.4f}{partial}"
  return "–"


def pct(v):
  return "–" if v is None or not math.isfinite(v) else f"{v:+.1f} %"


print(f"\n{s['n_images']} images")
print("| method | " + " | ".join(f"MS-SSIM @ {b} bpp" for b in points)
      + " | BD-rate vs jpeg420 (MS-SSIM dB) | BD-rate vs jpeg420 (PSNR) |")
print("| --- |" + " ---: |" * (len(points) + 2))
for m, e in s["methods"].items():
  curve = e.get("curve", {"bpp": [], "ms_ssim": []})
  msssim = bd["ms_ssim_db"].get(m, {}).get("jpeg420")
  psnr = bd["psnr"].get(m, {}).get("jpeg420")
  print(f"| {m} | " + " | ".join(at(curve, b) for b in points) + f" | {pct(msssim)} | {pct(psnr)} |")
PY
