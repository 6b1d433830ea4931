"""Tests for jcomp.eval.anchors: published curves shipped as data."""

import numpy as np
import pytest

from jcomp.eval import anchors


def test_mentzer_kodak_anchor_has_the_28_points_of_fig1_and_its_source():
  a = anchors.load_anchor("mentzer2018_kodak_msssim")
  assert a.bpp.shape == (28,) and a.metrics["ms_ssim"].shape == (28,)
  assert np.all(np.diff(a.bpp) > 0) and np.all(np.diff(a.metrics["ms_ssim"]) > 0)
  assert a.dataset == "kodak"
  assert "CVPR 2018" in a.source


def test_mentzer_anchor_passes_through_the_papers_operating_points():
  a = anchors.load_anchor("mentzer2018_kodak_msssim")
  # README: A 0.370 → 0.975, B 0.677 → 0.987 (measured points; the curve is their interpolation).
  assert np.interp(0.370, a.bpp, a.metrics["ms_ssim"]) == pytest.approx(0.975, abs=0.002)
  assert np.interp(0.677, a.bpp, a.metrics["ms_ssim"]) == pytest.approx(0.987, abs=0.002)


def test_unknown_anchor_lists_the_choices():
  with pytest.raises(ValueError, match="mentzer2018_kodak_msssim"):
    anchors.load_anchor("nope")


def test_anchors_are_selected_by_dataset():
  assert [a.name for a in anchors.anchors_for("Kodak")] == ["mentzer2018_kodak_msssim"]
  assert anchors.anchors_for("clic") == []


def test_an_anchor_is_labelled_with_its_image_set_unless_evaluated_on_that_very_set():
  a = anchors.load_anchor("mentzer2018_kodak_msssim")
  assert a.n_images == 24
  assert anchors.label_for(a, "kodak", 24) == "Mentzer2018 (paper)"
  assert anchors.label_for(a, "kodak", 4) == "Mentzer2018 (paper) on 24 Kodak images"
  assert anchors.label_for(a, "", 24) == "Mentzer2018 (paper) on 24 Kodak images"
