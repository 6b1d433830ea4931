"""A TFDS builder of jcomp's own for a folder or glob of images, so local images go through the TFDS layer.

The dataset is built once (array_record files, readable by `tfds.data_source` without TensorFlow) into
`<data_dir>/jcomp_image_folder/<config name>/`, where the config name is a hash of the sorted file list, so
a changed folder builds a new version and never overwrites an old one. One split, 'train', holds every
image in sorted path order (`jcomp.data.images.list_images`, subfolders included): slice it for held-out sets
('train[:900]', 'train[900:]'). Images are stored as the files' own encoded bytes (no re-encoding; decoded with
`jcomp.data.images.decode_image`); unreadable files are skipped with a warning at build time.
"""

from __future__ import annotations

import hashlib
import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from jcomp.data import images


class ImageFolder(tfds.core.GeneratorBasedBuilder):
  """Images of a folder/glob as a TFDS dataset with one 'train' split of {'image_bytes', 'height', 'width'}."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.1.0": "Examples in sorted path order (1.0.0 let TFDS shuffle them by key)."}

  def __init__(self, *, files: list[str], **kwargs):
    self._files = files
    digest = hashlib.sha1("\n".join(os.path.abspath(f) for f in files).encode()).hexdigest()[:12]
    super().__init__(config=tfds.core.BuilderConfig(name=f"files_{digest}"), **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            # The file's own encoded bytes (PNG/JPEG/...), decoded with Pillow by `decode_record`:
            # tfds.features.Image would need TensorFlow to encode.
            "image_bytes": tfds.features.Tensor(shape=(None,), dtype=np.uint8),
            "height": tfds.features.Scalar(dtype=np.int32),
            "width": tfds.features.Scalar(dtype=np.int32),
        }),
        description="Local images, built by jcomp.data.folder_builder.",
        disable_shuffling=True)  # keep sorted path order: 'train[900:]' = the last files

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    skipped = 0
    for i, f in enumerate(self._files):
      try:
        data = open(f, "rb").read()
        height, width = images.decode_image(data).shape[:2]
      except Exception as e:  # unreadable image: skip with a warning, keep building.
        logging.warning("skipping unreadable image %s: %s", f, e)
        skipped += 1
        continue
      yield i, {"image_bytes": np.frombuffer(data, np.uint8), "height": height, "width": width}
    if skipped:
      logging.warning("skipped %d unreadable images of %d", skipped, len(self._files))


def decode_record(record: dict) -> np.ndarray:
  """A record of this builder -> (H, W, 3) uint8 RGB."""
  return images.decode_image(np.asarray(record["image_bytes"]).tobytes())


def build(path_or_glob: str, data_dir: str | None = None) -> ImageFolder:
  """Builds (once) and returns the TFDS builder for the images at `path_or_glob`."""
  files = images.list_images(path_or_glob, recursive=True)
  if not files:
    raise FileNotFoundError(f"no images found at {path_or_glob!r} (looked for {', '.join(images.IMAGE_SUFFIXES)})")
  builder = ImageFolder(files=files, data_dir=data_dir or None)
  if not builder.is_prepared():
    builder.download_and_prepare(file_format="array_record")
  return builder
