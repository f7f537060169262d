"""DVC stage `gallery`: a thin entry point into `add gallery` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["gallery", *sys.argv[1:]]))
