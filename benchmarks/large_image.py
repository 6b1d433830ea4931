"""Bounded memory at any size (issue 18): a 6000 x 4000 round trip against a Kodak image's, and what tiling costs.

  python benchmarks/large_image.py                         # all parts, mentzer2018-compact-0.30
  python benchmarks/large_image.py --parts=speed --size=6000x4000
  python benchmarks/large_image.py --parts=rate --kodak=8 --small-tiles=32,64

Parts:
  speed  compress and decompress a large test image and one Kodak image, each in a fresh process (compilation
         cache off: compiling counts), with its wall time, CPU time and peak RSS, and the time of the codec
         call itself (the Kodak call also warm); time per megapixel of both and the ratio. The large image is a
         mosaic of Kodak images upscaled 2x (bicubic) with Gaussian noise (sigma 2), or a procedural image
         without ../shared/data/kodak. Also the seam band PSNR of the large image's decode (below).
  rate   the rate cost of tiling on Kodak: each image coded whole (the default tile: Kodak is one volume) and
         with a forced small tile (context reset at tile borders, networks on windows), total bytes; and the
         seams: PSNR against the original of the band within 8 px of a tile border and of the rest, and PSNR
         of the tiled decode against the untiled one.
  crop   the rate cost of the default tile on the large test image: a 2048 x 2048 crop (latent 256 x 256) coded
         as one volume (tile 256) and in 2 x 2 tiles (the default 128), and that cost scaled to the large
         image by the share of latent positions on an interior tile border (the cost follows it: on Kodak,
         1.04 % of positions on a border at tile 64 cost 1.0 %, 3.65 % at tile 32 cost 3.9 %).
  field  the networks' measured reach (one pixel / one latent perturbed) against the tiling's margins.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "data" / "kodak"
BAND = 8  # px each side of a tile border


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def border_band(shape: tuple[int, int], tiles: list[tuple[int, int, int, int]], stride: int = 8,
                band: int = BAND) -> np.ndarray:
  """(H, W) bool: pixels within `band` of an interior tile border (tiles in latents, `tiling.grid`)."""
  H, W = shape
  mask = np.zeros((H, W), bool)
  for r in {r0 for r0, _, _, _ in tiles} - {0}:
    mask[max(stride * r - band, 0):stride * r + band] = True
  for c in {c0 for _, _, c0, _ in tiles} - {0}:
    mask[:, max(stride * c - band, 0):stride * c + band] = True
  return mask


def seam_psnr(original: np.ndarray, decoded: np.ndarray, band: np.ndarray) -> tuple[float, float]:
  """(PSNR of the band, PSNR of the rest), dB."""
  return _psnr(original[band], decoded[band]), _psnr(original[~band], decoded[~band])


def _kodak_paths() -> list[pathlib.Path]:
  return sorted(KODAK.glob("kodim*.png")) if KODAK.is_dir() else []


def test_image(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, str]:
  """A (height, width, 3) uint8 photo-like image and what it is."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  paths = _kodak_paths()
  if not paths:
    from jcomp.data.synthetic_images import synthetic_image  # pylint: disable=g-import-not-at-top
    return synthetic_image(seed, height, width), "procedural (no Kodak found)"
  out = np.empty((height, width, 3), np.uint8)
  y = i = 0
  while y < height:
    x, row_h = 0, 0
    while x < width:
      im = Image.open(paths[i % len(paths)]).convert("RGB")
      im = np.asarray(im.resize((2 * im.width, 2 * im.height), Image.BICUBIC))
      h, w = min(im.shape[0], height - y), min(im.shape[1], width - x)
      noisy = im[:h, :w].astype(np.float32) + rng.normal(0, 2, (h, w, 3)).astype(np.float32)
      out[y:y + h, x:x + w] = np.clip(np.round(noisy), 0, 255)
      x, row_h, i = x + w, max(row_h, h), i + 1
    y += row_h
  return out, f"mosaic of {i} Kodak images upscaled 2x, noise sigma 2"


