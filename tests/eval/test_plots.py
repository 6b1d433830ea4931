"""Tests for jcomp.eval.plots: RD figures are written from arrays alone."""

import numpy as np
import pytest
from PIL import Image

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
                              metrics=("ms_ssim", "ms_ssim_db"), formats=("png", "pdf", "svg"))
  assert [p.name for p in paths] == ["rd_ms_ssim.png", "rd_ms_ssim.pdf", "rd_ms_ssim.svg",
                                     "rd_ms_ssim_db.png", "rd_ms_ssim_db.pdf", "rd_ms_ssim_db.svg"]
  assert all(p.stat().st_size > 1000 for p in paths)
  assert "ms_ssim_db" in curves["paper"].values
  with Image.open(paths[0]) as png:
    assert png.size == (7 * plots.PNG_DPI, 5 * plots.PNG_DPI)
  pdf = paths[1].read_bytes()
  assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType fonts, as paper templates ask
  assert b"<text" in paths[2].read_bytes()  # SVG text stays text


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


def test_vector_files_are_the_same_when_written_again(tmp_path):
  curves = {"jpeg420": aggregate.Curve(np.array([0.1, 0.5]), {"psnr": np.array([25.0, 31.0])}, np.full(2, 1))}
  first = plots.plot_rd(curves, "psnr", tmp_path / "a.png", formats=("pdf", "svg"))
  second = plots.plot_rd(curves, "psnr", tmp_path / "b.png", formats=("pdf", "svg"))
  assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_every_method_has_a_marker_and_learned_points_are_labelled_with_their_rate(tmp_path, plotted_axes):
  bpp = np.linspace(0.1, 1.0, 19)
  curves = {"jpeg420": aggregate.Curve(bpp, {"psnr": 25 + 5 * bpp}, np.full(19, 3), 3),
            "webp": aggregate.Curve(bpp, {"psnr": 26 + 5 * bpp}, np.full(19, 3), 3),
            "paper": plots.anchor_curve(bpp, {"psnr": 28 + 5 * bpp})}
  means = {"mentzer": {"0.30": {"bpp_real": 0.25, "psnr": 27.0}, "0.90": {"bpp_real": 0.75, "psnr": 30.0}},
           "one": {"0.50": {"bpp_real": 0.4, "psnr": 28.0}}}
  kinds = {"paper": "anchor", "mentzer": "learned", "one": "learned"}
  plots.plot_rd(curves, "psnr", tmp_path / "rd.png", kinds=kinds, setting_means=means, formats=("png",))
  ax = plotted_axes[0]
  lines = {line.get_label(): line for line in ax.get_lines()}
  assert set(lines) == {"jpeg420", "webp", "paper", "mentzer", "one"}
  assert len({line.get_marker() for line in lines.values()}) == 5 and "None" not in (
      line.get_marker() for line in lines.values())
  assert lines["paper"].get_linestyle() == "--"
  # Grid curves carry a marker about every 0.25 bpp, not one per 0.05 bpp grid point.
  np.testing.assert_allclose(bpp[lines["jpeg420"].get_markevery()], [0.1, 0.35, 0.6, 0.85])
  assert sorted(t.get_text() for t in ax.texts) == ["0.30", "0.50", "0.90"]


def test_grid_points_averaging_fewer_images_are_dotted_and_said_so(tmp_path, plotted_axes):
  bpp = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
  curves = {"jpeg420": aggregate.Curve(bpp, {"psnr": np.array([24.0, 27.0, 29.0, 31.0, 29.5])},
                                       np.array([1, 2, 2, 2, 1]), 2)}
  plots.plot_rd(curves, "psnr", tmp_path / "rd.png", formats=("png",))
  ax = plotted_axes[0]
  solid, dotted = ax.get_lines()
  assert solid.get_linestyle() == "-" and dotted.get_linestyle() == ":"
  np.testing.assert_array_equal(np.isfinite(solid.get_ydata()), [False, True, True, True, False])
  np.testing.assert_array_equal(np.isfinite(dotted.get_ydata()), [True, True, False, True, True])
  assert plots.PARTIAL_LABEL in [t.get_text() for t in ax.get_legend().get_texts()]
