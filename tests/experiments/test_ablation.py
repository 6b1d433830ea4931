"""The Table-1 ablation's entropy models: bounds that must hold between them."""

from __future__ import annotations

import math

import numpy as np

from jcomp.experiments import ablation


def test_ablation_rates_order_and_real_coding_matches_estimates():
  rng = np.random.default_rng(0)
  L, pixels = 6, 64 * 64
  # Correlated symbols: a random walk clipped to [0, L), skewed toward low symbols.
  vols = []
  for _ in range(3):
    steps = rng.choice([-1, 0, 0, 0, 1], size=4 * 8 * 8)
    vols.append(np.clip(np.cumsum(steps) % L, 0, L - 1).reshape(4, 8, 8).astype(np.int32))
  n = vols[0].size
  r = ablation.rates(vols, L, [pixels] * 3, [(100.0, 120.0)] * 3)
  est = {k: v[0] for k, v in r.items()}
  real = {k: v[1] for k, v in r.items()}
  assert math.isclose(est["uniform"], n * math.log2(L) / pixels, rel_tol=1e-3)
  assert est["first_order"] < est["zeroth_order"] <= est["uniform"] + 1e-9
  for k in ("uniform", "zeroth_order", "first_order"):
    assert est[k] <= real[k] <= est[k] + 64 / pixels  # the coder's flush and rounding only
  assert real["context_model"] == 120.0 / pixels
  assert "first order" in ablation.to_markdown(r, "t")
