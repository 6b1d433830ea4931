"""Synthetic progressive binary codes: a toy dataset for the `progressive` entropy coder (SPEC §4).

A progressive image encoder emits a binary code of shape (H, W, D) with D = layers x layer_depth: channel
l * layer_depth + k is bit k of layer (iteration) l, and each layer adds detail to the previous ones. This
module makes codes with the two kinds of redundancy such codes have, from a small generative model that is
a pure function of a seed (it is a toy, not a model of any real encoder's statistics):

  for layer l = 0 .. N-1 (N = layers), t = l / max(N - 1, 1) in [0, 1]:
    sigma_l = 2.5 * 0.6**l pixels                     spatial correlation length, shrinking with l
    w_l     = 0.1 + 0.7 t                             share of white (unpredictable) noise, growing with l
    G_l     = S(sigma_l)                              a field shared by the layer's bits
    for bit k = 0 .. K-1 (K = layer_depth):
      F_lk  = sqrt(1 - w_l) * (sqrt(c) G_l + sqrt(1 - c) S(sigma_l)) + sqrt(w_l) * white   (c = 0.5)
      u_lk  = F_lk + g_l * (2 b_(l-1)k - 1)           inter-layer coupling g_l = 0.9 (1 - 0.5 t), l >= 1
      b_lk  = [u_lk > tau_l]                          threshold tau_l = 0.5 (1 - t)

where S(sigma) is white Gaussian noise blurred by a Gaussian of std sigma (reflecting borders) and
normalised to zero mean and unit variance per field. So: bits are spatially correlated (the blur), bits of
a layer are correlated with each other (the shared G_l) and with the same bit of the previous layer (g_l),
early layers are biased towards 0 (tau), and later layers are less predictable (less blur, more white
noise, weaker coupling, no bias), as in real progressive codes where the last iterations code near-random
residuals.

  jcomp synthetic-codes --count=16 --out=DIR [--height=32 --width=32 --layer-depth=4 --layers=4 --seed=0]
                                                # DIR/sample_00000.npz ... (sample i from seed + i)

Each file holds one array, key `codes`, uint8 (H, W, D) in {0, 1}. Training draws samples in memory
(`SyntheticCodes`, the data source 'synthetic_codes') from seeds >= TRAIN_SEED_BASE, so files written with
seeds below it are held out.
"""

from __future__ import annotations

import functools
import os
from typing import Sequence

import numpy as np

TRAIN_SEED_BASE = 1_000_000  # Training seeds start here; seeds below are held-out test samples.


@functools.lru_cache(maxsize=64)
def _blur_matrix(n: int, sigma: float) -> np.ndarray:
  """(n, n) row-stochastic Gaussian blur along one axis with reflecting borders (std `sigma` pixels)."""
  radius = max(1, int(np.ceil(3 * sigma)))
  offsets = np.arange(-radius, radius + 1)
  taps = np.exp(-0.5 * (offsets / sigma) ** 2)
  taps /= taps.sum()
  period = max(2 * (n - 1), 1)
  m = np.zeros((n, n))
  for i in range(n):
    j = (i + offsets) % period
    j = np.where(j > n - 1, period - j, j)  # Reflect without repeating the edge (n = 1 maps to 0).
    np.add.at(m[i], j, taps)
  m.setflags(write=False)
  return m


def _smooth_fields(rng: np.random.Generator, count: int, height: int, width: int,
                   sigma: float) -> np.ndarray:
  """(count, height, width) blurred Gaussian noise fields, each normalised to mean 0 and variance 1."""
  noise = rng.standard_normal((count, height, width))
  fields = _blur_matrix(height, sigma) @ noise @ _blur_matrix(width, sigma).T
  return _normalise(fields)


def _normalise(fields: np.ndarray) -> np.ndarray:
  fields = fields - fields.mean(axis=(1, 2), keepdims=True)
  return fields / np.maximum(fields.std(axis=(1, 2), keepdims=True), 1e-12)