def child(args) -> None:
  """One codec operation in this (fresh) process: prints a JSON line of its timings."""
  os.environ["JCOMP_CACHE_DIR"] = "off"
  from jcomp.coding.codec import Codec  # pylint: disable=g-import-not-at-top
  t = time.perf_counter()
  codec = Codec.load(args.model)
  load_s = time.perf_counter() - t
  info = dict(load_s=load_s)
  if args.op == "compress":
    image = np.load(args.input)
    t = time.perf_counter()
    r = codec.compress(image)
    info.update(call_s=time.perf_counter() - t, bytes=len(r.data), bpp=r.bpp_real, **r.timings)
    if args.warm:
      t = time.perf_counter()
      codec.compress(image)
      info["warm_s"] = time.perf_counter() - t
    pathlib.Path(args.output).write_bytes(r.data)
  else:
    data = pathlib.Path(args.input).read_bytes()
    t = time.perf_counter()
    image, timings = codec.decompress_with_timings(data)
    info.update(call_s=time.perf_counter() - t, **timings)
    if args.warm:
      t = time.perf_counter()
      codec.decompress(data)
      info["warm_s"] = time.perf_counter() - t
    np.save(args.output, image)
  print(json.dumps(info))


def _run_child(op: str, model: str, src: str, dst: str, warm: bool) -> dict:
  from jcomp.coding import fuzz  # pylint: disable=g-import-not-at-top
  env = dict(os.environ, PYTHONPATH=str(REPO), JCOMP_CACHE_DIR="off", JCOMP_MAX_PIXELS="0")
  cmd = [sys.executable, __file__, "--child", op, "--model", model, "--input", src, "--output", dst]
  r = fuzz.run_measured(cmd + ["--warm"] * warm, timeout_s=3600, env=env)
  if r.returncode != 0:
    raise SystemExit(f"{op} failed ({r.returncode}): {r.stderr[-2000:]}")
  info = json.loads(r.stdout.strip().splitlines()[-1])
  info.update(wall_s=r.wall_s, cpu_s=r.cpu_s, rss_gib=r.max_rss_mb / 1024)
  return info


def speed(args, tmp: pathlib.Path) -> None:
  from jcomp.coding import bitstream, tiling  # pylint: disable=g-import-not-at-top
  width, height = (int(v) for v in args.size.split("x"))
  t = time.perf_counter()
  large, what = test_image(height, width)
  print(f"test image {width}x{height}: {what} ({time.perf_counter() - t:.0f} s to make)")
  paths = _kodak_paths()
  if paths:
    from jcomp.data.images import read_image  # pylint: disable=g-import-not-at-top
    kodak, kodak_name = read_image(str(paths[0])), paths[0].name
  else:
    from jcomp.data.synthetic_images import synthetic_image  # pylint: disable=g-import-not-at-top
    kodak, kodak_name = synthetic_image(1, 512, 768), "procedural 768x512"
  rows = {}
  for name, image, warm in ((kodak_name, kodak, True), (f"{width}x{height}", large, False)):
    src, enc, dec = tmp / f"{name}.npy", tmp / f"{name}.jcomp", tmp / f"{name}.out.npy"
    np.save(src, image)
    c = _run_child("compress", args.model, str(src), str(enc), warm)
    d = _run_child("decompress", args.model, str(enc), str(dec), warm)
    rows[name] = (image.shape[0] * image.shape[1] / 1e6, c, d)
    decoded = np.load(dec)
    header, _ = bitstream.unpack(enc.read_bytes())
    K, h, w = header.latent_shape
    tiles = tiling.grid(h, w, header.extras.get("tile"))
    line = f"{name}: {c['bytes']:,} bytes, {c['bpp']:.4f} bpp, PSNR {_psnr(image, decoded):.2f} dB, {len(tiles)} tiles"
    if len(tiles) > 1:
      band, rest = seam_psnr(image, decoded, border_band(image.shape[:2], tiles))
      line += f"; seam band (+-{BAND} px of a tile border) {band:.2f} dB, rest {rest:.2f} dB"
    print(line)
  print(f"\n{'image':>12s} {'op':>10s} {'MP':>6s} {'process s':>9s} {'CPU s':>7s} {'call s':>7s} {'warm s':>7s} "
        f"{'call s/MP':>9s} {'warm s/MP':>9s} {'peak RSS GiB':>12s}  split of the call")
  for name, (mp, c, d) in rows.items():
    for op, info in (("compress", c), ("decompress", d)):
      split = ", ".join(f"{k[:-2]} {info[k]:.1f}" for k in ("analysis_s", "context_s", "coder_s", "synthesis_s")
                        if k in info)
      warm = info.get("warm_s")
      print(f"{name:>12s} {op:>10s} {mp:6.2f} {info['wall_s']:9.1f} {info['cpu_s']:7.1f} {info['call_s']:7.2f} "
            f"{warm if warm else float('nan'):7.2f} {info['call_s'] / mp:9.2f} "
            f"{warm / mp if warm else float('nan'):9.2f} {info['rss_gib']:12.2f}  {split}")
  (kmp, kc, kd), (lmp, lc, ld) = rows.values()
  for op, k, l in (("compress", kc, lc), ("decompress", kd, ld)):
    per = l["call_s"] / lmp
    print(f"{op}: large image s/MP over Kodak's: {per / (k['call_s'] / kmp):.2f}x (Kodak call with compiling), "
          f"{per / (k['warm_s'] / kmp):.2f}x (Kodak warm); "
          f"whole process {l['wall_s'] / lmp / (k['wall_s'] / kmp):.2f}x")


