"""The Python API: a model by name or path, images in, bytes out (the README's "Python API").

  codec = jcomp.load("mentzer2018-compact-0.30")     # a zoo name, a model directory or a training workdir
  data = codec.compress(x)                           # x: (H, W, 3) uint8 array or PIL image -> .jcomp bytes
  y = codec.decompress(data)                         # -> (H, W, 3) uint8
  family = jcomp.load_family("mentzer2018-compact")  # the shipped models PREFIX-RATE (`jcomp.family`)
  data = family.compress(x, target_bpp=0.4)          # the model whose real bpp is nearest 0.4 (strict=True: <=)

Loading enables the persistent compilation cache (`jcomp.compile_cache`), so a new process compresses an image
size it has seen before without compiling.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from jcomp import family as family_lib, zoo
from jcomp.coding.codec import CodecError, CompressResult, load_codec


def as_array(image) -> np.ndarray:
  """A PIL image (any mode, converted to RGB) or an array -> an array; `Codec` checks shape and dtype."""
  pil = sys.modules.get("PIL.Image")  # an object can only be a PIL image if PIL is loaded
  if pil is not None and isinstance(image, pil.Image):
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
  return np.asarray(image)


class Model:
  """One trained model as a codec: `compress(image) -> bytes`, `decompress(bytes) -> (H, W, 3) uint8`.
  `codec` is the full `jcomp.coding.codec.Codec` (bpp estimates, timings, `reconstruct`, `analyze`)."""

  def __init__(self, spec: str):
    self.name = spec
    self.codec = load_codec(spec).codec

  def compress(self, image) -> bytes:
    """image: (H, W, 3) uint8 array or PIL image (grayscale/RGBA converted with a warning) -> .jcomp bytes."""
    return self.codec.compress(as_array(image)).data

  def decompress(self, data: bytes) -> np.ndarray:
    """.jcomp bytes of this model -> (H, W, 3) uint8; CodecError for another model's or a corrupt file."""
    return self.codec.decompress(data)

  def __repr__(self) -> str:
    return f"jcomp.Model({self.name!r})"


@dataclasses.dataclass(frozen=True)
class Choice:
  """What `Family.choose` picked for one image."""
  name: str                # the chosen model
  result: CompressResult   # the image compressed with it (`.data`, `.bpp_real`, ...)
  tried: dict              # {model name: real bpp} of every model compressed on the way, by increasing rate

  @property
  def data(self) -> bytes:
    return self.result.data

  @property
  def bpp(self) -> float:
    return self.result.bpp_real


class Family:
  """The shipped models of one family (`jcomp.family`), loaded as needed: per image, the one meeting a bpp
  target."""

  def __init__(self, name: str):
    self.name = name
    self.names = family_lib.members(name, zoo.names())
    self._models: dict[str, Model] = {}

  def model(self, name: str) -> Model:
    if name not in self._models:
      self._models[name] = Model(name)
    return self._models[name]

  def choose(self, image, target_bpp: float, strict: bool = False) -> Choice:
    """The highest-rate model whose real bpp on `image` is <= target_bpp (`strict`; FamilyError if none is),
    else the one nearest target_bpp; a binary search over the family (`family.search`)."""
    if not target_bpp > 0:
      raise family_lib.FamilyError(f"target bpp must be positive, got {target_bpp}")
    x = as_array(image)
    results: dict[int, CompressResult] = {}

    def bpp_at(i: int) -> float:
      results[i] = self.model(self.names[i]).codec.compress(x)
      return results[i].bpp_real

    i = family_lib.search(bpp_at, len(self.names), target_bpp, strict)
    tried = {self.names[j]: results[j].bpp_real for j in sorted(results)}
    if i is None:
      raise family_lib.FamilyError(
          f"no model of {self.name} reaches {target_bpp} bpp on this image (lowest: {self.names[0]} at "
          f"{results[0].bpp_real:.4f} bpp)")
    return Choice(self.names[i], results[i], tried)

  def compress(self, image, target_bpp: float, strict: bool = False) -> bytes:
    """`choose(...)`'s bytes: (H, W, 3) uint8 array or PIL image -> .jcomp bytes."""
    return self.choose(image, target_bpp, strict).data

  def decompress(self, data: bytes) -> np.ndarray:
    """.jcomp bytes of any model of the family -> (H, W, 3) uint8 (loaded models are tried first)."""
    errors = []
    for name in sorted(self.names, key=lambda n: n not in self._models):
      try:
        return self.model(name).decompress(data)
      except CodecError as e:
        errors.append(f"{name}: {e}")
    raise CodecError(f"no model of {self.name} decodes this file ({'; '.join(errors)})")

  def __repr__(self) -> str:
    return f"jcomp.Family({self.name!r}, {len(self.names)} models)"


def load(spec: str) -> Model:
  """A zoo name (`jcomp models`), a model directory or a training workdir -> a `Model`."""
  return Model(spec)


def load_family(name: str) -> Family:
  """A family of shipped models, e.g. 'mentzer2018-compact' (`jcomp.family`) -> a `Family`."""
  return Family(name)
