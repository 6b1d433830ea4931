"""Entropy-model ablation as Mentzer et al. 2018, Table 1, for a given autoencoder.

Rates (bpp over the original pixels) of the same symbol volumes under four models, each estimated (ideal
code length, bits) and really coded with the shared rANS coder:

  uniform        log2 L bits per symbol
  zeroth order   one histogram of the L symbols
  first order    a conditional histogram P(s_i | s_{i-1}), previous symbol in raster order (d, h, w)
  context model  the model's own 3D masked context model (the real `.jcomp` file, header included)

The histograms are fitted on the evaluated images themselves (add-one smoothing) and treated as known to the
decoder, which favours them slightly (the paper fits them on training data).

  jcomp ablation --model=NAME --images=DIR [--out=ablation.md] [--max-images=N]
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from jcomp.coding import coder, probabilities


def _tables(counts: np.ndarray) -> np.ndarray:
  return probabilities.pmf_to_freqs((counts + 1.0) / (counts + 1.0).sum(-1, keepdims=True))


def rates(symbol_volumes: list[np.ndarray], num_symbols: int, pixels: list[int],
          context_bits: list[tuple[float, float]]) -> dict[str, tuple[float, float]]:
  """Per method (mean estimated bpp, mean real bpp) over images.

  Args:
    symbol_volumes: per image (K, h, w) int symbols.
    num_symbols: L.
    pixels: per image H * W (original pixels).
    context_bits: per image (estimated bits, real file bits) of the context model.
  """
  L = num_symbols
  flat = [v.ravel() for v in symbol_volumes]
  zeroth = _tables(np.bincount(np.concatenate(flat), minlength=L).astype(np.float64))
  first_counts = np.zeros((L, L))
  for s in flat:
    np.add.at(first_counts, (s[:-1], s[1:]), 1)
  first = _tables(first_counts)
  uniform = probabilities.pmf_to_freqs(np.full((L,), 1.0 / L))
  out: dict[str, list[tuple[float, float]]] = {k: [] for k in ("uniform", "zeroth_order", "first_order",
                                                              "context_model")}
  for s, n, (est, real) in zip(flat, pixels, context_bits):
    prev = np.concatenate([[0], s[:-1]])
    for name, tables in (("uniform", np.broadcast_to(uniform, (len(s), L))),
                         ("zeroth_order", np.broadcast_to(zeroth, (len(s), L))),
                         ("first_order", first[prev])):
      tables = np.ascontiguousarray(tables)
      out[name].append((probabilities.ideal_bits(tables, s) / n, 8 * len(coder.encode(s, tables)) / n))
    out["context_model"].append((est / n, real / n))
  return {k: tuple(np.mean(np.array(v), axis=0)) for k, v in out.items()}


def to_markdown(r: dict[str, tuple[float, float]], title: str) -> str:
  lines = [f"### {title}", "", "| entropy model | bpp (estimated) | bpp (real) |", "| --- | ---: | ---: |"]
  lines += [f"| {k.replace('_', ' ')} | {e:.4f} | {b:.4f} |" for k, (e, b) in r.items()]
  return "\n".join(lines) + "\n"


def ablate(codec, images: Iterable[np.ndarray]) -> dict[str, tuple[float, float]]:
  """`rates` of a `jcomp.coding.codec.Codec`'s symbol volumes of (H, W, 3) uint8 `images`."""
  volumes, pixels, ctx = [], [], []
  for image in images:
    r = codec.compress(image)
    volumes.append(codec.analyze(image)["symbols"])
    pixels.append(image.shape[0] * image.shape[1])
    ctx.append((r.bpp_est * pixels[-1], 8 * len(r.data)))
  return rates(volumes, len(codec.centers), pixels, ctx)
