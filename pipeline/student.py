"""DVC stage `student`: a thin entry point into `add student` (see add/cli.py)."""

import sys

from add.cli import main

if __name__ == "__main__":
    sys.exit(main(["student", *sys.argv[1:]]))
