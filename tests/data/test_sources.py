"""The data pipeline: batches are a pure function of (seed, step) split over processes; folders via TFDS."""

import numpy as np
import pytest
from PIL import Image

from jcomp.data import sources
from jcomp.data.synthetic_images import SyntheticImages, synthetic_image


def _images(n: int = 7, seed: int = 0) -> list[np.ndarray]:
  """Images of mixed sizes, some smaller than the crop."""
  rng = np.random.default_rng(seed)
  sizes = [(40, 56), (32, 32), (20, 50), (64, 24), (9, 9), (1, 5), (48, 48)]
  return [rng.integers(0, 256, sizes[i % len(sizes)] + (3,), dtype=np.uint8) for i in range(n)]


def test_the_same_seed_and_step_give_the_same_batch():
  images = _images()
  a = sources.TrainBatches(images, 6, 32, seed=3, cache=False)
  b = sources.TrainBatches(images, 6, 32, seed=3)
  for step in (0, 1, 5, 17):
    np.testing.assert_array_equal(a.batch(step), b.batch(step))
  assert not np.array_equal(a.batch(0), a.batch(1))
  c = sources.TrainBatches(images, 6, 32, seed=4)
  assert not np.array_equal(a.batch(0), c.batch(0))


@pytest.mark.parametrize("process_count", [2, 3, 6])
def test_the_processes_slices_form_the_global_batch(process_count):
  images = _images()
  full = sources.TrainBatches(images, 6, 32, seed=1)
  parts = [sources.TrainBatches(images, 6, 32, seed=1, process_index=i, process_count=process_count)
           for i in range(process_count)]
  for step in (0, 4):
    local = [p.batch(step) for p in parts]
    assert all(x.shape == (6 // process_count, 32, 32, 3) for x in local)
    np.testing.assert_array_equal(np.concatenate(local), full.batch(step))


def test_iterating_from_a_step_resumes_the_same_sequence():
  batches = sources.TrainBatches(_images(), 4, 16, seed=2)
  it = batches.iterate(5)
  for step in range(5, 9):
    np.testing.assert_array_equal(next(it), batches.batch(step))
  it.close()


def test_every_image_of_an_epoch_is_used_once():
  images = [np.full((8, 8, 3), i, np.uint8) for i in range(10)]
  batches = sources.TrainBatches(images, 5, 8, seed=0)
  epoch = np.concatenate([batches.batch(0), batches.batch(1)])
  assert sorted(epoch[:, 0, 0, 0].tolist()) == list(range(10))


def test_small_images_are_padded_by_reflection_to_the_crop():
  image = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3)
  out = sources.crop(image, 6, 0, 0)
  assert out.shape == (6, 6, 3)
  np.testing.assert_array_equal(out, np.pad(image, ((0, 3), (0, 2), (0, 0)), mode="reflect"))
  np.testing.assert_array_equal(sources.crop(image[:1, :1], 4, 0, 0), np.broadcast_to(image[0, 0], (4, 4, 3)))
  batch = sources.TrainBatches(_images(), 7, 32, seed=0).batch(0)
  assert batch.shape == (7, 32, 32, 3) and batch.dtype == np.uint8


def test_eval_images_are_center_crops_of_the_first_images():
  images = SyntheticImages("test", num_images=3)
  out = sources.eval_images(images, 5, 64)
  assert out.shape == (3, 64, 64, 3)
  np.testing.assert_array_equal(out[1], images[1][96:160, 96:160])


def test_synthetic_source_is_deterministic_and_splits_differ():
  train, test = sources.open_source("synthetic", "train"), sources.open_source("synthetic", "test")
  np.testing.assert_array_equal(train[3], synthetic_image(3))
  assert not np.array_equal(train[0], test[0])
  assert train[0].shape == (256, 256, 3)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
  """Four PNGs of different sizes, an unreadable '.png' and a non-image file."""
  folder = tmp_path_factory.mktemp("images")
  images = [synthetic_image(i, 24 + 8 * i, 40 - 4 * i) for i in range(4)]
  for i, x in enumerate(images):
    Image.fromarray(x).save(folder / f"img_{i}.png")
  (folder / "img_2_broken.png").write_bytes(b"not a png")
  (folder / "notes.txt").write_text("not an image")
  return folder, images


def test_folder_source_reads_every_readable_image_through_tfds(image_folder, tmp_path):
  folder, images = image_folder
  data = sources.open_source(str(folder), "train", data_dir=str(tmp_path / "tfds"))
  assert len(data) == 4  # the broken file is skipped
  for got, want in zip(data, images):  # sorted path order: img_0, img_1, img_2, img_3
    np.testing.assert_array_equal(got, want)
  head = sources.open_source(str(folder), "train[:3]", data_dir=str(tmp_path / "tfds"))
  tail = sources.open_source(str(folder), "train[3:]", data_dir=str(tmp_path / "tfds"))
  assert len(head) == 3 and len(tail) == 1
  np.testing.assert_array_equal(tail[0], images[3])
  batch = sources.TrainBatches(data, 4, 32, seed=0).batch(0)
  assert batch.shape == (4, 32, 32, 3)


def test_folder_of_unreadable_images_is_a_data_error(tmp_path):
  folder = tmp_path / "broken"
  folder.mkdir()
  (folder / "a.png").write_bytes(b"garbage")
  (folder / "b.jpg").write_bytes(b"")
  with pytest.raises(sources.DataError, match="broken"):
    sources.open_source(str(folder), "train", data_dir=str(tmp_path / "tfds"))


@pytest.mark.parametrize("make", ["missing", "empty", "no_images"])
def test_missing_or_empty_folder_is_a_data_error(tmp_path, make):
  folder = tmp_path / "data"
  if make != "missing":
    folder.mkdir()
  if make == "no_images":
    (folder / "readme.txt").write_text("hello")
  with pytest.raises(sources.DataError, match="no images found"):
    sources.open_source(str(folder), "train", data_dir=str(tmp_path / "tfds"))


def test_the_photos_are_natural_rgb_images_with_a_disjoint_held_out_split():
  from jcomp.data import photos  # pylint: disable=g-import-not-at-top
  from jcomp.eval import rd  # pylint: disable=g-import-not-at-top
  train, test = sources.open_source("photos", "train"), sources.open_source("photos", "test")
  assert (len(train), len(test)) == (15, 2)
  assert not set(photos.files("train")) & set(photos.files("test"))
  for image in [train[0], train[len(train) - 1], *test]:
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 300
    assert image.std() > 20  # a photograph, not a flat field
  assert [r.name for r in rd.image_refs("photos:test")] == ["chelsea.png", "coffee.png"]
  with pytest.raises(sources.DataError, match="splits"):
    sources.open_source("photos", "validation")
