"""``add`` command line: one sub-command per pipeline stage.

Each sub-command lives in its own module exposing ``main(argv) -> int`` that parses its own options, so the
console script, ``pipeline/<stage>.py`` and tests all run exactly the same code.
"""

from __future__ import annotations

import importlib
import sys

from add.determinism import pin_for_command
from add.errors import AddError

COMMANDS = {
    "videos": ("add.data.sources", "build the demo or download/validate FF++, then index the videos"),
    "download": ("add.data.download", "download FaceForensics++ videos and splits (needs data.agree_tos: true)"),
    "extract": ("add.data.extract.stage", "detect faces and crop aligned raw/c23/c40 triplets"),
    "shards": ("add.data.shards", "pack face triplets into WebDataset shards"),
    "train": ("add.train", "train the teacher on raw crops"),
    "distill": ("add.distill", "train a student on compressed crops, distilled from the teacher"),
    "evaluate": ("add.evaluate", "evaluate a checkpoint on the test split"),
    "gallery": ("add.gallery", "Grad-CAM gallery: the same test faces through teacher, plain and ADD students"),
    "spectrum": ("add.spectrum", "the paper's Fig. 1: mean spectra of raw and compressed test crops"),
    "cross_demo": ("add.cross.demo_stage", "build the demo's cross-dataset set (Celeb-DF layout, unseen faces and "
                   "manipulation)"),
    "cross": ("add.cross.stage", "score every trained detector on the test-only datasets of params 'cross'"),
    "predict": ("add.predict", "score your own videos and images with a trained detector (JSON, Grad-CAM)"),
    "export": ("add.card", "write the model card into a checkpoint trained before cards existed"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: add <command> [options]   (add <command> --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"add: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        pin_for_command(name, rest)  # before torch loads its kernels (train.deterministic)
        module = importlib.import_module(COMMANDS[name][0])
        return int(module.main(rest) or 0)
    except AddError as e:
        print(f"add {name}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: no traceback; every stage writes atomically, so what finished stays
        print(f"add {name}: interrupted; finished work is kept (run it again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
