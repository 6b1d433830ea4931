"""The one data pipeline: image sources by name, deterministic random crops, per-host sharding.

Sources (`config.data.source`):
  'synthetic'            procedural images shipped as code (`synthetic_images`): no data, no network.
  'photos'               natural photographs installed with scikit-image (`photos`): the quickstart's data.
  'synthetic_codes'      binary codes (H, W, layers x bits) of `synthetic_codes`, shape `data.code_shape`.
  'codes:FOLDER'         binary codes, one .npz (key `codes`) per example, split like a folder of images.
  'tfds:NAME'            a registered TFDS dataset read with `tfds.data_source` (e.g. 'tfds:imagenet2012'
                         with `data.manual_dir` holding the ImageNet tars; prepared on first use).
  a folder or a glob     built once into a TFDS dataset by `folder_builder.ImageFolder`, then read the same way.
Splits are TFDS split strings ('train[:900]', 'train[900:]').

Order: the global example k = step * batch_size + j is image perm_e[k mod N] of epoch e = k // N, with
perm_e a permutation seeded by (seed, e); its crop offsets and flip are seeded by (seed, k). A batch is a
pure function of (seed, step), independent of the number of hosts: resuming at step s reproduces the data
order exactly, and each host decodes only its own slice of the global batch. Images smaller than the crop
are padded by reflection (not skipped), so every example of the split is used.
"""

from __future__ import annotations

import concurrent.futures
import glob
import os
import queue
import threading
from typing import Iterator, Sequence

import numpy as np

from jcomp.data import folder_builder, photos, synthetic_codes
from jcomp.data.synthetic_images import SyntheticImages


class DataError(ValueError):
  """A data source that cannot be used (missing, empty, unreadable)."""


class _Decoded(Sequence):
  """Maps a TFDS data source's records to (H, W, 3) uint8 arrays."""

  def __init__(self, records, decode):
    self._records, self._decode = records, decode

  def __len__(self):
    return len(self._records)

  def __getitem__(self, i):
    if not -len(self) <= i < len(self):
      raise IndexError(i)  # (the records raise ValueError, which would make iteration endless)
    image = self._decode(self._records[i % len(self)])
    image = np.asarray(image)
    if image.ndim == 2:
      image = np.repeat(image[..., None], 3, axis=-1)
    return image[..., :3]


