"""The command line the stages share: one parser with ``--params``, and the options several stages take.

Every enumerated option has its ``choices``, so a bad value is a usage error (exit 2, with the valid values) before
any work starts, not a ``ParamsError`` from deep inside the stage. Default paths come from :mod:`add.core.layout`.
"""

from __future__ import annotations

import argparse

from add.core.layout import DVCLIVE, METHOD_CHOICES, MODELS, SHARDS, STUDENT_QUALITIES
from add.core.params import DEFAULT_PARAMS, Params


def stage_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """A stage's parser: its docstring as the description and ``--params``."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    return parser


def add_method(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default=None, choices=METHOD_CHOICES,
                        help="manipulation method (default: the first of data.methods)")


def add_student_quality(parser: argparse.ArgumentParser, default: str | None, help: str) -> None:
    parser.add_argument("--quality", default=default, choices=STUDENT_QUALITIES, help=help)


def add_shards(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", default=SHARDS, help="shard folder with index.json (default: %(default)s)")


def add_models(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=MODELS, help="checkpoint root (default: %(default)s)")


def training_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options ``add teacher`` and ``add student`` share."""
    parser = stage_parser(prog, description)
    add_method(parser)
    add_shards(parser)
    add_models(parser)
    parser.add_argument("--dvclive", default=DVCLIVE, help="DVCLive root (default: %(default)s)")
    parser.add_argument("--no-resume", action="store_true", help="ignore an existing last.pt and start afresh")
    return parser


def default_method(params: Params) -> str:
    """The first of ``data.methods``: the method a stage runs when ``--method`` is not given."""
    return params.data.methods[0]
