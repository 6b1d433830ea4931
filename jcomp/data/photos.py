"""Natural photographs that ship inside scikit-image's wheel (`skimage/data/`): the quickstart's data.

Real photographs with nothing to download: scikit-image (a jcomp dependency) installs them as package files.
They are read here straight from the installed package folder (skimage itself is never imported).
'train' holds 7 colour photographs and 8 grayscale ones (as gray RGB: they teach luminance structure), 'test'
two colour photographs of scenes absent from 'train' (a cat, a cup of coffee): what the quickstart reports its
rate-distortion point on. The images are 300 to 1,411 pixels a side.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Sequence

import numpy as np

from jcomp.data import images

SPLITS = {
    "train": ("astronaut.png", "hubble_deep_field.jpg", "ihc.png", "motorcycle_left.png", "motorcycle_right.png",
              "retina.jpg", "rocket.jpg", "camera.png", "brick.png", "grass.png", "gravel.png", "moon.png",
              "coins.png", "cell.png", "clock_motion.png"),
    "test": ("chelsea.png", "coffee.png"),
}


def folder() -> str:
  """scikit-image's data folder, found without importing skimage. OSError if it is not installed."""
  spec = importlib.util.find_spec("skimage")
  if spec is None or not spec.submodule_search_locations:
    raise OSError("the 'photos' data needs scikit-image (pip install scikit-image): its wheel holds the photos")
  return os.path.join(list(spec.submodule_search_locations)[0], "data")


def files(split: str) -> list[str]:
  """The paths of a split's photographs ('train' or 'test')."""
  if split not in SPLITS:
    raise ValueError(f"the photos have splits {sorted(SPLITS)}, not {split!r}")
  return [os.path.join(folder(), name) for name in SPLITS[split]]


@functools.lru_cache(maxsize=None)
def _read(path: str) -> np.ndarray:
  with open(path, "rb") as f:  # the one image reader, silent: the grayscale photos are meant as gray RGB
    return images.decode_image(f.read())


class Photos(Sequence):
  """The photographs of a split as a random-access sequence of (H, W, 3) uint8 arrays (read once, kept)."""

  def __init__(self, split: str):
    self._files = files(split)

  def __len__(self) -> int:
    return len(self._files)

  def __getitem__(self, i: int) -> np.ndarray:
    return _read(self._files[i])