def open_source(source: str, split: str, data_dir: str = "", manual_dir: str = "",
                code_shape: tuple[int, int, int, int] | None = None) -> Sequence[np.ndarray]:
  """A random-access sequence of (H, W, 3) uint8 images, or (H, W, D) binary codes for the code sources
  (`code_shape` = (height, width, layers, bits per layer) of 'synthetic_codes'). Raises DataError with a
  one-line reason."""
  if source == "synthetic":
    return SyntheticImages(split.split("[")[0])
  if source == "photos":
    try:
      return photos.Photos(split.split("[")[0])
    except (OSError, ValueError) as e:
      raise DataError(str(e)) from e
  if source == "synthetic_codes":
    if code_shape is None:
      raise DataError("the source 'synthetic_codes' needs data.code_shape = (height, width, layers, bits)")
    return synthetic_codes.SyntheticCodes(split, *code_shape)
  if source.startswith("codes:"):
    return _CodeFolder(source[len("codes:"):], split)
  if source.startswith("tfds:"):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    name = source[len("tfds:"):]
    kwargs = {}
    if manual_dir:
      kwargs["download_and_prepare_kwargs"] = dict(
          download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    try:
      records = tfds.data_source(name, split=split, data_dir=data_dir or None, **kwargs)
    except Exception as e:
      raise DataError(f"cannot open TFDS dataset {name!r} split {split!r}: {e}") from e
    return _Decoded(records, lambda r: r["image"])
  try:
    builder = folder_builder.build(source, data_dir or None)
  except FileNotFoundError as e:
    raise DataError(str(e)) from e
  except Exception as e:  # e.g. TFDS's "No examples were yielded" when no file decodes
    raise DataError(f"cannot build a dataset of the images at {source!r} (none readable?): {e}") from e
  try:
    records = builder.as_data_source(split=split)
  except Exception as e:
    raise DataError(f"bad split {split!r} for {source!r}: {e}") from e
  if len(records) == 0:
    raise DataError(f"split {split!r} of {source!r} is empty")
  return _Decoded(records, folder_builder.decode_record)


class _CodeFolder(Sequence):
  """The .npz codes of a folder (sorted), sliced by a split 'train', 'train[:90%]', 'train[90%:]' or
  'train[A:B]' (examples)."""

  def __init__(self, folder: str, split: str):
    files = sorted(glob.glob(os.path.join(folder, "*.npz")))
    if not files:
      raise DataError(f"no .npz codes in {folder!r}")
    self._files = files[_split_slice(split, len(files))]
    if not self._files:
      raise DataError(f"split {split!r} of {folder!r} is empty")

  def __len__(self):
    return len(self._files)

  def __getitem__(self, i):
    try:
      return synthetic_codes.load_codes(self._files[i])
    except ValueError as e:
      raise DataError(str(e)) from e


def _split_slice(split: str, n: int) -> slice:
  """A TFDS split string of one split named 'train' over n examples ('train', 'train[:90%]', 'train[900:]')
  -> the slice TFDS reads for it (the same rounding as a folder of images)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    info = {"train": tfds.core.SplitInfo(name="train", shard_lengths=[n], num_bytes=0)}
    (absolute,) = tfds.core.ReadInstruction.from_spec(split).to_absolute(info)
  except (ValueError, AssertionError) as e:
    raise DataError(f"bad split {split!r} for a folder of codes (one split, 'train'): {e}") from e
  return slice(absolute.from_, absolute.to)


def crop(image: np.ndarray, size: int, top: int, left: int) -> np.ndarray:
  """(H, W, 3) -> (size, size, 3); reflect-pads images smaller than `size` first."""
  h, w = image.shape[:2]
  ph, pw = max(size - h, 0), max(size - w, 0)
  if ph or pw:
    image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
    h, w = image.shape[:2]
  top, left = top % (h - size + 1), left % (w - size + 1)
  return image[top:top + size, left:left + size]


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
  h, w = image.shape[:2]
  return crop(image, size, max((h - size) // 2, 0), max((w - size) // 2, 0))


class TrainBatches:
  """Deterministic training batches: `batch(step)` -> this host's (B_local, S, S, 3) uint8.

  With `cache`, decoded images are kept in memory (fine for small datasets such as 1,000 ImageNet images).
  Iterating from a step prefetches ahead on background threads.
  """

  def __init__(self, images: Sequence[np.ndarray], batch_size: int, crop_size: int, seed: int,
               process_index: int = 0, process_count: int = 1, cache: bool = True, num_threads: int = 4):
    if len(images) == 0:
      raise DataError("the training split holds no images")
    if batch_size % process_count:
      raise DataError(f"batch_size {batch_size} is not divisible by the {process_count} processes")
    self._images = images
    self._n = len(images)
    self._batch_size, self._crop, self._seed = batch_size, crop_size, seed
    self._local = batch_size // process_count
    self._first = process_index * self._local
    self._cache: dict[int, np.ndarray] | None = {} if cache else None
    self._pool = concurrent.futures.ThreadPoolExecutor(num_threads)
    self._perms: dict[int, np.ndarray] = {}

  def _image(self, i: int) -> np.ndarray:
    if self._cache is None:
      return self._images[i]
    if i not in self._cache:
      self._cache[i] = self._images[i]
    return self._cache[i]

  def _perm(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      self._perms = {epoch: np.random.default_rng([self._seed, epoch]).permutation(self._n)}
    return self._perms[epoch]

  def example(self, k: int) -> np.ndarray:
    """Global example k: a random crop, randomly flipped, (S, S, 3) uint8."""
    image = self._image(int(self._perm(k // self._n)[k % self._n]))
    rng = np.random.default_rng([self._seed, 1, k])
    top, left = rng.integers(0, 1 << 30, 2)
    out = crop(image, self._crop, int(top), int(left))
    if rng.random() < 0.5:
      out = out[:, ::-1]
    return np.ascontiguousarray(out)

  def batch(self, step: int) -> np.ndarray:
    first = step * self._batch_size + self._first
    return np.stack(list(self._pool.map(self.example, range(first, first + self._local))))

  def iterate(self, start_step: int, prefetch: int = 3) -> Iterator[np.ndarray]:
    """Batches for steps start_step, start_step + 1, ..., prefetched on a background thread."""
    q: queue.Queue = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def produce():
      step = start_step
      while not stop.is_set():
        q.put(self.batch(step))
        step += 1

    threading.Thread(target=produce, daemon=True).start()
    try:
      while True:
        yield q.get()
    finally:
      stop.set()


def eval_images(images: Sequence[np.ndarray], count: int, size: int) -> np.ndarray:
  """The first `count` images, center-cropped to (size, size): (N, S, S, 3) uint8."""
  n = min(count, len(images))
  if n == 0:
    raise DataError("the eval split holds no images")
  return np.stack([center_crop(images[i], size) for i in range(n)])
