"""Lossless coding of progressive binary codes with a trained `progressive` model (SPEC §4).

  python -m jcomp.progressive_infer --workdir=W --code=FILE.npz [--out=FILE.jcomp]
  python -m jcomp.progressive_infer --workdir=W --code=DIR      # every DIR/*.npz, totals over them

Input: an .npz with key `codes`, an (H, W, D) array in {0, 1} (a leading axis of 1 is dropped), D = layers x
layer_depth with channel l * layer_depth + k = bit k of layer l: the synthetic codes of
`jcomp.data.synthetic_codes`, or the binary codes of a jcomp model with `config.model.quantizer =
"binarizer"` (Li et al.), whose symbols (h, w, K) in {0, 1} are saved with
`np.savez(path, codes=np.asarray(symbols[0], np.uint8))`; then K must be a multiple of the model's
layer_depth (e.g. K = 32 = 8 layers x 4 bits). Any H, W work (the model is convolutional); the first
`progressive.coded_layer_count` layers are coded (all when 0), at most `layer_count`.

Output, per layer and in total: raw bits; bits per raw bit of a per-layer zeroth-order model (binary
entropy of the layer's frequency of ones, an oracle baseline); the theoretical ratio (the model's
cross-entropy / raw bits); and the real ratio: the bits are coded with `jcomp.coding.coder` (rANS, one
payload per layer, tables `logits_to_freqs` of the 2-way logits [0, logit]) into a `.jcomp` container
(system "progressive", latent_shape (H, W, n * K), extras layer_depth), decoded back and checked bit-exact.
Real ratio = payload bits / raw bits (rANS adds 4-6 bytes per layer over the estimate); the file adds ~70
bytes of container header and CRC.

Coding order: layer after layer; inside a layer by the wavefronts of `progressive.wavefronts` (bits in a
wavefront are independent given the earlier ones), so a layer takes one network call per wavefront
(~130 for 32x32x4). Encoder and decoder call the same jitted function on the same inputs: the code known
so far (+-1, 0 where unknown), so their tables agree bit-exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import sys
import time
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from jcomp import checkpoint, progressive_train
from jcomp.coding import bitstream, coder, probabilities
from jcomp.models import progressive

SYSTEM = "progressive"


@dataclasses.dataclass(frozen=True)
class Model:
  """A trained progressive model and the jitted network call of the coder."""
  config: ml_collections.ConfigDict
  net: progressive.ProgressiveModel
  params: Any
  model_id: bytes
  layer_logits: Callable  # (params, code (1, H, W, N * K) float32, layer (1,) int32) -> (K, H, W) logits


def make_model(config: ml_collections.ConfigDict, params) -> Model:
  """Wraps params of `config`'s progressive model for coding."""
  net = progressive.build(config.progressive)
  fn = jax.jit(lambda p, code, layer: net.apply({"params": p}, code, layer)[0])
  return Model(config, net, params, checkpoint.model_id(config, params), fn)


def load_model(workdir: str) -> Model:
  """The latest checkpoint of a progressive workdir; CheckpointError if there is none."""
  config = checkpoint.load_config(workdir)
  if config.system != SYSTEM:
    raise checkpoint.CheckpointError(f"{workdir!r} holds a {config.system!r} model, not {SYSTEM!r}")
  net = progressive.build(config.progressive)
  mngr = checkpoint.manager(workdir, config.keep_checkpoints)
  if mngr.latest_step() is None:
    raise checkpoint.CheckpointError(f"{workdir!r} holds no checkpoint")
  state = checkpoint.restore(mngr, progressive_train.abstract_state(net, config))
  mngr.close()
  return make_model(config, jax.device_get(state.params))


def coded_part(model: Model, codes: np.ndarray) -> np.ndarray:
  """The layers of codes (H, W, D) that are coded: (H, W, n * K) uint8."""
  return progressive_train.split_layers(np.asarray(codes, np.uint8), model.config)


