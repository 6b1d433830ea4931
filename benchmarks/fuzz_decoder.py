"""Fuzzes the decoder: seeded mutants of a real file and crafted hostile headers (`jcomp.coding.fuzz`).

  python benchmarks/fuzz_decoder.py [--model=mentzer2018-compact-0.30] [--mutants=1000] [--size=32x48]

Mutants are decoded in this process, each under a deadline (--timeout, SIGALRM: a hang in Python code), and
counted by outcome: refused (by error class), decoded (to the shape its header declares), crash (any other
exception, or a decoded image of another shape) or hang. The crafted files are then decoded by `jcomp
decompress` in a subprocess each: exit status, the error line, wall and CPU time, peak RSS. Prints two
markdown tables; exits 1 if any mutant crashed or hung or any crafted file was neither refused in one line
nor decoded.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import resource
import signal
import sys
import tempfile
import time

import numpy as np

from jcomp import limits
from jcomp.coding import bitstream, fuzz, header_check
from jcomp.coding.codec import Codec, CodecError
from jcomp.data.synthetic_images import synthetic_image

DECODE_ERRORS = (bitstream.FormatError, CodecError, header_check.HeaderError, limits.LimitError)


class Hang(Exception):
  pass


def _alarm(*_):
  raise Hang()


def outcome(codec: Codec, data: bytes, timeout_s: float) -> str:
  """'refused: Class', 'decoded', 'crash: Class' or 'hang' for one file."""
  signal.setitimer(signal.ITIMER_REAL, timeout_s)
  try:
    image = codec.decompress(data)
  except Hang:
    return "hang"
  except DECODE_ERRORS as e:
    return f"refused: {type(e).__name__}" if "\n" not in str(e) else f"crash: multi-line {type(e).__name__}"
  except Exception as e:  # pylint: disable=broad-except  # what the fuzzer is looking for
    return f"crash: {type(e).__name__}: {str(e)[:80]}"
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
  header, _ = bitstream.unpack(data)
  return "decoded" if image.shape == (header.image_height, header.image_width, 3) else "crash: wrong shape"


def fuzz_mutants(codec: Codec, data: bytes, n: int, seed: int, timeout_s: float) -> bool:
  rng = random.Random(seed)
  counts: collections.Counter = collections.Counter()
  by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  rss0, t0, slowest = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter(), 0.0
  for _ in range(n):
    kind, mutant = fuzz.mutate(data, rng)
    t = time.perf_counter()
    result = outcome(codec, mutant, timeout_s)
    slowest = max(slowest, time.perf_counter() - t)
    counts[result] += 1
    group = "header" if kind in ("field", "resize") else "resealed" if kind.endswith("+crc") else "raw"
    by_kind[group][result] += 1
  print(f"\n## {n} mutants (seed {seed}): {time.perf_counter() - t0:.0f} s, slowest {slowest:.2f} s, peak RSS "
        f"+{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024:.0f} MB\n")
  print("| outcome | all | bytes mutated | bytes mutated, size + CRC fixed | header dims rewritten |\n"
        "| --- | ---: | ---: | ---: | ---: |")
  for result, c in counts.most_common():
    print(f"| {result} | {c} | {by_kind['raw'][result]} | {by_kind['resealed'][result]} | "
          f"{by_kind['header'][result]} |")
  return not any(r.startswith(("crash", "hang")) for r in counts)


def crafted_table(codec: Codec, data: bytes, model: str, timeout_s: float) -> bool:
  template, _ = bitstream.unpack(data)
  files = fuzz.crafted_files(template, codec.config.model.num_channels)
  env = dict(os.environ)
  env.pop(limits.ENV_VAR, None)
  print(f"\n## crafted files through `jcomp decompress --model={model}` (default limit "
        f"{limits.DEFAULT_MAX_PIXELS:,} pixels)\n")
  print("| file | bytes | in process | exit | stderr | wall s | CPU s | RSS MB |\n"
        "| --- | ---: | --- | ---: | --- | ---: | ---: | ---: |")
  ok = True
  with tempfile.TemporaryDirectory() as d:
    for name, blob in files.items():
      path = os.path.join(d, "f.jcomp")
      with open(path, "wb") as f:
        f.write(blob)
      local = outcome(codec, blob, timeout_s)
      out = os.path.join(d, "out.png")
      r = fuzz.run_measured([sys.executable, "-m", "jcomp", "decompress", path, f"--model={model}", "-o", out,
                             "--force"], timeout_s=timeout_s + 60, env=env)
      line = r.stderr.strip().splitlines()
      one_line = r.returncode == 1 and len(line) == 1 and line[0].startswith("error: ")
      ok &= (one_line or r.returncode == 0) and not local.startswith(("crash", "hang"))
      shown = (line[0][7:70] + ("..." if len(line[0]) > 70 else "")) if one_line else (
          "(decoded)" if r.returncode == 0 else f"{len(line)} lines: {line[-1][:60] if line else ''}")
      print(f"| {name} | {len(blob)} | {local} | {r.returncode} | {shown} | {r.wall_s:.1f} | {r.cpu_s:.1f} | "
            f"{r.max_rss_mb:.0f} |")
  return ok


def main() -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model", default="mentzer2018-compact-0.30", help="zoo name, model directory or workdir")
  p.add_argument("--mutants", type=int, default=1000)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--size", default="32x48", help="HxW of the synthetic image whose file is mutated")
  p.add_argument("--timeout", type=float, default=30.0, help="seconds before a decode counts as a hang")
  p.add_argument("--no-cli", action="store_true", help="skip the crafted files' subprocess table")
  a = p.parse_args()
  height, width = (int(v) for v in a.size.split("x"))
  signal.signal(signal.SIGALRM, _alarm)
  codec = Codec.load(a.model)
  image = synthetic_image(a.seed, height, width)
  data = codec.compress(image).data
  t = time.perf_counter()
  assert np.array_equal(codec.decompress(data), codec.reconstruct(image))
  print(f"# decoder fuzzing: {a.model}, a {height}x{width} image -> {len(data)} bytes (format "
        f"{data[4]}); a clean decode takes {time.perf_counter() - t:.2f} s with compilation")
  ok = fuzz_mutants(codec, data, a.mutants, a.seed, a.timeout)
  if not a.no_cli:
    ok &= crafted_table(codec, data, a.model, a.timeout)
  print(f"\n{'no crash, no hang' if ok else 'FAILURES above'}")
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
