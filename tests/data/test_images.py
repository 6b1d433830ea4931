"""jcomp.data.images: the one lister and reader of image files."""

import numpy as np
import pytest
from PIL import Image

from jcomp.data import images

ALL = ("a.JPG", "b.png", "sub/c.png")  # the image files of `folder`, sorted

@pytest.fixture
def folder(tmp_path):
  rng = np.random.default_rng(0)
  for name in ALL:
    (tmp_path / name).parent.mkdir(exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (8, 12, 3), np.uint8)).save(tmp_path / name)
  (tmp_path / "notes.txt").write_text("not an image")
  return tmp_path


def test_a_folder_lists_its_image_files_sorted_and_subfolders_only_when_recursive(folder):
  assert images.list_images(str(folder)) == [str(folder / "a.JPG"), str(folder / "b.png")]
  assert images.list_images(str(folder), recursive=True) == [str(folder / n) for n in ALL]
  assert images.list_images(str(folder), max_images=1) == [str(folder / "a.JPG")]


def test_a_glob_lists_matching_image_files_and_a_file_itself(folder):
  assert images.list_images(str(folder / "**" / "*")) == [str(folder / n) for n in ALL]
  assert images.list_images(str(folder / "notes.txt")) == [str(folder / "notes.txt")]
  assert images.list_images(str(folder / "missing")) == []


def test_read_image_gives_rgb_uint8_and_warns_when_it_converts(tmp_path):
  rgba = np.random.default_rng(1).integers(0, 256, (5, 7, 4), np.uint8)
  Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
  Image.fromarray(rgba[..., 0], "L").save(tmp_path / "gray.png")
  with pytest.warns(UserWarning, match="alpha channel dropped"):
    np.testing.assert_array_equal(images.read_image(tmp_path / "rgba.png"), rgba[..., :3])
  with pytest.warns(UserWarning, match="grayscale"):
    gray = images.read_image(tmp_path / "gray.png")
  assert gray.shape == (5, 7, 3) and gray.dtype == np.uint8
  np.testing.assert_array_equal(gray, np.repeat(rgba[..., :1], 3, axis=-1))
  np.testing.assert_array_equal(images.decode_image((tmp_path / "rgba.png").read_bytes()), rgba[..., :3])
  with pytest.raises(OSError):
    images.read_image(tmp_path / "missing.png")
