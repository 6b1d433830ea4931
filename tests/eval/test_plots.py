"""Tests for jcomp.eval.plots: RD figures are written from arrays alone."""

import numpy as np
import pytest

from jcomp.eval import aggregate
from jcomp.eval import plots


def test_rd_plot_draws_classical_learned_and_anchor_curves(tmp_path):
  bpp = np.linspace(0.1, 1.0, 10)
  curves = {
      "jpeg420": aggregate.Curve(bpp, {"ms_ssim": 1 - 0.1 / (1 + 5 * bpp)}, np.full(10, 2)),
      "paper": plots.anchor_curve(bpp, {"ms_ssim": 1 - 0.05 / (1 + 5 * bpp)}),
  }
  means = {"learned": {"low": {"bpp_real": 0.3, "ms_ssim": 0.98},
                       "high": {"bpp_real": 0.7, "ms_ssim": 0.99}}}
  kinds = {"jpeg420": "classical", "paper": "anchor", "learned": "learned"}
  paths = plots.save_rd_plots(curves, tmp_path, kinds=kinds, setting_means=means,
                              metrics=("ms_ssim", "ms_ssim_db"))
  assert [p.name for p in paths] == ["rd_ms_ssim.png", "rd_ms_ssim_db.png"]
  assert all(p.stat().st_size > 1000 for p in paths)
  assert "ms_ssim_db" in curves["paper"].values


@pytest.fixture
def plotted_axes(monkeypatch):
  """The Axes of every figure `plots` creates during the test, in order."""
  axes = []
  subplots = plots.plt.subplots

  def spy(*args, **kwargs):
    fig, ax = subplots(*args, **kwargs)
    axes.append(ax)
    return fig, ax

  monkeypatch.setattr(plots.plt, "subplots", spy)
  return axes


@pytest.mark.parametrize("lowest_learned, floor", [(0.95, plots.MS_SSIM_FLOOR), (0.74, 0.73)])
def test_ms_ssim_axis_cuts_jpegs_low_tail_but_never_a_learned_point(tmp_path, plotted_axes, lowest_learned,
                                                                    floor):
  bpp = np.linspace(0.1, 1.0, 10)
  curves = {"jpeg420": aggregate.Curve(bpp, {"ms_ssim": 0.5 + 0.5 * bpp}, np.full(10, 2))}
  means = {"learned": {"a": {"bpp_real": 0.2, "ms_ssim": lowest_learned},
                       "b": {"bpp_real": 0.5, "ms_ssim": 0.97}}}
  plots.plot_rd(curves, "ms_ssim", tmp_path / "rd.png", kinds={"learned": "learned"}, setting_means=means)
  assert plotted_axes[0].get_ylim()[0] == pytest.approx(floor)


def test_learned_methods_are_drawn_through_their_setting_means_not_the_grid_average(tmp_path, plotted_axes):
  grid = np.array([0.1, 0.15, 0.2])
  curves = {"jpeg420": aggregate.Curve(grid, {"ms_ssim": np.array([0.7, 0.8, 0.85])}, np.full(3, 2)),
            "li": aggregate.Curve(grid, {"ms_ssim": np.array([0.8, 0.79, 0.77])}, np.array([1, 2, 1]))}
  means = {"li": {"a": {"bpp_real": 0.1, "ms_ssim": 0.78}, "b": {"bpp_real": 0.16, "ms_ssim": 0.82}}}
  plots.plot_rd(curves, "ms_ssim", tmp_path / "rd.png", kinds={"li": "learned"}, setting_means=means)
  lines = {line.get_label(): line for line in plotted_axes[0].get_lines()}
  np.testing.assert_allclose(lines["li"].get_xdata(), [0.1, 0.16])
  np.testing.assert_allclose(lines["li"].get_ydata(), [0.78, 0.82])
  np.testing.assert_allclose(lines["jpeg420"].get_xdata(), grid)