def estimate_bits(model: Model, codes: np.ndarray) -> np.ndarray:
  """(n,) model cross-entropy of each coded layer, in bits (theoretical code length)."""
  bits = coded_part(model, codes)[None]
  k = model.net.layer_depth
  z = progressive.all_logits(model.net, model.params,
                             progressive.to_model_input(bits, model.net.layer_count, k), bits.shape[-1] // k)
  b = np.asarray(progressive.bits_per_bit(z, bits), np.float64)
  return b.reshape(-1, bits.shape[-1] // k, k).sum(axis=(0, 2))


def _tables(z: np.ndarray) -> np.ndarray:
  """(M,) logits of bit = 1 -> (M, 2) rANS frequency tables of the 2-way logits [0, z]."""
  z = np.asarray(z, np.float32)
  return probabilities.logits_to_freqs(np.stack([np.zeros_like(z), z], axis=-1))


def _code_layer(model: Model, known: np.ndarray, layer: int, on_wavefront) -> None:
  """Walks layer `layer`'s wavefronts: computes each one's tables from `known` (1, H, W, N * K), calls
  on_wavefront(positions (M, 3) of (k, y, x), tables (M, 2)) -> bits (M,), and writes them into `known`."""
  k_depth = model.net.layer_depth
  _, h, w, _ = known.shape
  layer_arr = np.full((1,), layer, np.int32)
  for pos in progressive.wavefronts(model.net, h, w):
    z = np.asarray(model.layer_logits(model.params, known, layer_arr))  # (K, H, W)
    k, y, x = pos[:, 0], pos[:, 1], pos[:, 2]
    bits = on_wavefront(pos, _tables(z[k, y, x]))
    known[0, y, x, layer * k_depth + k] = 2.0 * bits - 1.0


def encode(model: Model, codes: np.ndarray) -> bytes:
  """Codes (H, W, D) in {0, 1} into a `.jcomp` file's bytes (one rANS payload per coded layer)."""
  codes = np.asarray(codes)
  bits = coded_part(model, codes)
  h, w, d = bits.shape
  k_depth, n_max = model.net.layer_depth, model.net.layer_count
  known = np.zeros((1, h, w, n_max * k_depth), np.float32)
  payloads = []
  for layer in range(d // k_depth):
    symbols, tables = [], []

    def take(pos, freqs):
      s = bits[pos[:, 1], pos[:, 2], layer * k_depth + pos[:, 0]].astype(np.int64)
      symbols.append(s)
      tables.append(freqs)
      return s
    _code_layer(model, known, layer, take)
    payloads.append(coder.encode(np.concatenate(symbols), np.concatenate(tables)))
  header = bitstream.Header(model_id=model.model_id, system=SYSTEM, image_height=h, image_width=w,
                            pad_bottom=0, pad_right=0, latent_shape=(h, w, d),
                            extras={"layer_depth": k_depth})
  return bitstream.pack(header, payloads)


def decode(model: Model, data: bytes) -> np.ndarray:
  """The coded layers (H, W, n * K) uint8 of a `.jcomp` file from `encode`.

  Raises bitstream.FormatError (malformed file), ValueError (another model or system), coder.CoderError.
  """
  header, payloads = bitstream.unpack(data)
  if header.system != SYSTEM:
    raise ValueError(f"file is a {header.system!r} stream, not {SYSTEM!r}")
  if header.model_id != model.model_id:
    raise ValueError("file was coded by another model (model_id mismatch)")
  k_depth, n_max = model.net.layer_depth, model.net.layer_count
  if len(header.latent_shape) != 3 or header.extras.get("layer_depth") != k_depth:
    raise ValueError(f"malformed progressive header: {header}")
  h, w, d = header.latent_shape
  layers = d // k_depth
  if d % k_depth or layers > n_max or len(payloads) != layers:
    raise ValueError(f"malformed progressive header: {layers} layers, {len(payloads)} payloads")
  known = np.zeros((1, h, w, n_max * k_depth), np.float32)
  for layer, payload in enumerate(payloads):
    dec = coder.Decoder(payload)
    _code_layer(model, known, layer, lambda pos, freqs, dec=dec: dec.decode(freqs).astype(np.float32))
    dec.finish()
  return (known[0, :, :, :d] > 0).astype(np.uint8)


@dataclasses.dataclass
class Report:
  """Sizes of one code, per coded layer (n,): raw bits, zeroth-order, estimated and real coded bits."""
  raw: np.ndarray
  zeroth: np.ndarray
  estimate: np.ndarray
  real: np.ndarray
  file_bytes: int
  exact: bool
  seconds: float


def run(model: Model, codes: np.ndarray) -> tuple[Report, bytes]:
  """Estimates, encodes, decodes and checks one code (H, W, D); returns its report and the file bytes."""
  t0 = time.time()
  bits = coded_part(model, codes)
  k_depth = model.net.layer_depth
  n = bits.shape[-1] // k_depth
  raw = np.full(n, bits.shape[0] * bits.shape[1] * k_depth, np.float64)
  zeroth = progressive_train.zeroth_order_bits(bits, k_depth) * raw
  data = encode(model, codes)
  exact = bool(np.array_equal(decode(model, data), bits))
  _, payloads = bitstream.unpack(data)
  real = np.array([8.0 * len(p) for p in payloads])
  return Report(raw, zeroth, estimate_bits(model, codes), real, len(data), exact, time.time() - t0), data


def format_table(reports: list[Report]) -> str:
  """Ratios (coded bits / raw bits) per layer and in total, summed over `reports`."""
  tot = {f: np.sum([getattr(r, f) for r in reports], axis=0) for f in ("raw", "zeroth", "estimate", "real")}
  file_bits = 8.0 * sum(r.file_bytes for r in reports)
  lines = ["layer   raw bits   zeroth-order   theoretical   real (payload)"]
  for i in range(len(tot["raw"])):
    lines.append(f"{i:5d} {tot['raw'][i]:10.0f} {tot['zeroth'][i] / tot['raw'][i]:14.4f} "
                 f"{tot['estimate'][i] / tot['raw'][i]:13.4f} {tot['real'][i] / tot['raw'][i]:16.4f}")
  raw = tot["raw"].sum()
  lines.append(f"total {raw:10.0f} {tot['zeroth'].sum() / raw:14.4f} {tot['estimate'].sum() / raw:13.4f} "
               f"{tot['real'].sum() / raw:16.4f}")
  lines.append(f".jcomp files: {file_bits / 8:.0f} bytes = {file_bits / raw:.4f} of raw "
               "(with header and CRC)")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(prog="python -m jcomp.progressive_infer", description=__doc__.split("\n")[0])
  ap.add_argument("--workdir", required=True, help="workdir of a progressive training run")
  ap.add_argument("--code", required=True, help="an .npz (key `codes`) or a folder of them")
  ap.add_argument("--out", default="", help="where to write the .jcomp file (a folder for a folder input)")
  a = ap.parse_args(argv)
  try:
    model = load_model(a.workdir)
    files = sorted(glob.glob(os.path.join(a.code, "*.npz"))) if os.path.isdir(a.code) else [a.code]
    if not files:
      raise ValueError(f"no .npz files in {a.code!r}")
    reports = []
    for f in files:
      codes = progressive_train.load_codes(f)
      report, data = run(model, codes)
      reports.append(report)
      raw = report.raw.sum()
      print(f"{f}: {codes.shape} -> {report.file_bytes} bytes | theoretical {report.estimate.sum() / raw:.4f}"
            f" | real {report.real.sum() / raw:.4f} | round trip "
            f"{'bit-exact' if report.exact else 'MISMATCH'} | {report.seconds:.1f} s", flush=True)
      if a.out:
        path = os.path.join(a.out, os.path.splitext(os.path.basename(f))[0] + ".jcomp") \
            if os.path.isdir(a.code) else a.out
        checkpoint.write_atomic(path, data)
  except (ValueError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(format_table(reports))
  return 0 if all(r.exact for r in reports) else 2


if __name__ == "__main__":
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  sys.exit(main())
