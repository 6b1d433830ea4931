"""Lossless coding of binary codes (H, W, D) with a context model that reads codes (the `progressive` system).

  jcomp code --model=WORKDIR CODE.npz|DIR [-o OUT]     (jcomp.cli)

A code (H, W, D) in {0, 1}, D = layers x layer_depth, channel l * layer_depth + k = bit k of layer l (the
synthetic codes of `jcomp.data.synthetic_codes`, or the symbols of a binarizer model saved as .npz, key
`codes`). The first `model.context.coded_layer_count` layers are coded (all when 0): as the volume (n K, H, W)
of values -1/+1, through the same contract and symbol coding as images (`codec.encode_symbols`, the model's
step coder and decode schedule), into a `.jcomp` container (system of the config, latent_shape (n K, H, W),
extras layer_depth, one rANS payload). Decoding is checked bit-exact by `report`.
"""

from __future__ import annotations

import dataclasses
import time

import ml_collections
import numpy as np

from jcomp import checkpoint, losses, zoo
from jcomp.coding import bitstream, codec
from jcomp.models import build_context_model
from jcomp.models.progressive import CODE_VALUES


def coded_part(codes: np.ndarray, model_config: ml_collections.ConfigDict) -> np.ndarray:
  """The layers of codes (H, W, D) that are coded: (H, W, n K) uint8. ValueError on a code of wrong depth."""
  c = model_config.context
  codes = np.asarray(codes)
  if codes.ndim != 3 or codes.shape[-1] % c.layer_depth:
    raise ValueError(f"codes must be (H, W, D) with D a multiple of layer_depth = {c.layer_depth}, "
                     f"got {codes.shape}")
  layers = codes.shape[-1] // c.layer_depth
  n = layers if c.coded_layer_count <= 0 else min(c.coded_layer_count, layers)
  if n > c.layer_count:
    raise ValueError(f"the code has {n} layers to code but the model supports layer_count = {c.layer_count}; "
                     f"set model.context.coded_layer_count <= {c.layer_count}")
  return codes[..., :n * c.layer_depth].astype(np.uint8)


@dataclasses.dataclass
class Report:
  """Sizes of one code, per coded layer (n,): raw bits, zeroth-order and estimated bits; the real file."""
  raw: np.ndarray
  zeroth: np.ndarray
  estimate: np.ndarray
  payload_bits: float
  file_bytes: int
  exact: bool
  seconds: float


class CodeCodec:
  """A trained code model: `encode(codes) -> bytes`, `decode(bytes) -> codes`, `report(codes)`."""

  def __init__(self, config: ml_collections.ConfigDict, params: dict):
    self.config = config
    self.model = build_context_model(config.model)
    self.params = params
    self.model_id = checkpoint.model_id(config, params)
    self._k = config.model.context.layer_depth

  @classmethod
  def load(cls, spec: str) -> "CodeCodec":
    """A workdir or model directory (`zoo.load`)."""
    config, variables = zoo.load(spec)
    return cls(config, variables["params"]["context"])

  def _coded_symbols(self, codes: np.ndarray) -> tuple[np.ndarray, codec.CodedSymbols]:
    bits = coded_part(codes, self.config.model)
    volume = np.ascontiguousarray(bits.transpose(2, 0, 1)).astype(np.int32)
    coder = self.model.step_coder(self.params, CODE_VALUES, volume.shape)
    return bits, codec.encode_symbols(coder, volume, np.ones(volume.shape, bool))

  def encode(self, codes: np.ndarray) -> bytes:
    bits, coded = self._coded_symbols(codes)
    return self._pack(bits.shape, coded.payload)

  def _pack(self, shape, payload: bytes) -> bytes:
    h, w, d = shape
    header = bitstream.Header(model_id=self.model_id, system=self.config.system, image_height=h, image_width=w,
                              pad_bottom=0, pad_right=0, latent_shape=(d, h, w), extras={"layer_depth": self._k},
                              version=3)  # float tables: the progressive model has no integer version
    return bitstream.pack(header, [payload])

  def decode(self, data: bytes) -> np.ndarray:
    """The coded layers (H, W, n K) uint8 of a file from `encode`. Raises bitstream.FormatError (malformed)
    or codec.CodecError (another model, a header that does not fit, a corrupt payload)."""
    header, payloads = bitstream.unpack(data)
    if header.version != 3:
      raise codec.CodecError(f"format {header.version} is not a code file (code files are format 3)")
    if header.model_id != self.model_id:
      raise codec.CodecError(f"file was written by model {header.model_id.hex()}, not by this one "
                             f"({self.model_id.hex()})")
    shape = tuple(header.latent_shape)
    if (len(shape) != 3 or header.extras.get("layer_depth") != self._k or len(payloads) != 1
        or shape[1:] != (header.image_height, header.image_width)):
      raise codec.CodecError(f"header does not fit this model (latent shape {shape}, {len(payloads)} payloads)")
    try:
      coder = self.model.step_coder(self.params, CODE_VALUES, shape)
    except ValueError as e:
      raise codec.CodecError(f"header does not fit this model: {e}") from e
    symbols, _ = codec.decode_symbols(coder, payloads[0], np.ones(shape, bool))
    return symbols.transpose(1, 2, 0).astype(np.uint8)

  def report(self, codes: np.ndarray) -> tuple[Report, bytes]:
    """Encodes, decodes and checks one code (H, W, D); its per-layer sizes and the file bytes."""
    t0 = time.time()
    bits, coded = self._coded_symbols(codes)
    data = self._pack(bits.shape, coded.payload)
    exact = bool(np.array_equal(self.decode(data), bits))
    n = bits.shape[-1] // self._k
    raw = np.full(n, bits.shape[0] * bits.shape[1] * self._k, np.float64)
    layer_of = np.repeat(np.arange(n), bits.shape[0] * bits.shape[1] * self._k)  # coding order is layer-major
    estimate = np.bincount(layer_of, coded.position_bits(), minlength=n)
    zeroth = np.asarray(losses.zeroth_order_bits(bits, self._k), np.float64) * raw
    return Report(raw, zeroth, estimate, 8.0 * len(coded.payload), len(data), exact, time.time() - t0), data


def format_table(reports: list[Report]) -> str:
  """Ratios (coded bits / raw bits) per layer and in total, summed over `reports`."""
  tot = {f: np.sum([getattr(r, f) for r in reports], axis=0) for f in ("raw", "zeroth", "estimate")}
  raw = tot["raw"].sum()
  lines = ["layer   raw bits   zeroth-order   theoretical"]
  for i in range(len(tot["raw"])):
    lines.append(f"{i:5d} {tot['raw'][i]:10.0f} {tot['zeroth'][i] / tot['raw'][i]:14.4f} "
                 f"{tot['estimate'][i] / tot['raw'][i]:13.4f}")
  lines.append(f"total {raw:10.0f} {tot['zeroth'].sum() / raw:14.4f} {tot['estimate'].sum() / raw:13.4f}")
  payload = sum(r.payload_bits for r in reports)
  file_bits = 8.0 * sum(r.file_bytes for r in reports)
  lines.append(f"real: payload {payload / raw:.4f} of raw, .jcomp files {file_bits / 8:.0f} bytes = "
               f"{file_bits / raw:.4f} of raw (with header and CRC)")
  return "\n".join(lines)
