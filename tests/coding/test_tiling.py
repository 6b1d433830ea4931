"""Tiled coding (`jcomp.coding.tiling`): the tile grids and windows, margins that cover the networks' receptive
fields, and tiled files that decode bit-exactly to the encoder's reconstruction, with no seam."""
# pylint: disable=protected-access

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jcomp.coding import bitstream, codec as codec_lib, tiling
from jcomp.coding.codec import Codec
from jcomp.data.synthetic_images import synthetic_image
from tests.coding.conftest import tiny_codec_config
from tests.conftest import random_variables


@pytest.mark.parametrize("n, tile", [(1, 32), (32, 32), (33, 32), (64, 32), (96, 32), (750, 128), (500, 128),
                                     (129, 128), (1000, 37)])
def test_split_covers_the_axis_in_near_equal_runs(n, tile):
  runs = tiling.split(n, tile)
  assert len(runs) == -(-n // tile)
  assert runs[0][0] == 0 and runs[-1][1] == n and all(b == c for (_, b), (c, _) in zip(runs, runs[1:]))
  sizes = [b - a for a, b in runs]
  assert max(sizes) <= tile and max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_grid_is_raster_order_and_a_latent_within_the_tile_is_one_volume():
  assert tiling.grid(64, 96, tiling.DEFAULT_TILE) == [(0, 64, 0, 96)]  # Kodak: untiled
  assert tiling.grid(64, 96, None) == [(0, 64, 0, 96)]
  assert tiling.grid(64, 96, 32) == [(r, r + 32, c, c + 32) for r in (0, 32) for c in (0, 32, 64)]
  tiles = tiling.grid(500, 750, 128)  # 6000 x 4000: one tile shape, 125 x 125
  assert len(tiles) == 24 and {(r1 - r0, c1 - c0) for r0, r1, c0, c1 in tiles} == {(125, 125)}


@pytest.mark.parametrize("n, tile, margin", [(34, 32, 4), (100, 32, 7), (750, 128, 7), (33, 32, 40), (20, 32, 5)])
def test_windows_have_one_length_and_hold_their_run_with_its_margin(n, tile, margin):
  wins = tiling.windows(n, tile, margin)
  assert [(a, b) for a, b, _, _ in wins] == (tiling.split(n, tile) if n > tile else [(0, n)])
  assert len({e - s for _, _, s, e in wins}) == 1
  for a, b, s, e in wins:
    assert 0 <= s <= max(a - margin, 0) and min(b + margin, n) <= e <= n


def _perturbation_reach(config, seed: int = 0) -> tuple[int, int]:
  """The measured reach of the tiny-width networks of `config`, in latents: (how far one pixel's change moves
  the analysis' latents, how far one latent's change moves the synthesis' pixels), from the block's edges."""
  variables = random_variables(config, seed)
  variables["batch_stats"] = jax.tree_util.tree_map_with_path(  # noise on a variance can make it negative
      lambda path, v: np.abs(v) + 1 if path[-1].key == "var" else v, variables["batch_stats"])
  codec = Codec(config, variables)
  rng = np.random.default_rng(seed)
  n, at = 40, 20
  x = rng.integers(0, 256, (1, 8 * n, 8 * n, 3)).astype(np.float32)
  reach = []
  for pixel in (8 * at, 8 * at + 7):  # a block's first and last pixel
    x2 = x.copy()
    x2[0, pixel, pixel] = 255 - x2[0, pixel, pixel]
    a, b = (codec._encode(codec._ae_vars, jnp.asarray(v)) for v in (x, x2))
    moved = np.abs(np.asarray(a["latents"] - b["latents"]))[0].max(-1) + np.abs(np.asarray(
        a["importance"] - b["importance"]))[0]
    rows = np.flatnonzero(moved.max(axis=1) > 0)
    reach.append(max(at - rows.min(), rows.max() - at))
  values = codec.centers[rng.integers(0, len(codec.centers), (1, n, n, config.model.num_channels))]
  v2 = values.copy()
  v2[0, at, at] += 2.0
  a, b = (np.asarray(codec._decode(codec._ae_vars, jnp.asarray(v))[0]) for v in (values, v2))
  rows = np.flatnonzero(np.abs(a - b).max(axis=(1, 2)) > 0)
  return max(reach), max(-(-(8 * at - rows.min()) // 8), -(-(rows.max() - 8 * at - 7) // 8))


@pytest.mark.parametrize("blocks, units, upsample", [(1, 1, "subpixel"), (2, 2, "transpose"), (2, 2, "subpixel"),
                                                     (5, 3, "transpose")])
def test_the_margins_cover_the_measured_receptive_fields(blocks, units, upsample):
  """The tests' tiny model, the shipped compact models' geometry (and sub-pixel), the paper's; at 8 features."""
  config = tiny_codec_config()
  config.model.num_blocks, config.model.units_per_block, config.model.upsample = blocks, units, upsample
  encoder_reach, decoder_reach = _perturbation_reach(config)
  assert encoder_reach <= tiling.encoder_margin(config.model), encoder_reach
  assert decoder_reach <= tiling.decoder_margin(config.model), decoder_reach
  assert encoder_reach >= tiling.encoder_margin(config.model) - 2  # not wastefully large
  assert decoder_reach >= tiling.decoder_margin(config.model) - 2


@pytest.fixture(scope="module")
def portable_codec() -> Codec:
  """The tiny random model with an integer context model: it writes format 4."""
  config = tiny_codec_config()
  variables = random_variables(config, 0)
  float_codec = Codec(config, variables)
  calibration = [float_codec.analyze(synthetic_image(s, 64, 64))["symbols"] for s in range(2)]
  im = float_codec._ctx.integer_model(float_codec._ctx_params, float_codec.centers, calibration)
  return Codec(config, variables, integer_model=im)


def _with_tile(codec: Codec, tile: int) -> Codec:
  c = copy.copy(codec)
  c.tile = tile
  return c


@pytest.fixture(scope="module")
def image() -> np.ndarray:
  return synthetic_image(5, 270, 259)  # latent 34 x 33: 2 x 2 tiles of 32, padding on both sides


def test_a_tiled_file_decodes_exactly_to_the_reconstruction_without_seams(portable_codec, image):
  tiled = _with_tile(portable_codec, 32)
  result = tiled.compress(image)
  header, payloads = bitstream.unpack(result.data)
  assert header.version == 4 and header.extras == {"tile": 32} and len(payloads) == 1 + 4
  decoded = tiled.decompress(result.data)
  np.testing.assert_array_equal(decoded, tiled.reconstruct(image))
  _, symbols, _ = tiled.decompress_symbols(result.data)
  untiled = portable_codec.analyze(image)  # one window: the windows' margins cover the receptive field
  np.testing.assert_array_equal(symbols, untiled["symbols"])
  whole = portable_codec._reconstruct_symbols(untiled["symbols"], untiled["size"])
  assert np.abs(decoded.astype(int) - whole).max() <= 1  # no seam: float rounding at most
  # The context restarts at tile borders: a little more rate than one volume.
  assert result.bits_ideal > portable_codec.compress(image).bits_ideal


def test_the_decoder_reads_the_tile_from_the_file_not_its_setting(portable_codec, image):
  data = _with_tile(portable_codec, 32).compress(image).data
  for tile in (tiling.DEFAULT_TILE, 33):
    np.testing.assert_array_equal(_with_tile(portable_codec, tile).decompress(data),
                                  _with_tile(portable_codec, 32).reconstruct(image))


def test_a_latent_within_the_tile_is_written_untiled_as_before(portable_codec):
  small = synthetic_image(7, 48, 64)
  header, payloads = bitstream.unpack(portable_codec.compress(small).data)
  assert header.extras == {} and len(payloads) == 2


def test_a_tile_with_nothing_kept_is_the_empty_stream_the_coder_would_write(portable_codec):
  K = portable_codec.config.model.num_channels
  kept = np.zeros((K, 3, 5), bool)
  symbols = np.zeros((K, 3, 5), np.int32)
  coder_ = portable_codec._coder(kept.shape, 4)
  assert codec_lib.encode_symbols(coder_, symbols, kept).payload == codec_lib.EMPTY_STREAM
  assert codec_lib.encode_tiles(lambda s: pytest.fail("ran the context model"), symbols, kept,
                                [(0, 3, 0, 5)]).payloads == [codec_lib.EMPTY_STREAM]
  with pytest.raises(codec_lib.CodecError, match="corrupt payload"):
    codec_lib.decode_tiles(None, [codec_lib.EMPTY_STREAM + b"\x00"], kept, [(0, 3, 0, 5)])


@pytest.mark.parametrize("tile", [tiling.MIN_TILE - 1, tiling.MAX_TILE + 1, 64.0, True])
def test_a_tile_setting_out_of_range_is_refused_in_one_line(portable_codec, tile):
  with pytest.raises(ValueError, match=r"^tile must be an int in \[32, 256\] latents, got") as e:
    _with_tile(portable_codec, tile).compress(synthetic_image(1, 16, 16))
  assert "\n" not in str(e.value)
