"""Model families and --target-bpp's search: the choice equals the brute-force one, from few compressions."""

import itertools
import math

import numpy as np
import pytest

from jcomp import api, family


def test_a_model_belongs_to_the_family_whose_prefix_and_rate_make_its_name():
  names = ["mentzer2018-compact-0.30", "mentzer2018-compact-1.10", "mentzer2018-compact-0.15",
           "mentzer2018-compact-mse-0.90", "mentzer2018-compact-mse-0.30", "no-rate-here", "x-1e3", "solo"]
  assert family.families(names) == {
      "mentzer2018-compact": ["mentzer2018-compact-0.15", "mentzer2018-compact-0.30", "mentzer2018-compact-1.10"],
      "mentzer2018-compact-mse": ["mentzer2018-compact-mse-0.30", "mentzer2018-compact-mse-0.90"]}
  assert family.split_name("mentzer2018-compact-mse-0.30") == ("mentzer2018-compact-mse", 0.3)
  assert family.split_name("solo") is None and family.split_name("-0.3") is None
  with pytest.raises(family.FamilyError, match="mentzer2018-compact"):
    family.members("mentzer2018", names)


def _brute_force(bpps, target, strict):
  below = [i for i, b in enumerate(bpps) if b <= target]
  if strict:
    return below[-1] if below else None
  # Nearest; a tie goes to the higher rate (the higher index).
  return min(range(len(bpps)), key=lambda i: (abs(bpps[i] - target), -i))


@pytest.mark.parametrize("strict", [False, True])
def test_search_equals_brute_force_and_compresses_at_most_log2_n_plus_1_times(strict):
  rng = np.random.default_rng(0)
  for n in range(1, 9):
    for _ in range(40):
      bpps = np.sort(rng.uniform(0.05, 1.5, n)).tolist()  # real bpp grows with the model's rate
      # Targets below, above, between and exactly at the models' bpps.
      for target in [0.01, 2.0, *bpps, *rng.uniform(0.05, 1.5, 3)]:
        calls = []
        bpp_at = lambda i: calls.append(i) or bpps[i]
        got = family.search(bpp_at, n, target, strict)
        assert got == _brute_force(bpps, target, strict), (bpps, target)
        assert len(calls) == len(set(calls)) <= math.ceil(math.log2(n + 1)), (n, calls)


def test_search_of_nothing_is_an_error():
  with pytest.raises(ValueError):
    family.search(lambda i: 0.0, 0, 0.5, False)


class _FakeResult:
  def __init__(self, bpp):
    self.bpp_real, self.data = bpp, f"{bpp}".encode()


class _FakeModel:
  """Stands in for api.Model: 'compresses' at a fixed bpp per model."""

  def __init__(self, bpp, log):
    self.codec = self
    self._bpp, self._log = bpp, log

  def compress(self, x):
    self._log.append(self._bpp)
    return _FakeResult(self._bpp)


def test_family_choose_reports_the_choice_and_every_model_it_tried(monkeypatch):
  names = [f"fam-{r}" for r in ("0.10", "0.20", "0.40", "0.80", "1.60")]
  bpps = dict(zip(names, [0.11, 0.19, 0.42, 0.85, 1.5]))
  monkeypatch.setattr(api.zoo, "names", lambda: names + ["other-0.30"])
  fam = api.Family("fam")
  assert fam.names == names
  log = []
  models = {n: _FakeModel(bpps[n], log) for n in names}
  monkeypatch.setattr(fam, "model", models.__getitem__)
  x = np.zeros((8, 8, 3), np.uint8)
  choice = fam.choose(x, target_bpp=0.5)
  assert choice.name == "fam-0.40" and choice.bpp == 0.42 and choice.data == b"0.42"
  assert list(choice.tried) == sorted(choice.tried, key=names.index) and len(log) == len(choice.tried) <= 3
  assert choice.tried == {n: bpps[n] for n in choice.tried} and {"fam-0.40", "fam-0.80"} <= set(choice.tried)
  assert fam.choose(x, target_bpp=0.7).name == "fam-0.80"  # nearest, above the target
  assert fam.choose(x, target_bpp=0.7, strict=True).name == "fam-0.40"
  assert fam.compress(x, target_bpp=10) == b"1.5"
  with pytest.raises(family.FamilyError, match="no model of fam reaches 0.1 bpp.*fam-0.10 at 0.1100"):
    fam.choose(x, target_bpp=0.1, strict=True)
  for bad in (0, -1, float("nan")):
    with pytest.raises(family.FamilyError, match="positive"):
      fam.choose(x, target_bpp=bad)


def test_all_orders_of_three_models_are_searched_without_repeats():
  for bpps in itertools.permutations([0.2, 0.5, 0.9]):  # even a non-monotone family: a valid index, no repeat
    calls = []
    i = family.search(lambda j: calls.append(j) or bpps[j], 3, 0.6, False)
    assert 0 <= i < 3 and len(calls) == len(set(calls)) <= 2
