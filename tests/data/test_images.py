"""jcomp.data.images: the one lister and reader of image files."""

import resource
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from jcomp import limits
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


def _png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
  """A PNG written by hand (Pillow cannot write 16-bit RGB, nor a header that lies about the size)."""
  def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
  ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
  return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _rows(values: np.ndarray) -> bytes:
  """(H, W[, C]) uint16 -> PNG scanlines (filter 0, big-endian samples)."""
  return b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)


GRADIENT = np.arange(0, 65536, 4369, dtype=np.uint16).reshape(4, 4)  # 0 .. 65535 in 16 steps


def test_16_bit_grayscale_is_scaled_to_8_bits_not_clipped_to_white(tmp_path):
  path = tmp_path / "g16.png"
  path.write_bytes(_png(4, 4, 16, 0, _rows(GRADIENT)))
  with pytest.warns(UserWarning, match="16-bit grayscale image scaled to 8 bits"):
    image = images.read_image(path)
  expected = np.round(GRADIENT / 65535 * 255).astype(np.uint8)
  np.testing.assert_array_equal(image, np.repeat(expected[..., None], 3, -1))
  assert image.min() == 0 and image.max() == 255 and len(np.unique(image)) == 16


def test_16_bit_pgm_and_rgb_are_reduced_to_8_bits_with_a_warning(tmp_path):
  (tmp_path / "g16.pgm").write_bytes(b"P5 4 4 65535\n" + GRADIENT.astype(">u2").tobytes())
  with pytest.warns(UserWarning, match="16-bit grayscale"):
    gray = images.read_image(tmp_path / "g16.pgm")
  np.testing.assert_array_equal(gray[..., 0], np.round(GRADIENT / 65535 * 255).astype(np.uint8))
  rgb = np.stack([GRADIENT, GRADIENT[::-1], np.full_like(GRADIENT, 0x8000)], -1)
  (tmp_path / "rgb16.png").write_bytes(_png(4, 4, 16, 2, _rows(rgb.reshape(4, 12))))
  with pytest.warns(UserWarning, match="16-bit samples reduced to 8 bits"):
    image = images.read_image(tmp_path / "rgb16.png")
  np.testing.assert_array_equal(image, (rgb >> 8).astype(np.uint8))  # Pillow keeps the high byte


def test_float_and_32_bit_images_are_refused(tmp_path):
  Image.fromarray(np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)).save(tmp_path / "f.tif")
  with pytest.raises(ValueError, match=r"floating-point image \(mode F\)"):
    images.read_image(tmp_path / "f.tif")
  Image.fromarray(np.full((3, 4), 70000, np.int32)).save(tmp_path / "i32.tif")
  with pytest.raises(ValueError, match="outside"):
    images.read_image(tmp_path / "i32.tif")


@pytest.mark.parametrize("orientation, rotate", [(3, lambda a: a[::-1, ::-1]), (6, lambda a: np.rot90(a, -1)),
                                                 (8, lambda a: np.rot90(a, 1)), (2, lambda a: a[:, ::-1])])
def test_exif_orientation_is_applied(tmp_path, orientation, rotate):
  a = np.random.default_rng(2).integers(0, 256, (3, 5, 3), np.uint8)
  exif = Image.Exif()
  exif[0x0112] = orientation
  Image.fromarray(a).save(tmp_path / "o.png", exif=exif)
  np.testing.assert_array_equal(images.read_image(tmp_path / "o.png"), rotate(a))


def test_palette_transparency_cmyk_and_frames(tmp_path, recwarn):
  p = Image.new("P", (4, 3))
  p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
  p.putpixel((1, 1), 1)
  p.save(tmp_path / "p.png")
  image = images.read_image(tmp_path / "p.png")
  assert not recwarn.list  # a palette is only an encoding of RGB
  assert tuple(image[0, 0]) == (255, 0, 0) and tuple(image[1, 1]) == (0, 0, 255)
  p.save(tmp_path / "pt.png", transparency=1)
  with pytest.warns(UserWarning, match="alpha channel dropped"):
    np.testing.assert_array_equal(images.read_image(tmp_path / "pt.png"), image)  # colour kept, not composited
  Image.new("CMYK", (4, 3), (0, 255, 0, 0)).save(tmp_path / "c.jpg")
  with pytest.warns(UserWarning, match="CMYK image converted to RGB"):
    assert images.read_image(tmp_path / "c.jpg").shape == (3, 4, 3)
  frames = [Image.new("RGB", (4, 3), c) for c in ((255, 0, 0), (0, 255, 0))]
  frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
  with pytest.warns(UserWarning, match="2 frames: only the first is coded"):
    assert tuple(images.read_image(tmp_path / "a.gif")[0, 0]) == (255, 0, 0)


def test_an_opaque_alpha_channel_is_dropped_silently(tmp_path, recwarn):
  Image.new("RGBA", (4, 3), (1, 2, 3, 255)).save(tmp_path / "o.png")
  assert tuple(images.read_image(tmp_path / "o.png")[2, 3]) == (1, 2, 3)
  assert not recwarn.list


def test_the_size_is_checked_from_the_header_before_any_pixel_is_decoded(tmp_path, monkeypatch):
  monkeypatch.delenv(limits.ENV_VAR, raising=False)
  (tmp_path / "bomb.png").write_bytes(_png(9000, 9000, 8, 2, b""))  # 243 MB of pixels declared in 57 bytes
  (tmp_path / "huge.png").write_bytes(_png(100_000, 100_000, 8, 2, b""))  # 30 GB: over Pillow's limit too
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  t = time.perf_counter()
  with pytest.raises(limits.LimitError, match="image of 9000 x 9000 = 81,000,000 pixels exceeds the limit"):
    images.read_image(tmp_path / "bomb.png")
  for max_pixels in (None, 0):  # Pillow refuses first, even with jcomp's limit off
    with pytest.raises(limits.LimitError, match="exceeds limit of .* decompression bomb"):
      images.read_image(tmp_path / "huge.png", max_pixels=max_pixels)
  assert time.perf_counter() - t < 1
  assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100_000  # KB: nothing of image size
  Image.new("RGB", (40, 30)).save(tmp_path / "small.png")
  with pytest.raises(limits.LimitError, match="limit of 1,199"):
    images.read_image(tmp_path / "small.png", max_pixels=1199)
  assert images.read_image(tmp_path / "small.png", max_pixels=1200).shape == (30, 40, 3)
  monkeypatch.setenv(limits.ENV_VAR, "1199")
  with pytest.raises(limits.LimitError):
    images.read_image(tmp_path / "small.png")
  assert images.decode_image((tmp_path / "small.png").read_bytes()).shape == (30, 40, 3)  # no limit by default
