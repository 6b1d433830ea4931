"""`python -m jcomp.eval ...`: see `jcomp.eval.rd` for the flags and outputs."""

import sys

from jcomp.eval import rd

if __name__ == "__main__":
  sys.exit(rd.main())
