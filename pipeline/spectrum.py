"""DVC stage `spectrum`: a thin entry point into `add spectrum` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["spectrum", *sys.argv[1:]]))
