"""A trained model's integer context model (post-training quantization, `jcomp.models.integer`): one command.

  jcomp quantize-context --config=configs/integer_context.py:model=NAME_OR_DIR[,data=IMAGES]

Calibration: the symbol volumes (K, h, w) the codec's encoder gives for `num_images` center crops of the
training split (masked positions carry their known symbol, as coded). The integer model is written as
`integer_context.npz` in the model's directory (or `out`), and its card.json (if any) gets the id format-4
files carry (`portable_model_id`), so `jcomp decompress` finds the model by it.
"""

from __future__ import annotations

import json
import os

import ml_collections
import numpy as np

from jcomp import checkpoint, config_lib, zoo
from jcomp.coding import codec as codec_lib
from jcomp.data import sources
from jcomp.models import build_context_model, integer


def calibration_volumes(codec: codec_lib.Codec, images: np.ndarray) -> list[np.ndarray]:
  """Images (N, H, W, 3) uint8 -> the N symbol volumes (K, h, w) int32 the codec would code."""
  return [codec.analyze(image)["symbols"] for image in images]


def quantize(config: ml_collections.ConfigDict) -> tuple[integer.IntegerContextModel, codec_lib.Codec]:
  """(the integer context model, a codec with it) of `config.model`, calibrated as the module doc says."""
  float_codec = codec_lib.Codec(*zoo.load(config.model), name=config.model)
  data = config_lib.set_data(config_lib.base(), config.data).data
  images = sources.eval_images(sources.open_source(data.source, data.train_split), config.num_images,
                               config.crop_size)
  volumes = calibration_volumes(float_codec, images)
  ctx = build_context_model(float_codec.config.model)
  model = ctx.integer_model(float_codec.variables["params"]["context"], float_codec.centers, volumes,
                            weight_bits=config.weight_bits, activation_bits=config.activation_bits,
                            logit_bits=config.logit_bits)
  return model, codec_lib.Codec(float_codec.config, float_codec.variables, config.model, model)


def write(config: ml_collections.ConfigDict) -> str:
  """Quantizes and writes `integer_context.npz` (and the card's portable id); returns the file's path."""
  model, codec = quantize(config)
  out = config.out or zoo.resolve(config.model)
  path = os.path.join(out, zoo.INTEGER_FILE)
  checkpoint.write_atomic(path, model.to_bytes())
  card_path = os.path.join(out, "card.json")
  if os.path.exists(card_path):
    with open(card_path) as f:
      card = json.load(f)
    card["portable_model_id"] = codec.model_id.hex()
    checkpoint.write_atomic(card_path, (json.dumps(card, indent=2) + "\n").encode())
  return path
