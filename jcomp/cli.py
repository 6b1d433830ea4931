"""`jcomp <command>` (also `python -m jcomp`): the codec shaped like tfc's `tfci.py`, evaluation and experiments.

  jcomp compress --model=M IMAGE... [-o OUT] [--force] [--verbose]   ->  IMAGE.jcomp next to each image
  jcomp compress --target-bpp=BPP [--strict] [--family=F] IMAGE...    ->  per image, the model of F meeting BPP
  jcomp decompress FILE.jcomp... [-o OUT.png] [--model=M] [--force]  ->  FILE_decoded.png (model from the header)
  jcomp models                                                       ->  the shipped models and their cards
  jcomp export WORKDIR OUT_DIR                                       ->  a model directory (float16 weights)
  jcomp eval --images=SPEC --out=DIR [--codecs=...] [--models=...]   ->  RD evaluation (`jcomp.eval.rd`)
  jcomp curves LOG... --out=PNG                                      ->  training curves of `jcomp.main` logs
  jcomp importance-figure --model=M --image=IMAGE --out=PNG          ->  importance map and latent channels
  jcomp ablation --model=M --images=SPEC [--out=MD]                  ->  Mentzer et al. 2018, Table 1
  jcomp context-comparison [--model=M] [--steps=N] [--out=DIR]       ->  context models on a frozen AE

M is a zoo name (`jcomp models`), a model directory or a training workdir. Outputs are written atomically
and never overwrite an existing file without --force, nor an input even with it. compress and decompress
refuse images over --max-pixels (default `jcomp.limits`) before decoding them. Errors print one line and
exit with status 1. Each command's options: `jcomp <command> --help`. Training is `python -m jcomp.main`
(absl flags, not here).
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import sys
import time
from typing import Sequence

import numpy as np

_SHARED_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")


DEFAULT_FAMILY = "mentzer2018-compact"  # of --target-bpp


class CliError(Exception):
  """Bad input to a command: printed as one line, exit status 1."""


def _read_image(path: str, max_pixels: int | None = None) -> np.ndarray:
  """An image file -> (H, W, 3) uint8 (`jcomp.data.images.read_image`, its size checked against the pixel
  limit before decoding); CliError if it cannot be read or is too large."""
  from jcomp.data.images import read_image  # pylint: disable=g-import-not-at-top
  try:
    return read_image(path, max_pixels)
  except (OSError, ValueError) as e:
    raise CliError(f"cannot read image {path!r}: {e}") from e


def _out_path(src: str, out: str | None, ext: str, many: bool) -> str:
  """The output path for input `src`: `out` itself (one input), or src's name with `ext` in the folder `out`
  (several inputs) or next to src. CliError if that path is src itself (even through a link) or a folder."""
  from jcomp import output_files  # pylint: disable=g-import-not-at-top
  if out and not many:
    path = out
  else:
    base = os.path.splitext(os.path.basename(src))[0] + ext
    path = os.path.join(out if out else os.path.dirname(src) or ".", base)
  try:
    output_files.check_target(path, [src], force=True)
  except output_files.OutputError as e:
    raise CliError(str(e)) from None
  return path


def _write(path: str, data: bytes, force: bool) -> None:
  """Writes an output atomically and durably (`jcomp.output_files`); CliError if it exists (without force),
  is a folder, or the write fails (no space, file size limit, permissions)."""
  from jcomp import output_files  # pylint: disable=g-import-not-at-top
  try:
    output_files.check_target(path, (), force)
    output_files.write_file(path, data)
  except output_files.OutputError as e:
    raise CliError(str(e)) from None


def _limited(codec, max_pixels: int | None):
  """A shallow copy of a (cached, shared) codec that refuses images over `max_pixels` (`jcomp.limits`)."""
  from jcomp import limits  # pylint: disable=g-import-not-at-top
  limits.resolve(max_pixels)  # a bad limit is refused before any work
  codec = copy.copy(codec)
  codec.max_pixels = max_pixels
  return codec


def _find_model_for(data: bytes, model: str | None, max_pixels: int | None = None):
  """The codec for a file: `model`, or the shipped model with the header's id; limited to `max_pixels`. The
  header (size, dims, tiling), the payload count and the counts payload are checked against the model's
  config.json before JAX or the model is loaded, so a hostile file is refused in well under a second."""
  from jcomp import limits, zoo  # pylint: disable=g-import-not-at-top
  from jcomp.coding import bitstream, header_check, mask_counts  # pylint: disable=g-import-not-at-top
  header, payloads = bitstream.unpack(data)
  limits.check_pixels(header.image_height, header.image_width, max_pixels, what="decoded image")
  if not model:
    id_key = "portable_model_id" if header.version == 4 else "model_id"  # format 4 names the integer model too
    model = next((n for n in zoo.names() if zoo.card(n).get(id_key) == header.model_id.hex()), None)
    if model is None:
      raise CliError(f"no shipped model has id {header.model_id.hex()}: pass --model=WORKDIR_OR_NAME")
  _, h, w = header_check.check_header_for_config(header, zoo.config_json(model), max_pixels)
  header_check.check_payload_count(header, len(payloads))
  if payloads[0]:  # the importance map's counts (a model without one refuses the file when it loads)
    mask_counts.decode_counts(payloads[0], header.latent_shape[0], (h, w))
  from jcomp.coding.codec import load_codec  # pylint: disable=g-import-not-at-top
  return _limited(load_codec(model).codec, max_pixels)


def _progress(items: list, args, unit: str):
  """`items` under a progress bar on stderr when there are several, stderr is a terminal and not --quiet."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(items, unit=unit, file=sys.stderr, leave=False,
              disable=len(items) < 2 or args.quiet or not sys.stderr.isatty())


