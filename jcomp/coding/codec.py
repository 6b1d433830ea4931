"""A trained model as a real codec: uint8 image -> `.jcomp` bytes -> the same uint8 reconstruction.

  compress:   image (H, W, 3) uint8 ─pad to x8 (edge)─> E, importance, Q ─> symbols (K, h, w)
              ─wavefront context model─> integer tables ─rANS─> payload ─> .jcomp (header + CRC)
  decompress: .jcomp ─> header (model id checked) ─wavefront decode─> symbols ─> centers ─> D ─> crop, uint8

Guarantee: a file decodes to exactly `reconstruct(image)` (pixel for pixel) on the same backend and software
versions as the encoder (e.g. CPU to CPU with the same jax/jaxlib), in another process or on another machine
of the same kind: both sides compute the tables through the same jitted wavefront step
(`jcomp.coding.schedule`) and one deterministic float64 -> integer quantization. Across backends (GPU
encoder, CPU decoder) the logits may differ in the last bit and decoding is not guaranteed; the CRC and the
coder's final-state check then report a corrupt stream rather than returning a wrong image silently.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jcomp import checkpoint, zoo
from jcomp.coding import bitstream, coder, probabilities
from jcomp.coding.schedule import WavefrontCoder
from jcomp.coding.subblock import SubblockCoder
from jcomp.models import build_autoencoder, build_context_model
from jcomp.models.quantizer import quantizer_centers

STRIDE = 8


class CodecError(ValueError):
  """A file that cannot be decoded by this model (wrong model, corrupt payload)."""


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


@dataclasses.dataclass
class CompressResult:
  data: bytes
  bpp_real: float        # 8 * len(data) / (H * W), original pixels
  bpp_est: float         # cross-entropy of the parallel pass, bits / (H * W)
  bits_ideal: float      # ideal code length of the quantized tables, bits
  timings: dict


class Codec:
  """A loaded model: `compress(image) -> CompressResult`, `decompress(data) -> image`, `reconstruct`."""

  def __init__(self, config: ml_collections.ConfigDict, variables: dict, name: str = ""):
    self.config = config
    self.name = name or config.system
    self.variables = variables
    self.model_id = checkpoint.model_id(config, variables)
    self._ae = build_autoencoder(config.model)
    self._ctx = build_context_model(config.model)
    params = variables["params"]
    self._ae_vars = {"params": params["autoencoder"], "batch_stats": variables["batch_stats"]}
    self._ctx_params = params["context"]
    self.centers = np.asarray(quantizer_centers(params["autoencoder"].get("quant"), config.model.quantizer))
    self._wavefront: dict[tuple, WavefrontCoder | SubblockCoder] = {}
    self._encode = jax.jit(lambda v, x: self._ae.apply(v, x, train=False, method="encode"))
    self._decode = jax.jit(lambda v, z: self._ae.apply(v, z, train=False, method="decode"))
    self._logits = jax.jit(lambda p, vol: self._ctx.apply({"params": p}, vol, self.centers[0]))

  @classmethod
  def load(cls, spec: str) -> "Codec":
    config, variables = zoo.load(spec)
    return cls(config, variables, name=spec)

  def _coder(self, shape) -> WavefrontCoder | SubblockCoder:
    if shape not in self._wavefront:
      c = self.config.model.context
      if c.name == "ccn":
        self._wavefront[shape] = SubblockCoder(self._ctx_params, self.centers, shape, c.get("spatial_codes", 1))
      else:
        self._wavefront[shape] = WavefrontCoder(self._ctx_params, self.centers, shape, tuple(c.kernel_size))
    return self._wavefront[shape]

  def analyze(self, image: np.ndarray) -> dict:
    """Encoder outputs for an (H, W, 3) uint8 image: symbols (K, h, w), importance (h, w), padding."""
    image = to_rgb_uint8(image)
    H, W = image.shape[:2]
    pb, pr = (-H) % STRIDE, (-W) % STRIDE
    x = np.pad(image, ((0, pb), (0, pr), (0, 0)), mode="edge")[None].astype(np.float32)
    out = self._encode(self._ae_vars, jnp.asarray(x))
    symbols = np.asarray(out["symbols"][0]).transpose(2, 0, 1)
    return dict(symbols=symbols, importance=np.asarray(out["importance"][0]),
                values=np.asarray(out["values"][0]), pad=(pb, pr), size=(H, W))

  def _reconstruct_symbols(self, symbols: np.ndarray, size, pad) -> np.ndarray:
    values = self.centers[symbols].transpose(1, 2, 0)[None]
    x_hat = np.asarray(self._decode(self._ae_vars, jnp.asarray(values)))[0]
    H, W = size
    return np.round(x_hat[:H, :W]).astype(np.uint8)

  def reconstruct(self, image: np.ndarray) -> np.ndarray:
    """The model's own reconstruction (H, W, 3) uint8, what `decompress(compress(image))` returns."""
    a = self.analyze(image)
    return self._reconstruct_symbols(a["symbols"], a["size"], a["pad"])

  def estimate_bits(self, symbols: np.ndarray) -> float:
    """Cross-entropy of symbols (K, h, w) under the context model's parallel pass, bits."""
    logits = self._logits(self._ctx_params, jnp.asarray(self.centers[symbols])[None])[0]
    logp = jax.nn.log_softmax(logits, -1)
    return float(-jnp.sum(jnp.take_along_axis(logp, jnp.asarray(symbols)[..., None], -1)) / np.log(2))

  def compress(self, image: np.ndarray) -> CompressResult:
    t0 = time.perf_counter()
    a = self.analyze(image)
    t1 = time.perf_counter()
    symbols = a["symbols"]
    tables, ordered = [], []

    def source(step, logits, freqs):
      pos = wf.schedule[step]
      tables.append(freqs)
      sym = symbols[pos[:, 0], pos[:, 1], pos[:, 2]]
      ordered.append(sym)
      return sym

    wf = self._coder(symbols.shape)
    wf.run(source)
    t2 = time.perf_counter()
    freqs, ordered = np.concatenate(tables), np.concatenate(ordered)
    payload = coder.encode(ordered, freqs)
    t3 = time.perf_counter()
    H, W = a["size"]
    header = bitstream.Header(model_id=self.model_id, system=self.config.system, image_height=H,
                              image_width=W, pad_bottom=a["pad"][0], pad_right=a["pad"][1],
                              latent_shape=tuple(int(s) for s in symbols.shape))
    data = bitstream.pack(header, [payload])
    bits_est = self.estimate_bits(symbols)
    return CompressResult(
        data=data, bpp_real=8 * len(data) / (H * W), bpp_est=bits_est / (H * W),
        bits_ideal=probabilities.ideal_bits(freqs, ordered),
        timings=dict(analysis_s=t1 - t0, context_s=t2 - t1, coder_s=t3 - t2))

  def decompress_symbols(self, data: bytes) -> tuple[bitstream.Header, np.ndarray, dict]:
    header, payloads = bitstream.unpack(data)
    if header.model_id != self.model_id:
      raise CodecError(f"file was written by model {header.model_id.hex()}, not by this model "
                       f"({self.name}, {self.model_id.hex()})")
    shape = tuple(header.latent_shape)
    K, h, w = (shape + (0, 0, 0))[:3]
    if (len(shape) != 3 or K != self.config.model.num_channels or len(payloads) != 1
        or (h * STRIDE, w * STRIDE) != (header.image_height + header.pad_bottom,
                                        header.image_width + header.pad_right)):
      raise CodecError(f"header does not fit this model (latent shape {shape})")
    t0 = time.perf_counter()
    dec = coder.Decoder(payloads[0])
    coder_s = [0.0]

    def source(step, logits, freqs):
      t = time.perf_counter()
      sym = dec.decode(freqs)
      coder_s[0] += time.perf_counter() - t
      return sym

    try:
      symbols = self._coder(shape).run(source)
      dec.finish()
    except coder.CoderError as e:
      raise CodecError(f"corrupt payload: {e}") from e
    return header, symbols, dict(context_s=time.perf_counter() - t0 - coder_s[0], coder_s=coder_s[0])

  def decompress(self, data: bytes) -> np.ndarray:
    """.jcomp bytes -> (H, W, 3) uint8."""
    return self.decompress_with_timings(data)[0]

  def decompress_with_timings(self, data: bytes) -> tuple[np.ndarray, dict]:
    header, symbols, timings = self.decompress_symbols(data)
    t = time.perf_counter()
    image = self._reconstruct_symbols(symbols, (header.image_height, header.image_width),
                                      (header.pad_bottom, header.pad_right))
    timings["synthesis_s"] = time.perf_counter() - t
    return image, timings


@functools.lru_cache(maxsize=8)
def load_codec(spec: str) -> "LoadedCodec":
  """A zoo name, model directory or workdir -> a codec with the eval module's interface."""
  return LoadedCodec(Codec.load(spec))


class LoadedCodec:
  """Adapter for `jcomp.eval`: `.name`, `.compress(image) -> (bytes, info)`, `.decompress(bytes)`."""

  def __init__(self, codec: Codec):
    self.codec = codec
    self.name = codec.name

  def compress(self, image: np.ndarray) -> tuple[bytes, dict]:
    r = self.codec.compress(image)
    return r.data, {"bpp_est": r.bpp_est, **r.timings}

  def decompress(self, data: bytes) -> np.ndarray:
    return self.codec.decompress(data)
