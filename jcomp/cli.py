"""`jcomp compress | decompress | eval | models` (also `python -m jcomp`), shaped like tfc's `tfci.py`.

  jcomp compress --model=M IMAGE... [-o OUT] [--force] [--verbose]   ->  IMAGE.jcomp next to each image
  jcomp decompress FILE.jcomp... [-o OUT.png] [--model=M] [--force]  ->  FILE.png (model from the header)
  jcomp eval ...                                                     ->  `python -m jcomp.eval --help`
  jcomp models                                                       ->  the shipped models and their cards

M is a zoo name (`jcomp models`), a model directory or a training workdir. Outputs are written atomically
and never overwrite an existing file without --force. Errors print one line and exit with status 1.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import warnings

import numpy as np


def _read_image(path: str) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as im:
      if im.mode in ("L", "LA", "I", "I;16", "1"):
        warnings.warn(f"{path}: grayscale image converted to RGB")
      elif im.mode in ("RGBA", "P") and "A" in im.convert("RGBA").getbands() and im.mode == "RGBA":
        warnings.warn(f"{path}: RGBA image, alpha channel dropped")
      return np.asarray(im.convert("RGB"))
  except (OSError, ValueError) as e:
    raise CliError(f"cannot read image {path!r}: {e}") from e


class CliError(Exception):
  pass


def _out_path(src: str, out: str | None, ext: str, many: bool) -> str:
  if out and not many:
    return out
  base = os.path.splitext(os.path.basename(src))[0] + ext
  return os.path.join(out if out else os.path.dirname(src) or ".", base)


def _write(path: str, data: bytes, force: bool) -> None:
  from jcomp.checkpoint import write_atomic  # pylint: disable=g-import-not-at-top
  if os.path.exists(path) and not force:
    raise CliError(f"{path} exists (use --force to overwrite)")
  write_atomic(path, data)


def _find_model_for(data: bytes, model: str | None):
  from jcomp import zoo  # pylint: disable=g-import-not-at-top
  from jcomp.coding import bitstream  # pylint: disable=g-import-not-at-top
  from jcomp.coding.codec import load_codec  # pylint: disable=g-import-not-at-top
  header, _ = bitstream.unpack(data)
  if model:
    return load_codec(model).codec
  for name in zoo.names():
    if zoo.card(name).get("model_id") == header.model_id.hex():
      return load_codec(name).codec
  raise CliError(f"no shipped model has id {header.model_id.hex()}: pass --model=WORKDIR_OR_NAME")


def compress(args) -> None:
  from jcomp.coding.codec import load_codec  # pylint: disable=g-import-not-at-top
  codec = load_codec(args.model).codec
  if args.output and len(args.images) > 1 and not os.path.isdir(args.output):
    raise CliError("-o must be an existing folder when compressing several images")
  for path in args.images:
    image = _read_image(path)
    out = _out_path(path, args.output, ".jcomp", len(args.images) > 1)
    if os.path.exists(out) and not args.force:
      raise CliError(f"{out} exists (use --force to overwrite)")
    t = time.perf_counter()
    r = codec.compress(image)
    dt = time.perf_counter() - t
    _write(out, r.data, args.force)
    line = f"{path} -> {out}: {len(r.data)} bytes, {r.bpp_real:.4f} bpp"
    if args.verbose:
      line += (f" (estimate {r.bpp_est:.4f} bpp, ideal {r.bits_ideal / image.shape[0] / image.shape[1]:.4f}"
               f" bpp; {dt:.2f} s: " + ", ".join(f"{k} {v:.2f}" for k, v in r.timings.items()) + ")")
    print(line)


def decompress(args) -> None:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if args.output and len(args.files) > 1 and not os.path.isdir(args.output):
    raise CliError("-o must be an existing folder when decompressing several files")
  for path in args.files:
    try:
      data = open(path, "rb").read()
    except OSError as e:
      raise CliError(f"cannot read {path!r}: {e.strerror}") from e
    out = _out_path(path, args.output, ".png", len(args.files) > 1)
    if os.path.exists(out) and not args.force:
      raise CliError(f"{out} exists (use --force to overwrite)")
    codec = _find_model_for(data, args.model)
    t = time.perf_counter()
    image, timings = codec.decompress_with_timings(data)
    dt = time.perf_counter() - t
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    _write(out, buf.getvalue(), args.force)
    line = f"{path} -> {out}: {image.shape[1]}x{image.shape[0]}"
    if args.verbose:
      line += f" ({dt:.2f} s: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()) + ")"
    print(line)


def models(args) -> None:
  from jcomp import zoo  # pylint: disable=g-import-not-at-top
  names = zoo.names()
  if not names:
    print("no models shipped")
    return
  print(f"{'name':28s} {'target bpp':>10s} {'size MB':>8s} {'Kodak bpp':>9s} {'Kodak MS-SSIM':>13s}")
  for n in names:
    c = zoo.card(n)
    size = os.path.getsize(os.path.join(zoo.ZOO_DIR, n, zoo.WEIGHTS_FILE)) / 1e6
    f = lambda k, fmt: format(c[k], fmt) if isinstance(c.get(k), (int, float)) else "-"
    print(f"{n:28s} {f('target_bpp', '10.2f')} {size:8.2f} {f('kodak_bpp', '9.3f')} {f('kodak_ms_ssim', '13.4f')}")


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else list(argv)
  if argv and argv[0] == "eval":
    from jcomp.eval import rd  # pylint: disable=g-import-not-at-top
    return rd.main(argv[1:])
  p = argparse.ArgumentParser(prog="jcomp", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True)
  c = sub.add_parser("compress", help="images -> .jcomp files")
  c.add_argument("--model", required=True, help="zoo name, model directory or workdir")
  c.add_argument("images", nargs="+")
  d = sub.add_parser("decompress", help=".jcomp files -> PNG")
  d.add_argument("files", nargs="+")
  d.add_argument("--model", default=None, help="only needed for models not in the zoo")
  for q in (c, d):
    q.add_argument("-o", "--output", default=None)
    q.add_argument("--force", action="store_true", help="overwrite existing outputs")
    q.add_argument("--verbose", "-v", action="store_true")
  sub.add_parser("eval", help="rate-distortion evaluation (see `jcomp eval --help`)")
  sub.add_parser("models", help="list shipped models")
  args = p.parse_args(argv)
  from jcomp.checkpoint import CheckpointError  # pylint: disable=g-import-not-at-top
  from jcomp.coding.bitstream import FormatError  # pylint: disable=g-import-not-at-top
  from jcomp.coding.codec import CodecError  # pylint: disable=g-import-not-at-top
  from jcomp.zoo import ModelNotFound  # pylint: disable=g-import-not-at-top
  try:
    {"compress": compress, "decompress": decompress, "models": models}[args.command](args)
  except (CliError, FormatError, CodecError, ModelNotFound, CheckpointError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