def _say(line: str, args) -> None:
  """A per-file line on stdout (above the progress bar), unless --quiet."""
  if not args.quiet:
    from tqdm import tqdm  # pylint: disable=g-import-not-at-top
    tqdm.write(line)


def compress(args) -> None:
  from jcomp.coding.codec import load_codec  # pylint: disable=g-import-not-at-top
  if args.target_bpp is None and (args.strict or args.family):
    raise CliError("--strict and --family choose among models for --target-bpp: pass --target-bpp")
  if args.target_bpp is None:
    codec = _limited(load_codec(args.model).codec, args.max_pixels)
  elif not args.target_bpp > 0:
    raise CliError(f"--target-bpp must be positive, got {args.target_bpp}")
  else:
    from jcomp import api  # pylint: disable=g-import-not-at-top
    family = api.load_family(args.family or DEFAULT_FAMILY)  # models loaded when first tried
  if args.output and len(args.images) > 1 and not os.path.isdir(args.output):
    raise CliError("-o must be an existing folder when compressing several images")
  for path in _progress(args.images, args, "image"):
    image = _read_image(path, args.max_pixels)
    out = _out_path(path, args.output, ".jcomp", len(args.images) > 1)
    if os.path.exists(out) and not args.force:
      raise CliError(f"{out} exists (use --force to overwrite)")
    t = time.perf_counter()
    if args.target_bpp is None:
      r, chosen = codec.compress(image), ""
    else:
      choice = family.choose(image, args.target_bpp, args.strict)
      r = choice.result
      chosen = (f", {choice.name} for {'<= ' if args.strict else ''}{args.target_bpp} bpp (tried "
                + ", ".join(f"{n.rsplit('-', 1)[1]}: {b:.4f}" for n, b in choice.tried.items()) + ")")
    dt = time.perf_counter() - t
    _write(out, r.data, args.force)
    line = f"{path} -> {out}: {len(r.data)} bytes, {r.bpp_real:.4f} bpp{chosen}"
    if args.verbose:
      line += (f" (estimate {r.bpp_est:.4f} bpp, ideal {r.bits_ideal / image.shape[0] / image.shape[1]:.4f}"
               f" bpp; {dt:.2f} s: " + ", ".join(f"{k} {v:.2f}" for k, v in r.timings.items()) + ")")
    _say(line, args)


