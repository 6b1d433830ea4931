"""Where a command's output may go, and writing it so that a failure or a kill never leaves half a file.

`check_target` refuses an output that is one of the inputs (the same file by `os.path.samefile`: through a
symlink or a hard link too; even with force), an existing folder, or an existing file without force.
`write_file` writes through a temporary file in the target's folder, named `.NAME.jcomp-tmp-PID-XXXXXXXX`
(recognisable, and removable by hand, should a kill -9 leave one), fsyncs it, renames it over the target and
fsyncs the folder (where the platform allows), so after a crash the target holds the old or the new bytes.
On any failure (no space, `ulimit -f`, permissions) the temporary file is removed and `OutputError` says
what failed in one line; an interrupt (KeyboardInterrupt) removes it too and propagates.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterable

TMP_MARK = ".jcomp-tmp-"


class OutputError(Exception):
  """An output that may not or could not be written (one-line message)."""


def _same_file(a: str, b: str) -> bool:
  try:
    return os.path.samefile(a, b)
  except OSError:  # one of them missing or unreadable: compare the resolved paths
    return os.path.realpath(a) == os.path.realpath(b)


def check_target(path: str, sources: Iterable[str] = (), force: bool = False) -> None:
  """Raises OutputError unless `path` may be written: not one of `sources`, not a folder, and new or `force`."""
  for src in sources:
    if _same_file(path, src):
      raise OutputError(f"output {path} is the input file {src} itself (refused even with --force)")
  if os.path.isdir(path):
    raise OutputError(f"output {path} is a folder: name an output file")
  if os.path.lexists(path) and not force:
    raise OutputError(f"{path} exists (use --force to overwrite)")


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _fsync_dir(directory: str) -> None:
  """Makes a rename in `directory` durable; a no-op where folders cannot be opened or synced (Windows, some
  file systems)."""
  try:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def write_file(path: str, data: bytes) -> None:
  """Writes `data` to `path` atomically and durably (module doc); OutputError on failure."""
  directory = os.path.dirname(os.path.abspath(path))
  prefix = f".{os.path.basename(path)[:100]}{TMP_MARK}{os.getpid()}-"
  if not os.path.isdir(directory):
    try:
      os.makedirs(directory, exist_ok=True)
    except OSError as e:
      raise OutputError(f"cannot create folder {directory}: {e.strerror or e}") from None
  try:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix)
  except OSError as e:
    raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fchmod(f.fileno(), 0o666 & ~_umask())
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    if isinstance(e, OSError):
      raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    raise
  _fsync_dir(directory)
