"""A trained model as a real codec: uint8 image -> `.jcomp` bytes -> the same uint8 reconstruction.

  compress:   image (H, W, 3) uint8 ─pad to x8 (edge)─> E, importance, Q ─> symbols (K, h, w), counts (h, w)
              counts ─zeroth-order table + rANS─> payload 0
              symbols ─per tile: context model's step coder─> integer tables ─rANS, kept only─> payloads 1..n
              ─> .jcomp (header + CRC)
  decompress: .jcomp ─> header (model id, size, tiling checked) ─> counts ─step decode of each tile's kept
              symbols─> symbols ─> centers ─> D ─> crop, uint8

Bounded memory (`jcomp.coding.tiling`): a latent larger than `Codec.tile` (default 128 latents = 1024 px) a
side is coded in tiles of at most that side, each an independent volume with its own payload (payloads 1..n,
raster order; the header's extras {"tile": T} say so), and E and D run on overlapping windows of the same
tiling whose margins cover their receptive field. Peak memory then grows with the tile, not the image
(beyond the image itself and its symbols, a few bytes a pixel): 6000 x 4000 codes in under 3 GiB
(`benchmarks/large_image.py`). A latent of at most `tile` a side (Kodak: 64 x 96) is one volume and one
network pass, exactly as before tiling.

Trimmed code (Li et al. 2018; Mentzer et al. 2018 Sec. 3.4): the importance map keeps the first n(i, j) of the
K channels at each position. The counts n (h, w) in [0, K] are coded first (payload 0, `encode_counts`), then
only the kept symbols, in the order of the context model's decode schedule, with its tables (payload 1, or one
per tile; a tile with no kept symbol is not run through the context model, its payload is the empty stream; any
context model through the contract of `jcomp.models.context`: `encode_symbols` / `decode_symbols`). A
masked-out position carries the known symbol `masked_symbol` (binarizer: 0; centers: Q(0)), exactly what the
training forward pass gives there, so the decoder network and the context model see centers[symbol] at every
position, as in training. Models without an importance map keep all K channels and write an empty payload 0.

Guarantee (format 4, a model with an integer context model: every shipped model): the **symbols** of a file
decode exactly, on any backend (CPU, GPU, TPU), XLA flags (fast math, threads, matmul precision), JAX_ENABLE_X64
and jax/NumPy version, and in the NumPy reference (`jcomp.models.integer.reference_tables`): the tables come
from integer arithmetic only (`jcomp.models.integer`). The pixels are the float decoder network's output on
those symbols: identical on the same backend and software, elsewhere possibly off by one level in a few pixels.
Format 3 (a model without an integer version, e.g. a fresh workdir before `jcomp quantize-context`, or CCN
and progressive models) computes the tables with the float context model: a file then decodes only on the
same backend and software versions as its encoder; elsewhere the CRC and the coder's final-state check report
a corrupt stream rather than returning a wrong image silently.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import time
import warnings

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jcomp import checkpoint, compile_cache, limits, zoo
from jcomp.coding import bitstream, coder, header_check, probabilities, step_coder, tiling
from jcomp.coding.header_check import STRIDE, CodecError
from jcomp.coding.mask_counts import decode_counts, encode_counts
from jcomp.models import integer
from jcomp.models import build_autoencoder, build_context_model, importance_part, masked_symbol, symbol_values

EMPTY_STREAM = coder.encode(np.zeros(0, np.int64), np.zeros((0, 1), np.int64))  # the payload of no symbols
_ANALYSIS_KEYS = ("symbols", "mask", "importance", "values")
_MAX_CODERS = 4  # step coders kept (each holds its shape's schedule and compiled steps)


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
  """Any (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 array -> (H, W, 3), warning on conversion."""
  image = np.asarray(image)
  if image.dtype != np.uint8:
    raise ValueError(f"expected a uint8 image, got {image.dtype}")
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or min(image.shape[:2]) < 1:
    raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")
  if image.shape[-1] == 1:
    warnings.warn("grayscale image converted to RGB")
    image = np.repeat(image, 3, axis=-1)
  elif image.shape[-1] == 4:
    warnings.warn("RGBA image: alpha channel dropped")
    image = image[..., :3]
  return np.ascontiguousarray(image)


def kept_mask(counts: np.ndarray, num_channels: int) -> np.ndarray:
  """Counts (h, w) ints -> mask (K, h, w) bool: channel k is kept at (i, j) iff k < counts[i, j]."""
  return np.arange(num_channels)[:, None, None] < np.asarray(counts)[None]


def counts_from_mask(mask: np.ndarray) -> np.ndarray:
  """A prefix mask (h, w, K) in {0, 1} -> kept-channel counts (h, w) int32; ValueError if some position keeps
  a channel after a dropped one (the trimmed code needs the first n channels kept)."""
  counts = np.round(np.sum(np.asarray(mask, np.float32), axis=-1)).astype(np.int32)  # `kept_counts`, in NumPy
  if not np.array_equal(kept_mask(counts, mask.shape[-1]), np.moveaxis(np.asarray(mask) > 0.5, -1, 0)):
    raise ValueError("importance mask does not keep a prefix of the channels at every position")
  return counts


def _per_step(volume: np.ndarray, schedule: list[np.ndarray]) -> list[np.ndarray]:
  """Volume (K, h, w) -> its values at each step's positions (schedule: (M_s, 3) (d, h, w) per step), in one
  gather."""
  values = volume[tuple(np.concatenate(schedule).T)]
  return np.split(values, np.cumsum([len(p) for p in schedule[:-1]]))


@dataclasses.dataclass
class CodedSymbols:
  """What `encode_symbols` wrote: the payload, the tables and symbols it coded (in coding order), and the
  context model's logits at those positions (for the cross-entropy estimate)."""
  payload: bytes
  freqs: np.ndarray      # (N, L) int32
  symbols: np.ndarray    # (N,) int32
  logits: np.ndarray     # (N, L) float32
  coder_s: float = 0.0   # seconds in the rANS encoder

  def position_bits(self) -> np.ndarray:
    """(N,) cross-entropy of each coded symbol under its logits, bits (float64 softmax)."""
    z = self.logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -log_p[np.arange(len(self.symbols)), self.symbols] / np.log(2)

  def estimate_bits(self) -> float:
    return float(np.sum(self.position_bits()))


def encode_symbols(coder_: step_coder.StepCoder, symbols: np.ndarray, kept: np.ndarray) -> CodedSymbols:
  """Symbols (K, h, w) -> one rANS payload of the kept ones (`kept` (K, h, w) bool), in the step coder's
  order, under the tables it emits (all at once where the coder computes them exactly in one pass:
  `parallel_tables`)."""
  if getattr(coder_, "parallel", False):
    order = tuple(np.concatenate(coder_.schedule).T)
    logits, freqs = coder_.parallel_tables(symbols)
    keep, ordered = kept[order], symbols[order].astype(np.int32)
    freqs, ordered, logits = (freqs, ordered, logits) if keep.all() else (freqs[keep], ordered[keep], logits[keep])
    t = time.perf_counter()
    payload = coder.encode(ordered, freqs)
    return CodedSymbols(payload, freqs, ordered, logits, time.perf_counter() - t)
  tables, ordered, kept_logits = [], [], []
  keeps = _per_step(kept, coder_.schedule)
  step_symbols = _per_step(symbols, coder_.schedule)

  def source(step, logits, freqs):
    keep, sym = keeps[step], step_symbols[step]
    if keep.all():  # no copies
      tables.append(freqs)
      ordered.append(sym)
      kept_logits.append(logits)
    else:
      tables.append(freqs[keep])
      ordered.append(sym[keep])
      kept_logits.append(logits[keep])
    return sym

  coder_.run(source)
  freqs, ordered = np.concatenate(tables), np.concatenate(ordered)
  t = time.perf_counter()
  payload = coder.encode(ordered, freqs)
  return CodedSymbols(payload, freqs, ordered, np.concatenate(kept_logits), time.perf_counter() - t)


def decode_symbols(coder_: step_coder.StepCoder, payload: bytes, kept: np.ndarray,
                   fill_symbol: int = 0) -> tuple[np.ndarray, float]:
  """The inverse of `encode_symbols`: (symbols (K, h, w) int32 with `fill_symbol` where not kept, seconds
  spent in the rANS decoder). Raises CodecError on a corrupt payload."""
  keeps = _per_step(kept, coder_.schedule)
  coder_s = [0.0]

  def source(step, logits, freqs):
    t = time.perf_counter()
    keep = keeps[step]
    if keep.all():
      sym = dec.decode(freqs)
    else:
      sym = np.full(len(keep), fill_symbol, np.int32)
      if keep.any():
        sym[keep] = dec.decode(freqs[keep])
    coder_s[0] += time.perf_counter() - t
    return sym

  try:
    dec = coder.Decoder(payload)
    symbols = coder_.run(source)
    dec.finish()
  except coder.CoderError as e:
    raise CodecError(f"corrupt payload: {e}") from e
  return symbols, coder_s[0]


@dataclasses.dataclass
class CodedTiles:
  """What `encode_tiles` wrote: one payload per tile and totals over the tiles."""
  payloads: list[bytes]
  bits_est: float = 0.0    # cross-entropy of the kept symbols under the step coders' logits, bits
  bits_ideal: float = 0.0  # ideal code length under the quantized tables, bits
  symbols: int = 0         # kept symbols coded
  coder_s: float = 0.0     # seconds in the rANS encoder


def encode_tiles(coder_for, symbols: np.ndarray, kept: np.ndarray,
                 tiles: list[tuple[int, int, int, int]]) -> CodedTiles:
  """Symbols (K, h, w) -> one payload per tile (r0, r1, c0, c1) (`tiling.grid`): `encode_symbols` of the
  tile's volume with the step coder `coder_for(shape)`; a tile that keeps nothing is EMPTY_STREAM, without
  running the context model (the bytes `encode_symbols` would give). Only totals are kept of each tile's
  tables, so the memory is a tile's."""
  out = CodedTiles([])
  for r0, r1, c0, c1 in tiles:
    keep = kept[:, r0:r1, c0:c1]
    if not keep.any():
      out.payloads.append(EMPTY_STREAM)
      continue
    coded = encode_symbols(coder_for(keep.shape), symbols[:, r0:r1, c0:c1], keep)
    out.payloads.append(coded.payload)
    out.bits_est += coded.estimate_bits()
    out.bits_ideal += probabilities.ideal_bits(coded.freqs, coded.symbols)
    out.symbols += len(coded.symbols)
    out.coder_s += coded.coder_s
  return out


def decode_tiles(coder_for, payloads: list[bytes], kept: np.ndarray, tiles: list[tuple[int, int, int, int]],
                 fill_symbol: int = 0) -> tuple[np.ndarray, float]:
  """The inverse of `encode_tiles`: (symbols (K, h, w) int32, seconds in the rANS decoder). CodecError on a
  corrupt payload, or a non-empty one for a tile that keeps nothing."""
  symbols = np.full(kept.shape, fill_symbol, np.int32)
  coder_s = 0.0
  for (r0, r1, c0, c1), payload in zip(tiles, payloads, strict=True):
    keep = kept[:, r0:r1, c0:c1]
    if not keep.any():
      try:
        coder.Decoder(payload).finish()
      except coder.CoderError as e:
        raise CodecError(f"corrupt payload: {e}") from e
      continue
    symbols[:, r0:r1, c0:c1], s = decode_symbols(coder_for(keep.shape), payload, keep, fill_symbol)
    coder_s += s
  return symbols, coder_s


@dataclasses.dataclass
class CompressResult:
  data: bytes
  bpp_real: float        # 8 * len(data) / (H * W), original pixels
  bpp_est: float         # cross-entropy of the parallel pass over the kept symbols, bits / (H * W)
  bits_ideal: float      # ideal code length of the kept symbols under the quantized tables, bits
  timings: dict
  coded_symbols: int = 0  # symbols coded by the context model (the kept ones), of K h w
  mask_bytes: int = 0     # size of payload 0 (the importance map's counts), bytes


class Codec:
  """A loaded model: `compress(image) -> CompressResult`, `decompress(data) -> image`, `reconstruct`."""

  max_pixels: int | None = None  # largest H * W coded or decoded (`jcomp.limits.resolve`: None = default)
  tile: int = tiling.DEFAULT_TILE  # latents a side of a tile (module doc), in [MIN_TILE, MAX_TILE]

  def __init__(self, config: ml_collections.ConfigDict, variables: dict, name: str = "",
               integer_model: integer.IntegerContextModel | None = None):
    """integer_model: the context model's integer version; with it the codec writes format 4 (portable
    tables, `model_id` = `portable_id`), without it format 3 (float tables)."""
    self.config = config
    self.name = name or config.system
    self.variables = variables
    self.float_id = checkpoint.model_id(config, variables)  # the id format-3 files carry
    self.integer_model = integer_model
    self.model_id = self.float_id if integer_model is None else hashlib.sha256(
        self.float_id + integer_model.identity()).digest()[:16]
    self.format_version = 3 if integer_model is None else 4
    self._ae = build_autoencoder(config.model)
    self._ctx = build_context_model(config.model)
    params = variables["params"]
    self._ae_vars = {"params": params["autoencoder"], "batch_stats": variables["batch_stats"]}
    self._ctx_params = params["context"]
    self.centers = np.asarray(symbol_values(config.model, params["autoencoder"]))
    self.masked_symbol = masked_symbol(self.centers)
    self.trimmed = importance_part(config.model).codes_counts  # payload 0 codes the counts; else all K kept
    self._coders: collections.OrderedDict[tuple, step_coder.StepCoder] = collections.OrderedDict()  # LRU
    self.encoder_margin = tiling.encoder_margin(config.model)  # latents of overlap of the analysis windows
    self.decoder_margin = tiling.decoder_margin(config.model)  # latents of overlap of the synthesis windows
    self._encode = jax.jit(lambda v, x: self._ae.apply(v, x, train=False, method="encode"))
    self._decode = jax.jit(lambda v, z: self._ae.apply(v, z, train=False, method="decode"))
    self._logits = jax.jit(lambda p, vol: self._ctx.apply({"params": p}, vol, self.centers[0], self.centers))

  @classmethod
  def load(cls, spec: str) -> "Codec":
    compile_cache.enable()  # compiled programs on disk: a repeated command does not compile again
    config, variables = zoo.load(spec)
    return cls(config, variables, name=spec, integer_model=zoo.load_integer(spec))

  def _coder(self, shape, version: int) -> step_coder.StepCoder:
    key = (version, tuple(int(n) for n in shape))
    if key in self._coders:
      self._coders.move_to_end(key)
    else:
      self._coders[key] = (self._ctx.integer_step_coder(self.integer_model, key[1]) if version == 4 else
                           self._ctx.step_coder(self._ctx_params, self.centers, key[1]))
      while len(self._coders) > _MAX_CODERS:
        self._coders.popitem(last=False)
    return self._coders[key]

  def _tile(self) -> int:
    """The tile setting, checked: ValueError unless an int in [MIN_TILE, MAX_TILE]."""
    t = self.tile
    if isinstance(t, bool) or not isinstance(t, int) or not tiling.MIN_TILE <= t <= tiling.MAX_TILE:
      raise ValueError(f"tile must be an int in [{tiling.MIN_TILE}, {tiling.MAX_TILE}] latents, got {t!r}")
    return t

  def _analysis(self, padded: np.ndarray) -> dict[str, np.ndarray]:
    """E, importance map and Q on a padded (8h, 8w, 3) uint8 image, by windows (module doc): symbols and mask
    (h, w, K), importance (h, w), values (h, w, K). One pass if the latent fits in a tile; only a window at a
    time is float."""
    h, w = padded.shape[0] // STRIDE, padded.shape[1] // STRIDE
    tile, m = self._tile(), self.encoder_margin
    result: dict[str, np.ndarray] = {}
    for a, b, s, e in tiling.windows(h, tile, m):
      for c, d, u, v in tiling.windows(w, tile, m):
        x = padded[STRIDE * s:STRIDE * e, STRIDE * u:STRIDE * v][None].astype(np.float32)
        out = self._encode(self._ae_vars, jax.device_put(x))
        for key in _ANALYSIS_KEYS:
          part = np.asarray(out[key])[0]
          if (s, e, u, v) == (0, h, 0, w):  # one window: the whole latent
            result[key] = part
            continue
          if key not in result:
            result[key] = np.empty((h, w) + part.shape[2:], part.dtype)
          result[key][a:b, c:d] = part[a - s:b - s, c - u:d - u]
    return result

  def analyze(self, image: np.ndarray) -> dict:
    """Encoder outputs for an (H, W, 3) uint8 image: symbols (K, h, w), counts (h, w) (kept channels),
    importance (h, w) (before rounding, in channels), values (h, w, K) (the decoder's input), padding."""
    limits.check_array(image, self.max_pixels)
    image = to_rgb_uint8(image)
    H, W = image.shape[:2]
    pb, pr = (-H) % STRIDE, (-W) % STRIDE
    out = self._analysis(np.pad(image, ((0, pb), (0, pr), (0, 0)), mode="edge"))
    symbols = out["symbols"].transpose(2, 0, 1)
    counts = counts_from_mask(out["mask"])
    if np.any(symbols[~kept_mask(counts, symbols.shape[0])] != self.masked_symbol):
      raise ValueError(f"masked-out latents must carry symbol {self.masked_symbol}")
    return dict(symbols=symbols, counts=counts, importance=out["importance"], values=out["values"],
                pad=(pb, pr), size=(H, W))

  def _reconstruct_symbols(self, symbols: np.ndarray, size, tile: int | None = None) -> np.ndarray:
    """Symbols (K, h, w) -> image (H, W, 3) uint8, by windows of `tile` (None: this codec's setting; one pass
    if the latent fits in a tile). The decoder's input is centers[symbols], which equals the training forward
    pass's `values` everywhere, masked positions included (see `masked_symbol`)."""
    _, h, w = symbols.shape
    H, W = size
    tile = self._tile() if tile is None else tile
    image = np.empty((H, W, 3), np.uint8)
    m = self.decoder_margin
    for a, b, s, e in tiling.windows(h, tile, m):
      for c, d, u, v in tiling.windows(w, tile, m):
        values = self.centers[symbols[:, s:e, u:v]].transpose(1, 2, 0)[None]
        x_hat = np.asarray(self._decode(self._ae_vars, jax.device_put(values)))[0]
        y0, y1, x0, x1 = STRIDE * a, min(STRIDE * b, H), STRIDE * c, min(STRIDE * d, W)
        image[y0:y1, x0:x1] = np.round(x_hat[y0 - STRIDE * s:y1 - STRIDE * s, x0 - STRIDE * u:x1 - STRIDE * u])
    return image

  def reconstruct(self, image: np.ndarray) -> np.ndarray:
    """The model's own reconstruction (H, W, 3) uint8, what `decompress(compress(image))` returns."""
    a = self.analyze(image)
    return self._reconstruct_symbols(a["symbols"], a["size"])

  def estimate_bits(self, symbols: np.ndarray, kept: np.ndarray | None = None) -> float:
    """Cross-entropy of symbols (K, h, w) under the context model's parallel pass, bits, summed over the kept
    positions (`kept` (K, h, w) bool; None: all), i.e. the masked coding cost (eq. 19) in bits."""
    logits = self._logits(self._ctx_params, jnp.asarray(self.centers[symbols])[None])[0]
    logp = jax.nn.log_softmax(logits, -1)
    bits = -np.asarray(jnp.take_along_axis(logp, jnp.asarray(symbols)[..., None], -1))[..., 0] / np.log(2)
    return float(np.sum(bits if kept is None else bits[kept], dtype=np.float64))

  def compress(self, image: np.ndarray) -> CompressResult:
    t0 = time.perf_counter()
    a = self.analyze(image)
    result = self.encode_analysis(a)
    result.timings["analysis_s"] = time.perf_counter() - t0 - sum(result.timings.values())
    return result

  def encode_analysis(self, a: dict) -> CompressResult:
    """`analyze`'s output -> the file (`compress` without the encoder network; analysis_s = 0)."""
    t1 = time.perf_counter()
    symbols, counts = a["symbols"], a["counts"]
    K, h, w = symbols.shape
    tile = self._tile() if tiling.is_tiled(h, w, self._tile()) else None
    # The cross-entropy estimate from the logits the step coders already computed (they equal the parallel
    # pass's up to float rounding): no second context-model pass.
    coded = encode_tiles(lambda shape: self._coder(shape, self.format_version), symbols, kept_mask(counts, K),
                         tiling.grid(h, w, tile))
    t2 = time.perf_counter()
    payloads = [encode_counts(counts) if self.trimmed else b""] + coded.payloads
    t3 = time.perf_counter()
    H, W = a["size"]
    header = bitstream.Header(model_id=self.model_id, system=self.config.system, image_height=H,
                              image_width=W, pad_bottom=a["pad"][0], pad_right=a["pad"][1],
                              latent_shape=(int(K), int(h), int(w)), extras={"tile": tile} if tile else {},
                              version=self.format_version)
    data = bitstream.pack(header, payloads)
    return CompressResult(
        data=data, bpp_real=8 * len(data) / (H * W), bpp_est=coded.bits_est / (H * W), bits_ideal=coded.bits_ideal,
        timings=dict(analysis_s=0.0, context_s=t2 - t1 - coded.coder_s, coder_s=t3 - t2 + coded.coder_s),
        coded_symbols=coded.symbols, mask_bytes=len(payloads[0]))

  def decompress_symbols(self, data: bytes) -> tuple[bitstream.Header, np.ndarray, dict]:
    header, payloads = bitstream.unpack(data)
    if header.version == 4 and self.integer_model is None:
      raise CodecError(f"a format-4 file (integer context model) but {self.name} has no integer context model "
                       "(`jcomp quantize-context` makes one)")
    expected = self.model_id if header.version == 4 else self.float_id
    if header.model_id != expected:
      raise CodecError(f"file (format {header.version}) was written by model {header.model_id.hex()}, not by "
                       f"this model ({self.name}, {expected.hex()})")
    K, h, w = header_check.check_header(  # size, dims and tiling, before anything of image size
        header, system=self.config.system, num_channels=self.config.model.num_channels,
        max_pixels=self.max_pixels)
    tiles = header_check.check_payload_count(header, len(payloads))
    t0 = time.perf_counter()
    if self.trimmed:
      counts = decode_counts(payloads[0], K, (h, w))
    elif payloads[0]:
      raise CodecError("corrupt file: mask counts for a model without importance map")
    else:
      counts = np.full((h, w), K, np.int32)
    symbols, coder_s = decode_tiles(lambda shape: self._coder(shape, header.version), payloads[1:],
                                    kept_mask(counts, K), tiles, self.masked_symbol)
    return header, symbols, dict(context_s=time.perf_counter() - t0 - coder_s, coder_s=coder_s)

  def decompress(self, data: bytes) -> np.ndarray:
    """.jcomp bytes -> (H, W, 3) uint8."""
    return self.decompress_with_timings(data)[0]

  def decompress_with_timings(self, data: bytes) -> tuple[np.ndarray, dict]:
    header, symbols, timings = self.decompress_symbols(data)
    t = time.perf_counter()
    image = self._reconstruct_symbols(symbols, (header.image_height, header.image_width),
                                      header.extras.get("tile"))
    timings["synthesis_s"] = time.perf_counter() - t
    return image, timings


@functools.lru_cache(maxsize=8)
def load_codec(spec: str) -> "LoadedCodec":
  """A zoo name, model directory or workdir -> a codec with the eval module's interface."""
  return LoadedCodec(Codec.load(spec))


class LoadedCodec:
  """Adapter for `jcomp.eval`: `.name`, `.model_id`, `.compress(image) -> (bytes, info)`, `.decompress(bytes)`."""

  def __init__(self, codec: Codec):
    self.codec = codec
    self.name = codec.name
    self.model_id = codec.model_id

  def compress(self, image: np.ndarray) -> tuple[bytes, dict]:
    r = self.codec.compress(image)
    return r.data, {"bpp_est": r.bpp_est, **r.timings}

  def decompress(self, data: bytes) -> np.ndarray:
    return self.codec.decompress(data)
