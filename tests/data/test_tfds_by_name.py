"""A registered TFDS dataset read by name (`tfds:NAME`), as imagenet2012 would be."""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from jcomp.data import sources
from jcomp.data.synthetic_images import synthetic_image


class JcompTestImages(tfds.core.GeneratorBasedBuilder):
  """Six small images under the 'image' key, registered with TFDS under the name jcomp_test_images."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    # A fixed-shape uint8 tensor: tfds.features.Image and dynamic shapes need TensorFlow to encode.
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({"image": tfds.features.Tensor(shape=(24, 40, 3),
                                                                           dtype=np.uint8)}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(0, 4), "test": self._generate_examples(4, 6)}

  def _generate_examples(self, lo, hi):
    for i in range(lo, hi):
      yield i, {"image": synthetic_image(i, 24, 40)}


def test_registered_tfds_dataset_is_read_by_name(tmp_path):
  data_dir = str(tmp_path / "tfds")
  JcompTestImages(data_dir=data_dir).download_and_prepare(file_format="array_record")
  train = sources.open_source("tfds:jcomp_test_images", "train", data_dir=data_dir)
  test = sources.open_source("tfds:jcomp_test_images", "test", data_dir=data_dir)
  assert (len(train), len(test)) == (4, 2)
  got = sorted(train[i].tobytes() for i in range(4))
  assert got == sorted(synthetic_image(i, 24, 40).tobytes() for i in range(4))
  batches = sources.TrainBatches(train, batch_size=2, crop_size=16, seed=0)
  assert batches.batch(0).shape == (2, 16, 16, 3)
