"""DVC stage `videos`: a thin entry point into `add videos` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["videos", *sys.argv[1:]]))
