"""Trains a jcomp model: `python -m jcomp.main --config=configs/med.py --workdir=DIR`.

`--config` is a config file, or a packaged config by name from any folder: `med`, `med.py:rate=low`,
`quickstart`, `zoo:model=NAME` (`config_lib.resolve`).

Intentionally short (as Flax's examples): flags, then `train.train_and_evaluate`. Bad input (config typo,
missing data, a workdir of another model) ends with a one-line error and exit status 1.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jcomp import config_lib

config_flags.DEFINE_config_file(
    "config", None, "Training config: a packaged config by name (med, compact.py:bpp=0.3, zoo:model=NAME) "
    "or a file (configs/med.py).", lock_config=True)
flags.DEFINE_string("workdir", None, "Where checkpoints, config.json and TensorBoard events go.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every file operation at INFO
  from jcomp import train  # pylint: disable=g-import-not-at-top (after flags: keeps --help fast)
  from jcomp.checkpoint import CheckpointError  # pylint: disable=g-import-not-at-top
  from jcomp.data.sources import DataError  # pylint: disable=g-import-not-at-top
  from jcomp.eval.rd import EvalError  # pylint: disable=g-import-not-at-top (config.report's)
  try:
    train.train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
  except (DataError, CheckpointError, EvalError, ValueError, train.TrainingDiverged) as e:
    print(f"error: {_one_line(e)}", file=sys.stderr)
    sys.exit(1)


def _one_line(e: BaseException) -> str:
  while len(e.args) == 1 and isinstance(e.args[0], BaseException):  # config_flags wraps a KeyError
    e = e.args[0]
  message = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
  if "Traceback (most recent call last)" in message:  # config_flags embeds get_config's traceback
    message = message.strip().splitlines()[-1]
  return " ".join(message.split())


def _resolve_config(argv: list[str]) -> list[str]:
  """argv with the value of --config (`--config=V` or `--config V`) resolved by `config_lib.resolve`."""
  argv = list(argv)
  for i, arg in enumerate(argv):
    name, eq, value = arg.partition("=")
    if name in ("--config", "-config"):
      if eq:
        argv[i] = f"{name}={config_lib.resolve(value)}"
      elif i + 1 < len(argv):
        argv[i + 1] = config_lib.resolve(argv[i + 1])
  return argv


def _parse_flags(argv):
  """absl's parsing, but a bad flag (e.g. a typo in a --config override) is a one-line error, no traceback."""
  try:
    argv = flags.FLAGS(_resolve_config(argv))
    flags.FLAGS.config.keys()  # config_flags defers a config file's load error to the first access
    return argv
  except Exception as e:  # pylint: disable=broad-except (flags.Error, or config_flags' AttributeError, ...)
    print(f"error: invalid flag: {_one_line(e)}", file=sys.stderr)
    sys.exit(1)


def run():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
  run()
