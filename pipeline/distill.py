"""DVC stage `distill`: a thin entry point into `add distill` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["distill", *sys.argv[1:]]))