def decompress(args) -> None:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if args.output and len(args.files) > 1 and not os.path.isdir(args.output):
    raise CliError("-o must be an existing folder when decompressing several files")
  for path in _progress(args.files, args, "file"):
    try:
      data = open(path, "rb").read()
    except OSError as e:
      raise CliError(f"cannot read {path!r}: {e.strerror}") from e
    out = _out_path(path, args.output, "_decoded.png", len(args.files) > 1)  # never the original photo.png
    if os.path.exists(out) and not args.force:
      raise CliError(f"{out} exists (use --force to overwrite)")
    codec = _find_model_for(data, args.model, args.max_pixels)
    t = time.perf_counter()
    image, timings = codec.decompress_with_timings(data)
    dt = time.perf_counter() - t
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    _write(out, buf.getvalue(), args.force)
    line = f"{path} -> {out}: {image.shape[1]}x{image.shape[0]}"
    if args.verbose:
      line += f" ({dt:.2f} s: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()) + ")"
    _say(line, args)


def models(args) -> None:
  from jcomp import zoo  # pylint: disable=g-import-not-at-top
  names = zoo.names()
  if not names:
    print("no models shipped")
    return
  print(f"{'name':32s} {'trained for':>11s} {'target bpp':>10s} {'size MB':>8s} {'Kodak bpp':>9s} "
        f"{'Kodak PSNR':>10s} {'Kodak MS-SSIM':>13s}")
  for n in names:
    c = zoo.card(n)
    size = os.path.getsize(os.path.join(zoo.ZOO_DIR, n, zoo.WEIGHTS_FILE)) / 1e6
    trained_for = zoo.config_json(n).get("loss", {}).get("distortion", "-")  # the loss's distortion term
    f = lambda k, fmt: format(c[k], fmt) if isinstance(c.get(k), (int, float)) else "-"
    print(f"{n:32s} {trained_for:>11s} {f('target_bpp', '10.2f')} {size:8.2f} {f('kodak_bpp', '9.3f')} "
          f"{f('kodak_psnr', '10.2f')} {f('kodak_ms_ssim', '13.4f')}")


def export(args) -> None:
  from jcomp import zoo  # pylint: disable=g-import-not-at-top
  print(zoo.export(args.workdir, args.out_dir))


def eval_(args) -> None:
  from jcomp.eval import rd  # pylint: disable=g-import-not-at-top
  if args.max_images is not None and args.max_images < 1:
    raise CliError("--max-images must be at least 1.")
  t0 = time.perf_counter()
  rd.run_eval(rd.methods_from_flags(args.codecs, args.models), args.images, args.out, save=args.save,
              max_images=args.max_images, qualities=rd.parse_sweeps(args.sweep), anchors=args.anchors,
              progress=not args.no_progress)
  print(f"[jcomp.eval] done in {time.perf_counter() - t0:.0f} s; see {args.out}/bd_rate.md, summary.json, "
        "rd_*.png.", file=sys.stderr)


def curves(args) -> None:
  from jcomp.experiments import training_curves  # pylint: disable=g-import-not-at-top
  logs = {}
  for path in args.logs:
    try:
      logs[training_curves.log_name(path)] = training_curves.read_log(path)
    except (OSError, ValueError) as e:
      raise CliError(str(e)) from e
  training_curves.plot_curves(logs, args.out)
  print(f"wrote {args.out}")


def importance_figure(args) -> None:
  from jcomp.coding.codec import load_codec  # pylint: disable=g-import-not-at-top
  from jcomp.experiments import importance_figure as figure  # pylint: disable=g-import-not-at-top
  codec = load_codec(args.model).codec
  figure.draw(codec, _read_image(args.image), args.out, image_name=args.image)
  print(args.out)