def generate(seed: int, height: int = 32, width: int = 32, layer_depth: int = 4,
             layers: int = 4) -> np.ndarray:
  """One synthetic progressive code, a pure function of its arguments (the model in the module doc).

  Args:
    seed: any non-negative int; seeds >= TRAIN_SEED_BASE are used by training.
    height, width: spatial size H, W of the code (>= 1).
    layer_depth: K, bits per layer (>= 1).
    layers: N, number of layers (>= 1).

  Returns:
    (H, W, N * K) uint8 in {0, 1}; channel l * K + k is bit k of layer l.
  """
  if min(height, width, layer_depth, layers) < 1:
    raise ValueError(f"height, width, layer_depth and layers must be >= 1, got "
                     f"{(height, width, layer_depth, layers)}")
  rng = np.random.default_rng([seed, 0x5EC0DE])
  shared = 0.5
  bits = np.zeros((layers, layer_depth, height, width), np.uint8)
  for l in range(layers):
    t = l / max(layers - 1, 1)
    sigma, white_share = 2.5 * 0.6 ** l, 0.1 + 0.7 * t
    common = _smooth_fields(rng, 1, height, width, sigma)
    own = _smooth_fields(rng, layer_depth, height, width, sigma)
    white = rng.standard_normal((layer_depth, height, width))
    smooth = np.sqrt(shared) * common + np.sqrt(1 - shared) * own
    u = np.sqrt(1 - white_share) * _normalise(smooth) + np.sqrt(white_share) * white
    if l > 0:
      u = u + 0.9 * (1 - 0.5 * t) * (2.0 * bits[l - 1] - 1.0)
    bits[l] = u > 0.5 * (1 - t)
  return np.ascontiguousarray(bits.reshape(layers * layer_depth, height, width).transpose(1, 2, 0))


def generate_batch(seeds, height: int = 32, width: int = 32, layer_depth: int = 4,
                   layers: int = 4) -> np.ndarray:
  """(B, H, W, N * K) uint8: `generate` for each of the B seeds."""
  return np.stack([generate(int(s), height, width, layer_depth, layers) for s in seeds])


class SyntheticCodes(Sequence):
  """A data source of `generate` codes (H, W, N K) uint8: split 'train' draws example i from seed
  TRAIN_SEED_BASE + i (2**20 examples), any other split is the held-out seeds 0, 1, ... (1,000 examples)."""

  def __init__(self, split: str, height: int, width: int, layers: int, layer_depth: int):
    self._train = split.split("[")[0] == "train"
    self._shape = (height, width, layer_depth, layers)

  def __len__(self) -> int:
    return 1 << 20 if self._train else 1000

  def __getitem__(self, i: int) -> np.ndarray:
    if not 0 <= i < len(self):
      raise IndexError(i)
    return generate((TRAIN_SEED_BASE if self._train else 0) + int(i), *self._shape)


def load_codes(path: str) -> np.ndarray:
  """Codes (H, W, D) uint8 in {0, 1} from an .npz (key `codes`; a leading batch axis of 1 is dropped)."""
  with np.load(path) as f:
    if "codes" not in f:
      raise ValueError(f"{path!r} has no array 'codes' (keys: {sorted(f.keys())})")
    codes = np.asarray(f["codes"])
  if codes.ndim == 4 and codes.shape[0] == 1:
    codes = codes[0]
  if codes.ndim != 3:
    raise ValueError(f"{path!r}: codes must have shape (H, W, D), got {codes.shape}")
  if codes.dtype.kind not in "biu" or (codes.size and (codes.min() < 0 or codes.max() > 1)):
    raise ValueError(f"{path!r}: codes must be integers in {{0, 1}}")
  return codes.astype(np.uint8)


def save(path: str, codes: np.ndarray) -> None:
  """Writes codes (H, W, D) in {0, 1} to `path` (.npz, key `codes`, uint8)."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  np.savez_compressed(path, codes=np.asarray(codes, np.uint8))


def write_samples(out: str, count: int, seed: int = 0, height: int = 32, width: int = 32, layer_depth: int = 4,
                  layers: int = 4) -> list[str]:
  """Writes samples seed .. seed + count - 1 as out/sample_00000.npz ...; returns the paths."""
  if count < 1:
    raise ValueError("count must be >= 1")
  paths = [os.path.join(out, f"sample_{i:05d}.npz") for i in range(count)]
  for i, path in enumerate(paths):
    save(path, generate(seed + i, height, width, layer_depth, layers))
  return paths
