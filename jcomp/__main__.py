import sys

from jcomp.cli import main

sys.exit(main())