def ablation(args) -> None:
  from jcomp.checkpoint import write_atomic  # pylint: disable=g-import-not-at-top
  from jcomp.coding.codec import load_codec  # pylint: disable=g-import-not-at-top
  from jcomp.eval import rd  # pylint: disable=g-import-not-at-top
  from jcomp.experiments import ablation as ablation_lib  # pylint: disable=g-import-not-at-top
  codec = load_codec(args.model).codec
  refs = rd.image_refs(args.images, args.max_images)
  if not refs:
    raise CliError(f"no images found for --images={args.images!r}")
  rates = ablation_lib.ablate(codec, (ref.load() for ref in refs))
  md = ablation_lib.to_markdown(rates, f"{args.model} on {args.images} ({len(refs)} images)")
  print(md)
  if args.out:
    write_atomic(args.out, md.encode())


def context_comparison(args) -> None:
  from jcomp.experiments import context_comparison as experiment  # pylint: disable=g-import-not-at-top
  experiment.run(args.model, args.train_images, args.num_train_images, args.crop, args.kodak, args.num_images,
                 args.steps, args.batch_size, args.lr, args.seed, args.out, retrain=args.retrain)


def code(args) -> None:
  """Binary codes (.npz, key `codes`) -> .jcomp with a code model (the progressive system), checked bit-exact."""
  import glob  # pylint: disable=g-import-not-at-top
  from jcomp.coding import code_codec  # pylint: disable=g-import-not-at-top
  from jcomp.data import synthetic_codes  # pylint: disable=g-import-not-at-top
  model = code_codec.CodeCodec.load(args.model)
  files = sorted(glob.glob(os.path.join(args.codes, "*.npz"))) if os.path.isdir(args.codes) else [args.codes]
  if not files:
    raise CliError(f"no .npz files in {args.codes!r}")
  reports = []
  for path in files:
    try:
      codes = synthetic_codes.load_codes(path)
    except (OSError, ValueError) as e:
      raise CliError(f"cannot read codes {path!r}: {e}") from e
    try:
      report, data = model.report(codes)
    except ValueError as e:
      raise CliError(f"{path}: {e}") from e
    reports.append(report)
    raw = report.raw.sum()
    print(f"{path}: {codes.shape} -> {report.file_bytes} bytes | theoretical {report.estimate.sum() / raw:.4f}"
          f" | real {report.payload_bits / raw:.4f} | round trip {'bit-exact' if report.exact else 'MISMATCH'}"
          f" | {report.seconds:.1f} s", flush=True)
    if not report.exact:
      raise CliError(f"{path}: the decoded code differs from the input")
    if args.output:
      _write(_out_path(path, args.output, ".jcomp", len(files) > 1), data, args.force)
  print(code_codec.format_table(reports))


def synthetic_codes_(args) -> None:
  from jcomp.data import synthetic_codes  # pylint: disable=g-import-not-at-top
  try:
    paths = synthetic_codes.write_samples(args.out, args.count, args.seed, args.height, args.width,
                                          args.layer_depth, args.layers)
  except ValueError as e:
    raise CliError(str(e)) from e
  print(f"wrote {len(paths)} samples of shape ({args.height}, {args.width}, {args.layers * args.layer_depth}) "
        f"to {args.out}")


def quantize_context(args) -> None:
  """The integer context model of a trained model (configs/integer_context.py): format-4, portable files."""
  from jcomp import config_lib, quantize_context as quantize  # pylint: disable=g-import-not-at-top
  print(quantize.write(config_lib.from_file(args.config)))


