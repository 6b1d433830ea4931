"""Format 4 decodes to the same symbols under every setting: files written under each of default flags, XLA
fast math, single-threaded Eigen, bfloat16 matmul precision and JAX_ENABLE_X64 decode under every other one
(subprocesses with those environments; `benchmarks/portability.py`, which also runs CPU <-> GPU)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT, subprocess_env


def test_files_decode_to_the_same_symbols_under_every_setting(tmp_path):
  env = subprocess_env()
  env.pop("JAX_DISABLE_MOST_OPTIMIZATIONS")  # the settings themselves are what is compared
  r = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "portability.py"), "matrix",
                      "--model=mentzer2018-compact-0.30", f"--out={tmp_path}", "--height=32", "--width=48"],
                     env=env, capture_output=True, text=True, check=False, cwd=tmp_path)
  assert r.returncode == 0, r.stdout + r.stderr[-3000:]
  rows = [line.split() for line in r.stdout.splitlines()[1:]]
  assert len(rows) == 5 and all(row[1:] == ["same"] * 5 for row in rows), r.stdout
  assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".jcomp")) == sorted(
      f"{s}.jcomp" for s in ("default", "fast_math", "one_thread", "bf16_matmul", "x64"))
