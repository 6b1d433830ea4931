"""Training curves from `jcomp.main` console logs (a model card's `train.log`, or a run's captured stdout).

  jcomp curves jcomp/pretrained/*/train.log runs/cpu/ft055.log --out=curves.png

Parses the `step ... | bpp_est ... | ms_ssim ...` and `eval ...` lines (any other output is skipped) and
draws rate (bpp estimate), MS-SSIM and PSNR against the step, one line per log; held-out eval points as
markers. A log that restarted (resumed runs print from the restored step) is drawn in step order.
"""

from __future__ import annotations

import os
import re

import numpy as np

_FIELD = re.compile(r"(\w+) (-?[\d.]+(?:e[-+]?\d+)?)(?![\w:])")  # a whole number: not the 0 of 'eta 0:12:34'


def parse_log(text: str) -> dict[str, dict[str, np.ndarray]]:
  """{'train': {field: (n,) array, 'step': ...}, 'eval': {...}} from console output; later lines for an
  already-seen step (a resumed run repeating steps) replace earlier ones."""
  rows: dict[str, dict[int, dict[str, float]]] = {"train": {}, "eval": {}}
  for line in text.splitlines():
    kind = "train" if line.startswith("step ") else "eval" if line.startswith("eval ") else None
    if kind is None:
      continue
    parts = line.split("|")
    try:
      step = int(parts[0].split()[1])
    except (IndexError, ValueError):
      continue
    rows[kind][step] = {k: float(v) for part in parts[1:] for k, v in _FIELD.findall(part)}
  out = {}
  for kind, by_step in rows.items():
    steps = sorted(by_step)
    keys = sorted({k for r in by_step.values() for k in r})
    out[kind] = {"step": np.asarray(steps, np.int64),
                 **{k: np.asarray([by_step[s].get(k, np.nan) for s in steps]) for k in keys}}
  return out


def plot_curves(logs: dict[str, dict], path: str) -> None:
  """Writes a PNG with bpp_est, MS-SSIM and PSNR panels, one line per named log."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, axes = plt.subplots(1, 3, figsize=(15, 4), dpi=110)
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  for i, (name, log) in enumerate(logs.items()):
    color = colors[i % len(colors)]
    for ax, key in zip(axes, ["bpp_est", "ms_ssim", "psnr"]):
      tr, ev = log["train"], log["eval"]
      if key in tr and tr["step"].size:
        ax.plot(tr["step"], tr[key], color=color, lw=0.8, alpha=0.8, label=name)
      if key in ev and ev["step"].size:
        ax.plot(ev["step"], ev[key], "o", color=color, ms=3)
  for ax, label in zip(axes, ["bpp (estimate, training crops)", "MS-SSIM", "PSNR [dB]"]):
    ax.set_xlabel("step")
    ax.set_title(label)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=7)
  fig.suptitle("training curves (lines: training batches; dots: held-out eval)")
  fig.tight_layout()
  tmp = path + ".tmp.png"
  fig.savefig(tmp)
  plt.close(fig)
  os.replace(tmp, path)


def log_name(path: str) -> str:
  """The name a log is drawn under: a model card's folder for `<name>/train.log`, else the file's stem."""
  base = os.path.basename(path)
  return os.path.basename(os.path.dirname(path)) if base == "train.log" else os.path.splitext(base)[0]


def read_log(path: str) -> dict[str, dict[str, np.ndarray]]:
  """`parse_log` of a file. Raises FileNotFoundError, or ValueError if it has no `step ...` line."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no such log file: {path}")
  with open(path, errors="replace") as f:
    log = parse_log(f.read())
  if not log["train"]["step"].size:
    raise ValueError(f"{path} has no 'step ...' lines of jcomp.main")
  return log
