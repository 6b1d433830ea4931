"""`jcomp eval` end to end with a real (tiny, random-weight) jcomp model: real files, every output written."""

from __future__ import annotations

import csv

import jax
import numpy as np
from PIL import Image

from jcomp import cli, config_lib, systems, zoo
from jcomp.data.synthetic_images import synthetic_image


def test_eval_of_the_tiny_model_on_two_images_writes_all_outputs(tmp_path):
  c = config_lib.base()
  c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 4, 8, 1, 1
  c.model.upsample, c.model.context.features, c.crop_size = "subpixel", 8, 32
  variables = systems.build(c).init(jax.random.PRNGKey(0))
  model = tmp_path / "tiny-m1"
  zoo.save(c, jax.tree_util.tree_map(np.asarray, variables), str(model), dtype="float32")
  images = tmp_path / "images"
  images.mkdir()
  for i in range(2):
    Image.fromarray(synthetic_image(i, 40, 56)).save(images / f"im{i}.png")
  out = tmp_path / "out"
  assert cli.main(["eval", f"--models={model}", "--codecs=jpeg420", "--sweep=jpeg420=30,80",
                   f"--images={images}", f"--out={out}", "--no-progress"]) == 0
  rows = list(csv.DictReader(open(out / "per_image.csv")))
  learned = [r for r in rows if r["setting"] == "m1"]
  assert len(learned) == 2 and len(rows) == 6
  for r in learned:
    assert float(r["bpp_real"]) >= float(r["bpp_est"]) > 0  # real files, header included
    assert 0 <= float(r["ms_ssim"]) <= 1 and np.isfinite(float(r["psnr"]))  # random weights: poor quality
  for name in ("summary.json", "bd_rate.md", "rd_ms_ssim.png", "rd_psnr.png"):
    assert (out / name).stat().st_size > 0
