"""DVC stage `evaluate`: a thin entry point into `add evaluate` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
