"""DVC stage `cross_demo`: a thin entry point into `add cross_demo` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["cross_demo", *sys.argv[1:]]))