def rate(args) -> None:
  from jcomp.coding import bitstream, tiling  # pylint: disable=g-import-not-at-top
  from jcomp.coding.codec import Codec  # pylint: disable=g-import-not-at-top
  from jcomp.data.images import read_image  # pylint: disable=g-import-not-at-top
  paths = _kodak_paths()[:args.kodak]
  if not paths:
    print("rate: no Kodak images in ../shared/data/kodak: skipped")
    return
  codec = Codec.load(args.model)
  tiles = [int(t) for t in args.small_tiles.split(",")]
  print(f"\nKodak ({len(paths)} images: {paths[0].name}..{paths[-1].name}), {args.model}; untiled = the default "
        f"tile {codec.tile}")
  total = {t: 0 for t in [0] + tiles}
  seams = {t: [] for t in tiles}
  for path in paths:
    image = read_image(str(path))
    base = codec.compress(image)
    whole = codec.decompress(base.data)
    total[0] += len(base.data)
    for t in tiles:
      tiled = copy.copy(codec)
      tiled.tile = t
      r = tiled.compress(image)
      total[t] += len(r.data)
      header, _ = bitstream.unpack(r.data)
      decoded = tiled.decompress(r.data)
      band = border_band(image.shape[:2], tiling.grid(*header.latent_shape[1:], header.extras.get("tile")))
      seams[t].append(seam_psnr(image, decoded, band) + seam_psnr(whole, decoded, band)
                      + (_psnr(image, whole), _psnr(image, decoded), float(band.mean())))
  print(f"{'tile':>5s} {'tiles':>5s} {'bytes':>9s} {'rate cost':>9s} {'band':>5s} {'band PSNR':>9s} {'rest PSNR':>9s} "
        f"{'PSNR untiled':>12s} {'PSNR tiled':>10s} {'band vs untiled':>15s} {'rest vs untiled':>15s}")
  print(f"{'-':>5s} {1:5d} {total[0]:9,d}")
  for t in tiles:
    s = np.array(seams[t])
    n = len(tiling.grid(64, 96, t))
    mean = lambda i: float(np.mean(s[:, i]))
    print(f"{t:5d} {n:5d} {total[t]:9,d} {100 * (total[t] / total[0] - 1):8.2f}% {100 * mean(6):4.1f}% {mean(0):9.2f} "
          f"{mean(1):9.2f} "
          f"{mean(4):12.2f} {mean(5):10.2f} {mean(2):15.2f} {mean(3):15.2f}")
  print(f"(PSNR: mean over images, dB; band: the pixels within {BAND} px of a tile border, their share; 'vs untiled': "
        "the tiled decode against the untiled one, inf = identical)")


def border_share(h: int, w: int, tile: int) -> float:
  """The share of an h x w latent's positions on an interior tile border (one row or column of positions per
  border)."""
  from jcomp.coding import tiling  # pylint: disable=g-import-not-at-top
  tiles = tiling.grid(h, w, tile)
  return ((len({r for r, *_ in tiles}) - 1) * w + (len({c for _, _, c, _ in tiles}) - 1) * h) / (h * w)


