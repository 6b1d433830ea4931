"""The importance-map figure (jcomp.experiments.importance_figure): written from arrays alone."""

import numpy as np
import pytest

from jcomp.experiments import importance_figure


@pytest.mark.parametrize("order", ["index", "std"])
def test_importance_and_latents_figure_is_written(tmp_path, order):
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
  importance = rng.uniform(0, 16, size=(8, 12))
  latents = rng.normal(size=(8, 12, 16))
  path = tmp_path / f"latents_{order}.png"
  importance_figure.plot_importance_and_latents(image, importance, latents, path, order=order)
  assert path.stat().st_size > 1000


def test_importance_figure_works_without_an_importance_map(tmp_path):
  latents = np.random.default_rng(1).normal(size=(4, 6, 5))
  path = tmp_path / "latents.png"
  importance_figure.plot_importance_and_latents(np.zeros((32, 48, 3), np.uint8), None, latents, path, order="std")
  assert path.is_file()


def test_importance_figure_rejects_mismatched_shapes(tmp_path):
  with pytest.raises(ValueError, match="does not match"):
    importance_figure.plot_importance_and_latents(np.zeros((32, 48, 3), np.uint8), np.zeros((3, 3)),
                                                  np.zeros((4, 6, 5)), tmp_path / "x.png")
