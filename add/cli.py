"""``add`` command line: one sub-command per pipeline stage (``STAGES``), and the user's tools (``TOOLS``).

Each sub-command lives in its own module exposing ``main(argv) -> int`` that parses its own options, so the
console script, ``pipeline/<stage>.py`` and tests all run exactly the same code. Only the chosen command's module
is imported (``add predict --help`` loads no torch through this file).
"""

from __future__ import annotations

import importlib
import sys

from add.core.errors import AddError

# The pipeline's stages, in order: DVC stage == pipeline/<name>.py == add <name> == the one module of its layer that
# holds the stage's settings(params), main(argv) and run (add/data/videos.py, add/training/teacher.py, ...).
STAGES = {
    "videos": ("add.data.videos", "build the demo or download/validate FF++, then index the videos"),
    "extract": ("add.data.extract.stage", "detect faces and crop aligned raw/c23/c40 triplets"),
    "shards": ("add.data.shards", "pack face triplets into WebDataset shards"),
    "teacher": ("add.training.teacher", "train the teacher on raw crops"),
    "student": ("add.training.student", "train a student on compressed crops, distilled from the teacher"),
    "evaluate": ("add.evaluation.evaluate", "evaluate a checkpoint on the test split"),
    "gallery": ("add.evaluation.gallery", "Grad-CAM gallery: the same test faces through teacher, plain and ADD "
                "students"),
    "spectrum": ("add.evaluation.spectrum", "the paper's Fig. 1: mean spectra of raw and compressed test crops"),
    "cross_demo": ("add.data.demo.cross_demo", "build the demo's cross-dataset set (Celeb-DF layout, new faces, an "
                   "unseen manipulation)"),
    "cross": ("add.evaluation.cross", "score every trained model on the test-only datasets of params 'cross'"),
}
TOOLS = {
    "predict": ("add.tools.predict", "score your own videos and images with a trained detector (JSON, Grad-CAM)"),
    "download": ("add.data.download", "download FaceForensics++ videos and splits (needs data.agree_tos: true)"),
    "lists": ("add.tools.lists", "write a data.list CSV (data.source: list) from a labelled dataset "
              "(celebdf, dfdc, dfdcp, dfd, folder, list), split by group"),
    "export": ("add.tools.export", "write the model card into a checkpoint trained before cards existed"),
    "params": ("add.tools.params", "print the resolved params (every default filled in), or the error"),
    "preset": ("add.tools.presets", "write params.yaml for one of the paper's experiments (presets/NAME.yaml)"),
}
COMMANDS = {**STAGES, **TOOLS}
# Old names, kept for one release: they run the new command and say where it went.
ALIASES = {"train": "teacher", "distill": "student"}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: add <command> [options]   (add <command> --help for its options)", "", "pipeline stages:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in STAGES.items()]
    lines += ["", "tools:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in TOOLS.items()]
    lines += ["", "old names: " + ", ".join(f"{old} -> {new}" for old, new in ALIASES.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name in ALIASES:
        print(f"add {name}: renamed to `add {ALIASES[name]}` (pipeline/{ALIASES[name]}.py, DVC stage "
              f"{ALIASES[name]}); the old name goes away in the next release", file=sys.stderr)
        name = ALIASES[name]
    if name not in COMMANDS:
        print(f"add: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        from add.core.determinism import pin_for_command

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
