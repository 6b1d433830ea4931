"""Do files decode to the same symbols under every setting? The cross-setting matrix of format 4.

  python benchmarks/portability.py matrix --model=mentzer2018-compact-0.30 --out=OUT_DIR   # CPU settings
  python benchmarks/portability.py encode --model=M --out=DIR --tag=gpu     # on one machine (e.g. a GPU) ...
  python benchmarks/portability.py decode DIR                               # ... and on another

`encode` writes DIR/TAG.jcomp of a procedural image (embedded: no data needed) and DIR/TAG.json with the
digest of the symbols it coded; `decode` decodes every DIR/*.jcomp and prints, per file, whether its symbols
equal the encoder's (JSON lines). `matrix` runs `encode` under each of SETTINGS in a subprocess, then `decode`
under each, and prints the matrix (rows: written under, columns: decoded under). tests/coding/test_portability.py
runs the matrix in CI.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys

SETTINGS = {  # name -> environment variables on top of the caller's
    "default": {},
    "fast_math": {"XLA_FLAGS": "--xla_cpu_enable_fast_math=true"},
    "one_thread": {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"},
    "bf16_matmul": {"JAX_DEFAULT_MATMUL_PRECISION": "bfloat16"},
    "x64": {"JAX_ENABLE_X64": "1"},
}


def _digest(symbols) -> str:
  import numpy as np  # pylint: disable=g-import-not-at-top
  return hashlib.sha256(np.ascontiguousarray(symbols, np.int32).tobytes()).hexdigest()[:16]


def encode(model: str, out: str, tag: str, height: int, width: int, seed: int) -> None:
  from jcomp.coding.codec import Codec  # pylint: disable=g-import-not-at-top
  from jcomp.data.synthetic_images import synthetic_image  # pylint: disable=g-import-not-at-top
  codec = Codec.load(model)
  image = synthetic_image(seed, height, width)
  symbols = codec.analyze(image)["symbols"]
  data = codec.compress(image).data
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, f"{tag}.jcomp"), "wb") as f:
    f.write(data)
  with open(os.path.join(out, f"{tag}.json"), "w") as f:
    json.dump({"symbols": _digest(symbols), "version": data[4], "model": model}, f)


def decode(folder: str, model: str = "") -> list[dict]:
  from jcomp.coding.codec import Codec  # pylint: disable=g-import-not-at-top
  rows = []
  codecs = {}
  for path in sorted(glob.glob(os.path.join(folder, "*.jcomp"))):
    with open(os.path.splitext(path)[0] + ".json") as f:
      meta = json.load(f)
    name = model or meta["model"]
    if name not in codecs:
      codecs[name] = Codec.load(name)
    codec = codecs[name]
    with open(path, "rb") as f:
      data = f.read()
    try:
      got, error = _digest(codec.decompress_symbols(data)[1]), ""
    except Exception as e:  # pylint: disable=broad-except
      got, error = "", f"{type(e).__name__}: {e}"
    rows.append({"file": os.path.basename(path), "same": got == meta["symbols"], "error": error})
  return rows


def _run_all(jobs: list[tuple[str, list[str]]]) -> list[tuple[int, str, str]]:
  """Runs `benchmarks/portability.py ARGS` under each (setting, ARGS) at once: [(exit status, stdout, stderr)]."""
  procs = [_start(setting, args) for setting, args in jobs]
  return [(p.returncode, *p.communicate()) for p in procs]


def _start(setting: str, args: list[str]) -> subprocess.Popen:
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  env.pop("JAX_COMPILATION_CACHE_DIR", None)  # no executable compiled under one setting may serve another
  env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
  env.update(SETTINGS[setting])
  return subprocess.Popen([sys.executable, os.path.abspath(__file__)] + args, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def matrix(model: str, out: str, height: int, width: int, seed: int,
           settings: list[str] | None = None) -> dict[tuple[str, str], bool]:
  """{(written under, decoded under): symbols equal}, every pair of `settings` (default: all)."""
  settings = settings or list(SETTINGS)
  encoded = _run_all([(s, ["encode", f"--model={model}", f"--out={out}", f"--tag={s}", f"--height={height}",
                           f"--width={width}", f"--seed={seed}"]) for s in settings])
  for s, (code, _, err) in zip(settings, encoded):
    if code:
      raise RuntimeError(f"encode under {s} failed:\n{err[-3000:]}")
  result = {}
  for s, (code, out_text, err) in zip(settings, _run_all([(s, ["decode", out]) for s in settings])):
    if code:
      raise RuntimeError(f"decode under {s} failed:\n{err[-3000:]}")
    for row in map(json.loads, out_text.splitlines()):
      result[(row["file"][:-len(".jcomp")], s)] = row["same"]
  return result


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("mode", choices=["encode", "decode", "matrix"])
  p.add_argument("folder", nargs="?", default="")
  p.add_argument("--model", default="mentzer2018-compact-0.30")
  p.add_argument("--out", default="")
  p.add_argument("--tag", default="default")
  p.add_argument("--height", type=int, default=64)
  p.add_argument("--width", type=int, default=96)
  p.add_argument("--seed", type=int, default=3)
  a = p.parse_args()
  if a.mode == "encode":
    encode(a.model, a.out, a.tag, a.height, a.width, a.seed)
  elif a.mode == "decode":
    for row in decode(a.folder or a.out):
      print(json.dumps(row))
  else:
    m = matrix(a.model, a.out, a.height, a.width, a.seed)
    names = list(SETTINGS)
    print("written under / decoded under".ljust(30) + "".join(f"{n:>12}" for n in names))
    for w in names:
      print(f"{w:<30}" + "".join(f"{('same' if m[(w, d)] else 'DIFFERENT'):>12}" for d in names))
    sys.exit(0 if all(m.values()) else 1)


if __name__ == "__main__":
  main()
