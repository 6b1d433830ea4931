"""Procedurally generated RGB images: the embedded default dataset of jcomp.

Why procedural rather than images shipped in the package: nothing to download or license, any number of
images at any size, and deterministic from a seed. The images are built to exercise what a compression
autoencoder must learn from natural images: smooth colour gradients, sharp edges of overlapping shapes,
oriented textures and sensor-like noise. They are not a substitute for real training data.
"""

from __future__ import annotations

import numpy as np


def synthetic_image(seed: int, height: int = 256, width: int = 256) -> np.ndarray:
  """One image (height, width, 3) uint8, a pure function of `seed`."""
  rng = np.random.default_rng([seed, 7919])
  yy, xx = np.meshgrid(np.linspace(0, 1, height, dtype=np.float32),
                       np.linspace(0, 1, width, dtype=np.float32), indexing="ij")
  # Smooth background: a bilinear colour gradient.
  corners = rng.uniform(0, 255, (4, 3)).astype(np.float32)
  img = ((1 - yy)[..., None] * ((1 - xx)[..., None] * corners[0] + xx[..., None] * corners[1])
         + yy[..., None] * ((1 - xx)[..., None] * corners[2] + xx[..., None] * corners[3]))
  # Overlapping shapes with sharp edges, some textured.
  for _ in range(rng.integers(4, 10)):
    color = rng.uniform(0, 255, 3).astype(np.float32)
    cy, cx = rng.uniform(0, 1, 2)
    ry, rx = rng.uniform(0.05, 0.35, 2)
    if rng.random() < 0.5:
      inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    else:
      inside = (np.abs(yy - cy) < ry) & (np.abs(xx - cx) < rx)
    if rng.random() < 0.4:
      freq, angle = rng.uniform(10, 60), rng.uniform(0, np.pi)
      stripes = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) * 2 * np.pi)
      color = color + 40.0 * stripes[..., None]
    img = np.where(inside[..., None], color, img)
  img += rng.normal(0, rng.uniform(0, 6), img.shape).astype(np.float32)
  return np.clip(np.round(img), 0, 255).astype(np.uint8)


class SyntheticImages:
  """A random-access sequence of `num_images` procedural images (split 'train' or 'test')."""

  def __init__(self, split: str, num_images: int | None = None, height: int = 256, width: int = 256):
    base = {"train": 0, "test": 1_000_000}
    if split not in base:
      raise ValueError(f"synthetic data has splits 'train' and 'test', not {split!r}")
    self._offset = base[split]
    self._n = num_images or (256 if split == "train" else 16)
    self._hw = (height, width)

  def __len__(self) -> int:
    return self._n

  def __getitem__(self, i: int) -> np.ndarray:
    if not 0 <= i < self._n:
      raise IndexError(i)
    return synthetic_image(self._offset + i, *self._hw)
