"""First vs repeated `jcomp compress` of one image, each in a fresh process (issue: fast repeat calls).

  python benchmarks/repeat_compress.py IMAGE [--model=mentzer2018-compact-0.30] [--repeats=3]

Runs the CLI with an empty compilation cache in a temporary folder (`JCOMP_CACHE_DIR`): the first call
compiles and fills it, the next ones load the compiled programs. Also times `import jax` alone and a
compress with the cache turned off, in fresh processes, and prints wall seconds and the first/repeat ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _timed(cmd: list[str], env: dict) -> float:
  t = time.perf_counter()
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
  if proc.returncode != 0:
    sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
  return time.perf_counter() - t


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("image")
  p.add_argument("--model", default="mentzer2018-compact-0.30")
  p.add_argument("--repeats", type=int, default=3)
  a = p.parse_args()
  with tempfile.TemporaryDirectory() as d:
    env = dict(os.environ, JCOMP_CACHE_DIR=os.path.join(d, "cache"))
    cmd = [sys.executable, "-m", "jcomp", "compress", f"--model={a.model}", a.image,
           "-o", os.path.join(d, "out.jcomp"), "--force", "-q"]
    imports = _timed([sys.executable, "-c", "import jax, flax.linen"], env)
    uncached = _timed(cmd, dict(env, JCOMP_CACHE_DIR="off"))
    first = _timed(cmd, env)
    repeats = [_timed(cmd, env) for _ in range(a.repeats)]
  repeat = statistics.median(repeats)
  print(f"# jcomp compress {os.path.basename(a.image)} ({a.model}), fresh processes")
  print(f"import jax + flax alone      {imports:6.2f} s")
  print(f"cache off                    {uncached:6.2f} s")
  print(f"first (empty cache)          {first:6.2f} s")
  print(f"repeat (median of {len(repeats)})        {repeat:6.2f} s   ({', '.join(f'{r:.2f}' for r in repeats)})")
  print(f"first / repeat               {first / repeat:6.2f}x")


if __name__ == "__main__":
  main()
