"""Figures as PNG only in these tests unless a test asks for more: PDF and SVG add seconds to every report on 2
cores (test_plots.py writes and checks all three)."""

import pytest

from jcomp.eval import plots


@pytest.fixture(autouse=True)
def _png_figures_only(monkeypatch):
  monkeypatch.setattr(plots, "FORMATS", ("png",))