def crop(args) -> None:
  from jcomp.coding.codec import Codec  # pylint: disable=g-import-not-at-top
  width, height = (int(v) for v in args.size.split("x"))
  large, _ = test_image(height, width)
  side = min(2048, height // 8 * 8, width // 8 * 8)
  y, x = (height - side) // 2, (width - side) // 2
  image = large[y:y + side, x:x + side]
  codec = Codec.load(args.model)
  sizes = {}
  for tile in (side // 8, codec.tile):
    c = copy.copy(codec)
    c.tile = tile
    t = time.perf_counter()
    sizes[tile] = len(c.compress(image).data)
    print(f"crop {side}x{side} at ({x}, {y}), tile {tile}: {sizes[tile]:,} bytes ({time.perf_counter() - t:.0f} s)")
  cost = sizes[codec.tile] / sizes[side // 8] - 1
  share_crop = border_share(side // 8, side // 8, codec.tile)
  share_large = border_share(-(-height // 8), -(-width // 8), codec.tile)
  print(f"rate cost of tile {codec.tile} on the crop: {100 * cost:.2f} % ({100 * share_crop:.2f} % of positions on a "
        f"border); scaled to {width}x{height} ({100 * share_large:.2f} % on a border): "
        f"{100 * cost * share_large / share_crop:.2f} %")


def field(args) -> None:
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jcomp.coding.codec import Codec  # pylint: disable=g-import-not-at-top
  codec = Codec.load(args.model)
  rng = np.random.default_rng(0)
  n, at = 48, 24
  x = rng.integers(0, 256, (1, 8 * n, 8 * n, 3)).astype(np.float32)
  reach = []
  for pixel in (8 * at, 8 * at + 7):
    x2 = x.copy()
    x2[0, pixel, pixel] = 255 - x2[0, pixel, pixel]
    a, b = (codec._encode(codec._ae_vars, jnp.asarray(v)) for v in (x, x2))  # pylint: disable=protected-access
    moved = np.abs(np.asarray(a["latents"] - b["latents"]))[0].max(-1) + np.abs(np.asarray(
        a["importance"] - b["importance"]))[0]
    rows = np.flatnonzero(moved.max(axis=1) > 0)
    reach.append(max(at - rows.min(), rows.max() - at))
  values = codec.centers[rng.integers(0, len(codec.centers), (1, n, n, codec.config.model.num_channels))]
  v2 = values.copy()
  v2[0, at, at] += 3.0
  a, b = (np.asarray(codec._decode(codec._ae_vars, jnp.asarray(v))[0])  # pylint: disable=protected-access
          for v in (values, v2))
  rows = np.flatnonzero(np.abs(a - b).max(axis=(1, 2)) > 0)
  dec = max((8 * at - rows.min()) / 8, (rows.max() - 8 * at - 7) / 8)
  print(f"\nreceptive field of {args.model}: analysis reach {max(reach)} latents (margin {codec.encoder_margin}), "
        f"synthesis reach {dec:.3f} latents (margin {codec.decoder_margin})")


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model", default="mentzer2018-compact-0.30")
  p.add_argument("--parts", default="field,speed,rate,crop")
  p.add_argument("--size", default="6000x4000", help="WIDTHxHEIGHT of the large image")
  p.add_argument("--kodak", type=int, default=24, help="Kodak images of the rate part (the first N)")
  p.add_argument("--small-tiles", default="32,64", help="forced tiles of the rate part, latents")
  p.add_argument("--child", choices=("compress", "decompress"), dest="op")
  p.add_argument("--input")
  p.add_argument("--output")
  p.add_argument("--warm", action="store_true")
  args = p.parse_args()
  if args.op:
    return child(args)
  parts = args.parts.split(",")
  if "field" in parts:
    field(args)
  if "speed" in parts:
    with tempfile.TemporaryDirectory() as tmp:
      speed(args, pathlib.Path(tmp))
  if "rate" in parts:
    rate(args)
  if "crop" in parts:
    crop(args)


if __name__ == "__main__":
  main()
