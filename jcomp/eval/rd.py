"""Rate–distortion evaluation: really encode and decode a set of images with classical codecs and
learned models, measure real bpp, MS-SSIM and PSNR per image, and keep the rows (`report.py` turns them into
curves, BD-rates and plots).

    jcomp eval --images=DIR_OR_GLOB_OR_tfds:NAME[:SPLIT] --out=DIR \
        [--codecs=jpeg420,webp,...|none] [--models=mentzer2018-med,model:SPEC,...] [--save] \
        [--max-images=N] [--sweep=webp=10,50,90] [--anchors=auto|none|NAME,...]

The store, in `--out`:
  per_image.csv   one row per (method, setting, image), appended and flushed one at a time; a re-run
                  skips the rows already there (resumable). bpp = 8·bytes / (H·W of the original).
  models.json     the model id behind each learned (method, setting): a re-run with another model under
                  the same name (retrained) is refused instead of keeping the old model's rows.
  recon/<method>/<setting>/<image>.png   with --save.
After each run `report.write_summaries` adds summary.json, bd_rate.md and rd_*.png/.pdf/.svg, computed from all
rows in per_image.csv, earlier runs' included.

Learned models are named `model:SPEC` or by a plain name that is not a codec, and are loaded with
`jcomp.coding.codec.load_codec(SPEC)`; a loaded codec named `<system>-<rate>` (the zoo's convention,
e.g. "mentzer2018-med") becomes method `<system>`, setting `<rate>`, so the models of one system form
one curve.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import pathlib
import re
import sys
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from jcomp import metrics as metrics_lib
from jcomp.data import images as images_lib
from jcomp.data import photos
from jcomp.eval import codecs as codecs_lib
from jcomp.eval import report

CSV_COLUMNS = ("method", "setting", "image", "height", "width", "bpp_real", "bpp_est", "ms_ssim",
               "ms_ssim_db", "psnr", "encode_s", "decode_s")


class EvalError(Exception):
  """A user-facing error: bad arguments, no images, unknown method. One line."""


def _notice(msg: str) -> None:
  print(f"[jcomp.eval] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Images.


@dataclasses.dataclass(frozen=True)
class ImageRef:
  """An image to evaluate: `name` (unique within the set; the `image` column) and a loader."""
  name: str
  load: Callable[[], np.ndarray]


def image_refs(spec: str, max_images: int | None = None) -> list[ImageRef]:
  """The images named by `spec`: a folder (its image files, sorted), a glob, a single file
  (`jcomp.data.images.list_images`), `tfds:NAME[:SPLIT]` (default split "test"), or `photos[:SPLIT]` (the
  photographs installed with scikit-image, `jcomp.data.photos`; default "test"). At most `max_images` (the
  first ones). Files are named by their path below the folder they all share."""
  if spec.startswith("tfds:"):
    return _tfds_images(spec, max_images)
  if spec == "photos" or spec.startswith("photos:"):
    try:
      paths = [pathlib.Path(p) for p in photos.files(spec.partition(":")[2] or "test")[:max_images]]
    except (OSError, ValueError) as e:
      raise EvalError(f"{spec}: {e}") from e
  else:
    paths = [pathlib.Path(p) for p in images_lib.list_images(spec, max_images)]
  root = pathlib.Path(os.path.commonpath([str(p.parent) for p in paths])) if paths else None
  return [ImageRef(str(p.relative_to(root)), (lambda p=p: images_lib.read_image(p))) for p in paths]


def _tfds_images(spec: str, max_images: int | None) -> list[ImageRef]:
  parts = spec.split(":")
  name = parts[1] if len(parts) > 1 else ""
  split = parts[2] if len(parts) > 2 and parts[2] else "test"
  if not name:
    raise EvalError(f"Bad image spec {spec!r}; expected tfds:NAME[:SPLIT].")
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise EvalError(f"{spec}: tensorflow_datasets is not installed ({e}).") from e
  try:
    source = tfds.data_source(name, split=split)
  except Exception as e:  # pylint: disable=broad-except
    raise EvalError(f"{spec}: cannot open the TFDS data source: {str(e).splitlines()[0]}") from e
  n = len(source) if max_images is None else min(len(source), max_images)

  def load(i: int) -> np.ndarray:
    img = np.asarray(source[i]["image"])
    if img.ndim == 2:
      img = img[..., None]
    if img.shape[-1] == 1:
      img = np.repeat(img, 3, axis=-1)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))

  return [ImageRef(f"{name}/{split}/{i:05d}", (lambda i=i: load(i))) for i in range(n)]


# ----------------------------------------------------------------------------------------------
# Methods.


@dataclasses.dataclass
class _Method:
  """One method to run: `method` name, kind, and its points (setting, encode, decode)."""
  method: str
  kind: str  # "classical" | "learned"
  # setting → (encode(img) -> (bytes, bpp_est or None), decode(bytes) -> img)
  points: dict[str, tuple[Callable[[np.ndarray], tuple[bytes, float | None]],
                          Callable[[bytes], np.ndarray]]]
  model_ids: dict[str, str] = dataclasses.field(default_factory=dict)  # learned: setting → model id (hex)


def _classical(codec: codecs_lib.ImageCodec, qualities: Sequence[Any] | None) -> _Method:
  points = {}
  for q in (codec.qualities if qualities is None else qualities):
    points[codec.setting(q)] = ((lambda img, q=q: (codec.encode(img, q), None)), codec.decode)
  return _Method(codec.name, "classical", points)


def split_model_name(name: str) -> tuple[str, str]:
  """"mentzer2018-med" → ("mentzer2018", "med"); a name without "-" → (name, "default")."""
  if "-" in name.strip("-"):
    method, setting = name.rsplit("-", 1)
    return method, setting
  return name, "default"


def _default_codec_loader(spec: str):
  from jcomp.coding.codec import load_codec  # pylint: disable=g-import-not-at-top
  return load_codec(spec)


def _resolve_methods(methods: Sequence[str], codec_loader: Callable[[str], Any] | None,
                     qualities: Mapping[str, Sequence[Any]] | None) -> list[_Method]:
  qualities = qualities or {}
  out: list[_Method] = []
  for spec in methods:
    spec = spec.strip()
    if not spec:
      continue
    if spec.startswith("codec:") or codecs_lib.is_codec_name(spec):
      name = spec.removeprefix("codec:")
      try:
        codec = codecs_lib.get_codec(name)
      except ValueError as e:
        raise EvalError(str(e)) from e
      except codecs_lib.CodecUnavailableError as e:
        _notice(f"skipping {e}")
        continue
      if not any(m.method == codec.name for m in out):
        out.append(_classical(codec, qualities.get(name)))
      continue
    model_spec = spec.removeprefix("model:")
    loader = codec_loader or _default_codec_loader
    try:
      codec = loader(model_spec)
    except ImportError as e:
      raise EvalError(f"Cannot load model {model_spec!r}: the learned codec is unavailable ({e}).") from e
    except Exception as e:  # pylint: disable=broad-except  # one-line message for any loader failure.
      msg = str(e).splitlines()[0] if str(e) else type(e).__name__
      raise EvalError(f"Unknown or unloadable model {model_spec!r}: {msg}") from e
    method, setting = split_model_name(str(codec.name))

    def encode(img: np.ndarray, codec=codec) -> tuple[bytes, float | None]:
      data, info = codec.compress(img)
      est = (info or {}).get("bpp_est")
      return data, (None if est is None else float(est))

    existing = next((m for m in out if m.method == method and m.kind == "learned"), None)
    if existing is None:
      existing = _Method(method, "learned", {})
      out.append(existing)
    existing.points[setting] = (encode, codec.decompress)
    model_id = getattr(codec, "model_id", None)
    if model_id is not None:
      existing.model_ids[setting] = model_id.hex()
  return out


def _check_model_ids(path: pathlib.Path, resolved: Sequence[_Method]) -> None:
  """`path` (models.json) records which model wrote each learned (method, setting)'s rows; a different model
  under the same name (retrained, re-exported) would otherwise be silently skipped as "already present".
  Raises EvalError on a mismatch; records new ids (atomically)."""
  known = json.loads(path.read_text()) if path.exists() else {}
  current = {f"{m.method}/{s}": i for m in resolved for s, i in m.model_ids.items()}
  for key, model_id in current.items():
    if known.get(key, model_id) != model_id:
      raise EvalError(f"{path.parent} holds rows of {key} written by model {known[key]}, but this "
                      f"{key} is model {model_id} (retrained?). Use another --out, or delete its rows from "
                      f"per_image.csv and its entry from {path.name}.")
  if not current.items() <= known.items():
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**known, **current}, indent=2, sort_keys=True))
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# The per-image CSV.


def _open_csv(path: pathlib.Path) -> set[tuple[str, str, str]]:
  """Prepares `path` for appending (header if new, a torn last line removed); returns done keys."""
  if not path.exists() or path.stat().st_size == 0:
    with path.open("w", newline="") as f:
      csv.writer(f).writerow(CSV_COLUMNS)
    return set()
  raw = path.read_bytes()
  if not raw.endswith(b"\n"):  # A run killed mid-row: drop the partial row.
    raw = raw[:raw.rfind(b"\n") + 1]
    path.write_bytes(raw)
  rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
  if not rows or tuple(rows[0]) != CSV_COLUMNS:
    raise EvalError(f"{path} exists with other columns than {','.join(CSV_COLUMNS)}; "
                    "use another --out.")
  return {(r[0], r[1], r[2]) for r in rows[1:] if len(r) == len(CSV_COLUMNS)}


def read_rows(path: str | pathlib.Path) -> list[dict[str, str]]:
  """All complete rows of a per_image.csv, as dicts of strings."""
  with open(path, newline="") as f:
    return [r for r in csv.DictReader(f) if None not in r.values() and len(r) == len(CSV_COLUMNS)]


def _fmt(v: float | None, digits: int) -> str:
  if v is None:
    return ""
  if not math.isfinite(v):
    return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
  return f"{v:.{digits}f}"


# ----------------------------------------------------------------------------------------------
# Metrics: one jitted function, compiled once per image shape.

_metric_fn = None


def _metrics(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
  """(MS-SSIM, PSNR) of uint8 (H, W, 3) images."""
  global _metric_fn
  if _metric_fn is None:
    import jax  # pylint: disable=g-import-not-at-top
    _metric_fn = jax.jit(lambda a, b: (metrics_lib.ms_ssim(a, b), metrics_lib.psnr(a, b)))
  m, p = _metric_fn(x.astype(np.float32), y.astype(np.float32))
  return float(m), float(p)


# ----------------------------------------------------------------------------------------------
# The run.


@dataclasses.dataclass
class EvalResult:
  """What a run did: rows written / already present, unreadable images, failed points, summary."""
  out_dir: pathlib.Path
  rows_written: int
  rows_present: int
  unreadable: list[str]
  failed: list[str]
  summary: dict[str, Any]


def run_eval(methods: Sequence[str], images: str, out_dir: str | os.PathLike, save: bool = False,
             max_images: int | None = None, codec_loader: Callable[[str], Any] | None = None,
             qualities: Mapping[str, Sequence[Any]] | None = None, anchors: str = "auto",
             progress: bool = True) -> EvalResult:
  """Evaluates `methods` on `images`, appending to `out_dir/per_image.csv`, then writes the report.

  Args:
    methods: codec names (see `codecs.CODEC_NAMES`; unavailable ones are skipped with a notice) and
      learned models (`model:SPEC` or a plain non-codec name).
    images: a folder, a glob, an image file, or `tfds:NAME[:SPLIT]`.
    out_dir: output folder (created).
    save: also write reconstructions as PNG under out_dir/recon/<method>/<setting>/.
    max_images: use only the first N images.
    codec_loader: SPEC → learned codec (`.name`, `.compress(img) -> (bytes, {"bpp_est": ...})`,
      `.decompress(bytes) -> img`, optionally `.model_id` bytes: rows of another model under the same
      name are then refused, see `models.json`); default `jcomp.coding.codec.load_codec`.
    qualities: codec name → settings to sweep instead of the codec's default sweep.
    anchors: "auto" (published curves of the data set, detected from the image names), "none", or
      comma-separated anchor names (`anchors.list_anchors()`).
    progress: show a tqdm bar.
  Returns:
    An EvalResult.
  Raises:
    EvalError: no images, no usable method, an unknown codec, model or anchor (before any row is written).
  """
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top

  refs = image_refs(images, max_images)
  if not refs:
    raise EvalError(f"No images found for --images={images!r}.")
  try:
    anchor_list = report.select_anchors(anchors, images, [r.name for r in refs])
  except ValueError as e:
    raise EvalError(str(e)) from e
  resolved = _resolve_methods(methods, codec_loader, qualities)
  if not resolved:
    raise EvalError("No method to evaluate (no available codec and no model).")
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  csv_path = out_dir / "per_image.csv"
  _check_model_ids(out_dir / "models.json", resolved)
  done = _open_csv(csv_path)

  pending: dict[str, list[tuple[_Method, str]]] = {}
  present = 0
  for ref in refs:
    for m in resolved:
      for setting in m.points:
        if (m.method, setting, ref.name) in done:
          present += 1
        else:
          pending.setdefault(ref.name, []).append((m, setting))
  total = sum(len(v) for v in pending.values())
  if present:
    _notice(f"{present} rows already in {csv_path.name}; {total} to go.")

  written, unreadable, failed = 0, [], []
  bar = tqdm(total=total, unit="pt", disable=not progress, dynamic_ncols=True)
  with csv_path.open("a", newline="") as f:
    writer = csv.writer(f)
    for ref in refs:
      todo = pending.get(ref.name)
      if not todo:
        continue
      bar.set_postfix_str(ref.name, refresh=False)
      try:
        img = ref.load()
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] != 3:
          raise ValueError(f"expected uint8 (H, W, 3), got {img.dtype} {img.shape}")
      except Exception as e:  # pylint: disable=broad-except  # any unreadable file is skipped.
        unreadable.append(ref.name)
        bar.write(f"[jcomp.eval] cannot read {ref.name}: {str(e).splitlines()[0] if str(e) else e!r}")
        bar.update(len(todo))
        continue
      h, w = img.shape[:2]
      for m, setting in todo:
        encode, decode = m.points[setting]
        try:
          t0 = time.perf_counter()
          data, bpp_est = encode(img)
          t1 = time.perf_counter()
          rec = np.asarray(decode(data))
          t2 = time.perf_counter()
          if rec.shape != img.shape:
            raise ValueError(f"decoded shape {rec.shape} != {img.shape}")
          ms, ps = _metrics(img, rec.astype(np.uint8))
        except Exception as e:  # pylint: disable=broad-except  # report, keep going.
          failed.append(f"{m.method}/{setting}/{ref.name}")
          bar.write(f"[jcomp.eval] {m.method} {setting} failed on {ref.name}: "
                    f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
          bar.update(1)
          continue
        bpp = 8.0 * len(data) / (h * w)
        writer.writerow([m.method, setting, ref.name, h, w, _fmt(bpp, 6), _fmt(bpp_est, 6),
                         _fmt(ms, 6), _fmt(float(metrics_lib.ms_ssim_db(ms)), 4), _fmt(ps, 4),
                         _fmt(t1 - t0, 4), _fmt(t2 - t1, 4)])
        f.flush()
        written += 1
        if save:
          _save_recon(out_dir, m.method, setting, ref.name, rec)
        bar.update(1)
  bar.close()

  summary = report.write_summaries(out_dir, read_rows(csv_path), images, anchor_list)
  result = EvalResult(out_dir, written, present, unreadable, failed, summary)
  msg = f"{written} rows written ({present} already present) to {csv_path}."
  if unreadable:
    shown = ", ".join(unreadable[:5]) + (" ..." if len(unreadable) > 5 else "")
    msg += f" {len(unreadable)} unreadable image(s) skipped: {shown}."
  if failed:
    msg += f" {len(failed)} point(s) failed."
  _notice(msg)
  return result


def _safe(part: str) -> str:
  return re.sub(r"[^A-Za-z0-9._=+-]", "_", part) or "_"


def _save_recon(out_dir: pathlib.Path, method: str, setting: str, image: str,
                rec: np.ndarray) -> None:
  rel = pathlib.PurePosixPath(image)
  path = out_dir / "recon" / _safe(method) / _safe(setting)
  path = path.joinpath(*[_safe(p) for p in rel.parent.parts if p not in ("..", ".")])
  path.mkdir(parents=True, exist_ok=True)
  Image.fromarray(rec.astype(np.uint8), mode="RGB").save(path / f"{_safe(rel.stem)}.png")


# ----------------------------------------------------------------------------------------------
# Command-line values.


def methods_from_flags(codecs: str, models: str) -> list[str]:
  """`jcomp eval`'s --codecs ("all": every available codec, "none", or names) and --models (comma-separated)
  -> the `methods` of `run_eval`. Raises EvalError on an unknown codec name."""
  codec_arg = codecs.strip().lower()
  if codec_arg == "all":
    codec_names = [c.name for c in codecs_lib.available_codecs()]
  elif codec_arg in ("none", ""):
    codec_names = []
  else:
    codec_names = [c.strip() for c in codecs.split(",") if c.strip()]
    unknown = [c for c in codec_names if not codecs_lib.is_codec_name(c)]
    if unknown:
      raise EvalError(f"Unknown codec(s) {', '.join(map(repr, unknown))}; choices: "
                      f"{', '.join(codecs_lib.CODEC_NAMES)}.")
  names = [m.strip() for m in models.split(",") if m.strip()]
  return codec_names + [m if m.startswith("model:") or not codecs_lib.is_codec_name(m) else f"model:{m}"
                        for m in names]


def parse_sweeps(items: Sequence[str] | None) -> dict[str, list[float]]:
  """["webp=10,50,90", ...] (`--sweep`) -> {"webp": [10, 50, 90]}: `qualities` of `run_eval`."""
  out = {}
  for item in items or ():
    name, sep, values = item.partition("=")
    try:
      if not sep:
        raise ValueError
      out[name.strip()] = [_number(v) for v in values.split(",") if v.strip()]
    except ValueError as e:
      raise EvalError(f"Bad --sweep {item!r}; expected NAME=Q1,Q2,...") from e
  return out


def _number(v: str) -> float | int:
  f = float(v)
  return int(f) if f.is_integer() and "." not in v else f


def report_trained_model(workdir: str, images: str, codecs: str, step: int) -> list[str]:
  """After training (`config.report`): codes `images` with the workdir's model into real files, beside the
  classical `codecs`, into WORKDIR/rd/step_STEP/ (plots, bd_rate.md); returns the lines to print: the model's
  held-out point (real bpp, PSNR, MS-SSIM) and each codec's quality at that bpp."""
  out = os.path.join(workdir, "rd", f"step_{step}")
  result = run_eval(methods_from_flags(codecs, f"model:{workdir}"), images, out, anchors="none", progress=False)
  lines = [f"rate-distortion on {images} ({result.summary['n_images']} images, real files), in {out}/:"]
  num = lambda entry, key: math.nan if entry.get(key) is None else entry[key]  # summary.json: NaN -> null
  for row in result.summary["operating_points"]:
    psnr, ssim_db = row.get("psnr", {}), row.get("ms_ssim_db", {})
    line = (f"  {row['method']}: {row['bpp']:.3f} bpp, PSNR {num(psnr, 'value'):.2f} dB, "
            f"MS-SSIM {1 - 10 ** (-num(ssim_db, 'value') / 10):.4f}")
    ref_psnr, ref_db = num(psnr, "reference_at_bpp"), num(ssim_db, "reference_at_bpp")
    if math.isfinite(ref_psnr):
      line += (f"; {row['reference']} at that rate: PSNR {ref_psnr:.2f} dB, MS-SSIM "
               f"{1 - 10 ** (-ref_db / 10):.4f}")
    else:
      line += f"; outside {row['reference']}'s rates"
    lines.append(line)
  lines.append(f"  plots: {out}/rd_psnr.png, {out}/rd_ms_ssim.png")
  return lines
