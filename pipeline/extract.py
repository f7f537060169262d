"""DVC stage `extract`: a thin entry point into `add extract` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["extract", *sys.argv[1:]]))