def build_parser() -> argparse.ArgumentParser:
  from jcomp import limits  # pylint: disable=g-import-not-at-top
  from jcomp.eval import anchors, codecs  # pylint: disable=g-import-not-at-top  # light: names for --help
  p = argparse.ArgumentParser(prog="jcomp", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True)
  c = sub.add_parser("compress", help="images -> .jcomp files")
  c.set_defaults(run=compress)
  which = c.add_mutually_exclusive_group(required=True)
  which.add_argument("--model", help="zoo name, model directory or workdir")
  which.add_argument("--target-bpp", type=float, default=None, metavar="BPP",
                     help="per image, the model of --family whose real bpp is nearest BPP (found by compressing "
                     "with a few of them: a binary search); prints the choice")
  c.add_argument("--strict", action="store_true", help="with --target-bpp: the best model at or below BPP")
  c.add_argument("--family", default=None,
                 help=f"with --target-bpp: the shipped models FAMILY-RATE (default {DEFAULT_FAMILY})")
  c.add_argument("images", nargs="+")
  d = sub.add_parser("decompress", help=".jcomp files -> PNG")
  d.set_defaults(run=decompress)
  d.add_argument("files", nargs="+")
  d.add_argument("--model", default=None, help="only needed for models not in the zoo")
  for q in (c, d):
    q.add_argument("-o", "--output", default=None)
    q.add_argument("--force", action="store_true", help="overwrite existing outputs")
    q.add_argument("--verbose", "-v", action="store_true")
    q.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no per-file lines")
    q.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help=f"refuse images of more than N pixels (H x W), before allocating them (default: "
                   f"${limits.ENV_VAR} or {limits.DEFAULT_MAX_PIXELS}; 0: no limit)")
  sub.add_parser("models", help="list shipped models").set_defaults(run=models)

  q = sub.add_parser("export", help="a training workdir's latest checkpoint -> a model directory")
  q.set_defaults(run=export)
  q.add_argument("workdir")
  q.add_argument("out_dir")

  q = sub.add_parser("eval", help="rate-distortion evaluation of codecs and models (resumable)")
  q.set_defaults(run=eval_)
  q.add_argument("--images", required=True, help="folder, glob, image file, or tfds:NAME[:SPLIT]")
  q.add_argument("--out", required=True, help="output folder (resumable)")
  q.add_argument("--codecs", default="all",
                 help=f"comma-separated among {','.join(codecs.CODEC_NAMES)}; 'all' "
                 "(default: every available one) or 'none'")
  q.add_argument("--models", default="", help="comma-separated learned models (zoo names, model:SPEC)")
  q.add_argument("--save", action="store_true", help="write reconstructions as PNG under OUT/recon")
  q.add_argument("--max-images", type=int, default=None, help="use only the first N images")
  q.add_argument("--sweep", action="append", metavar="CODEC=Q1,Q2,...",
                 help="override a codec's quality sweep (repeatable)")
  q.add_argument("--anchors", default="auto",
                 help="published curves to add: 'auto' (by data set), 'none', or names: "
                 f"{','.join(anchors.list_anchors())}")
  q.add_argument("--no-progress", action="store_true", help="no progress bar")

  q = sub.add_parser("code", help="binary codes (.npz) -> .jcomp with a code model (progressive system)")
  q.set_defaults(run=code)
  q.add_argument("--model", required=True, help="workdir of a code model (e.g. configs/progressive_synthetic.py)")
  q.add_argument("codes", help="an .npz (key `codes`, (H, W, D) in {0, 1}) or a folder of them")
  q.add_argument("-o", "--output", default=None, help="write the .jcomp file(s) here (a folder for a folder)")
  q.add_argument("--force", action="store_true", help="overwrite existing outputs")
  q = sub.add_parser("synthetic-codes", help="write held-out synthetic progressive codes (.npz)")
  q.set_defaults(run=synthetic_codes_)
  q.add_argument("--out", required=True, help="output folder (sample_00000.npz, ...)")
  q.add_argument("--count", type=int, default=16, help="samples (sample i uses seed + i)")
  q.add_argument("--seed", type=int, default=0, help="first seed (< 1,000,000: held out from training)")
  q.add_argument("--height", type=int, default=32)
  q.add_argument("--width", type=int, default=32)
  q.add_argument("--layer-depth", type=int, default=4, help="bits per layer, K")
  q.add_argument("--layers", type=int, default=4, help="number of layers, N")
  q = sub.add_parser("quantize-context", help="a model's integer context model (portable format-4 files)")
  q.set_defaults(run=quantize_context)
  q.add_argument("--config", default="configs/integer_context.py",
                 help="e.g. configs/integer_context.py:model=NAME,data=IMAGES (model, calibration, bits, out)")
  q = sub.add_parser("curves", help="training curves (rate, MS-SSIM, PSNR) from jcomp.main console logs")
  q.set_defaults(run=curves)
  q.add_argument("logs", nargs="+", help="console logs of jcomp.main (a model card's train.log, a run's stdout)")
  q.add_argument("--out", required=True, help="output PNG")

  q = sub.add_parser("importance-figure", help="importance map and latent channels of one image")
  q.set_defaults(run=importance_figure)
  q.add_argument("--model", required=True, help="zoo name, exported model directory or training workdir")
  q.add_argument("--image", required=True)
  q.add_argument("--out", required=True, help="output PNG")

  q = sub.add_parser("ablation", help="entropy-model ablation (Mentzer et al. 2018, Table 1)")
  q.set_defaults(run=ablation)
  q.add_argument("--model", required=True)
  q.add_argument("--images", required=True, help="folder, glob, image file, or tfds:NAME[:SPLIT]")
  q.add_argument("--out", default=None, help="also write the table (markdown) here")
  q.add_argument("--max-images", type=int, default=None)

  q = sub.add_parser("context-comparison", help="context models trained on a frozen autoencoder, coded on Kodak")
  q.set_defaults(run=context_comparison)
  q.add_argument("--model", default="mentzer2018-compact-0.30", help="zoo model whose AE is frozen")
  q.add_argument("--train_images", default=os.path.join(_SHARED_DATA, "imagenet-sample-256"))
  q.add_argument("--num_train_images", type=int, default=900)
  q.add_argument("--crop", type=int, default=160)
  q.add_argument("--kodak", default=os.path.join(_SHARED_DATA, "kodak"))
  q.add_argument("--num_images", type=int, default=24, help="Kodak images to code")
  q.add_argument("--steps", type=int, default=300)
  q.add_argument("--batch_size", type=int, default=8)
  q.add_argument("--lr", type=float, default=3e-3)
  q.add_argument("--seed", type=int, default=0)
  q.add_argument("--out", default=os.path.join("runs", "context_comparison"))
  q.add_argument("--retrain", action="store_true", help="delete the models' workdirs and train afresh")
  return p


def _user_errors() -> tuple[type[Exception], ...]:
  """The exceptions that mean bad input (one line, status 1). An exception can only come from a module that is
  loaded, so only loaded modules are asked (a failing `jcomp curves` does not import the codec)."""
  errors = [CliError]
  for module, name in (("jcomp.checkpoint", "CheckpointError"), ("jcomp.coding.bitstream", "FormatError"),
                       ("jcomp.coding.header_check", "CodecError"),  # HeaderError's and the codec's
                       ("jcomp.limits", "LimitError"), ("jcomp.zoo", "ModelNotFound"),
                       ("jcomp.family", "FamilyError"), ("jcomp.eval.rd", "EvalError")):
    if module in sys.modules:
      errors.append(getattr(sys.modules[module], name))
  return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
  """`jcomp <command> ...` (argv without the program name; default sys.argv[1:]) -> the exit status."""
  args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
  try:
    args.run(args)
  except Exception as e:  # pylint: disable=broad-except  # re-raised unless it is bad input
    if not isinstance(e, _user_errors()):
      raise
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0
