"""Reference decoders shared by the parallel-decoding tests of every context model."""

from __future__ import annotations

from typing import Callable

import numpy as np

from jcomp.coding import coder, probabilities


def parallel_round_trip(scheduled_coder, symbols: np.ndarray) -> np.ndarray:
  """Encodes `symbols` (K, h, w) with a coder's `run` schedule, decodes them with it; returns the decoded."""
  tables, order = [], []

  def enc(step, logits, freqs):
    pos = scheduled_coder.schedule[step]
    tables.append(freqs)
    order.append(pos)
    return symbols[pos[:, 0], pos[:, 1], pos[:, 2]]

  scheduled_coder.run(enc)
  pos = np.concatenate(order)
  dec = coder.Decoder(coder.encode(symbols[pos[:, 0], pos[:, 1], pos[:, 2]], np.concatenate(tables)))
  decoded = scheduled_coder.run(lambda s, logits, freqs: dec.decode(freqs))
  dec.finish()
  return decoded


def serial_round_trip(full_logits: Callable[[np.ndarray], np.ndarray], symbols: np.ndarray) -> np.ndarray:
  """The naive reference: depth-major raster order, one symbol per step, each table from a full parallel
  pass `full_logits(volume (K, h, w)) -> (K, h, w, L)` over the partially decoded volume (masked taps see
  placeholders, so the tables are the encoder's)."""
  order = list(np.ndindex(*symbols.shape))
  full = full_logits(symbols)
  data = coder.encode(np.array([symbols[p] for p in order]),
                      probabilities.logits_to_freqs(np.stack([full[p] for p in order])))
  dec = coder.Decoder(data)
  serial = np.zeros(symbols.shape, np.int32)
  for p in order:
    serial[p] = dec.decode(probabilities.logits_to_freqs(full_logits(serial)[p][None]))[0]
  dec.finish()
  return serial
