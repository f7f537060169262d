"""DVC stage `cross`: a thin entry point into `add cross` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["cross", *sys.argv[1:]]))
