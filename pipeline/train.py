"""DVC stage `train`: a thin entry point into `add train` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
