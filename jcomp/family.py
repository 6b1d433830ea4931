"""Model families and rate targeting: the shipped model of a family that meets a bpp target on an image
(`jcomp compress --target-bpp`, `jcomp.load_family(...).compress(x, target_bpp=...)`).

A family is a shipped-model name prefix: a model belongs to the family F whose `F + '-' + RATE` is its name,
RATE a number (mentzer2018-compact-0.30 to mentzer2018-compact, mentzer2018-compact-mse-0.30 to
mentzer2018-compact-mse). An image's real bpp under a model is known only by compressing it; `search` assumes
it grows with the model's rate and finds the choice by binary search over the family sorted by rate:
ceil(log2(n + 1)) compressions for n models (3 of 5), never all of them.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

_RATE = re.compile(r"\d+(?:\.\d+)?")


class FamilyError(ValueError):
  """An unknown family, or no model of it meets a strict target."""


def split_name(name: str) -> tuple[str, float] | None:
  """'mentzer2018-compact-0.30' -> ('mentzer2018-compact', 0.3); None if the name does not end in '-RATE'."""
  prefix, _, rate = name.rpartition("-")
  return (prefix, float(rate)) if prefix and _RATE.fullmatch(rate) else None


def families(names: Iterable[str]) -> dict[str, list[str]]:
  """{family: its models' names, by increasing rate} of the models among `names` that have a rate."""
  out: dict[str, list[tuple[float, str]]] = {}
  for name in names:
    if (split := split_name(name)) is not None:
      out.setdefault(split[0], []).append((split[1], name))
  return {f: [n for _, n in sorted(members)] for f, members in sorted(out.items())}


def members(family: str, names: Iterable[str]) -> list[str]:
  """The models of `family` among `names`, by increasing rate; FamilyError listing the families if none."""
  found = families(names)
  if family not in found:
    raise FamilyError(f"unknown model family {family!r}; choose one of {sorted(found) or 'none (no models)'}")
  return found[family]


def search(bpp_at: Callable[[int], float], n: int, target: float, strict: bool) -> int | None:
  """The index of the highest-rate model (of n, by increasing rate) whose bpp `bpp_at(i)` is <= target; without
  `strict`, the one of it and the next whose bpp is nearest the target (a tie: the higher rate). None: strict
  and no model is <= target (without `strict` the lowest then). Calls `bpp_at` at most ceil(log2(n + 1))
  times, each index once: bpp_at(best + 1) is always among the calls."""
  if n < 1:
    raise ValueError("no models to choose from")
  seen: dict[int, float] = {}

  def bpp(i: int) -> float:
    if i not in seen:
      seen[i] = bpp_at(i)
    return seen[i]

  lo, hi, best = 0, n - 1, -1  # best: the highest index known to be <= target
  while lo <= hi:
    mid = (lo + hi) // 2
    if bpp(mid) <= target:
      best, lo = mid, mid + 1
    else:
      hi = mid - 1
  if strict:
    return best if best >= 0 else None
  if best < 0:
    return 0
  if best + 1 < n and abs(bpp(best + 1) - target) <= abs(bpp(best) - target):
    return best + 1
  return best
