"""DVC stage `shards`: a thin entry point into `add shards` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["shards", *sys.argv[1:]]))
