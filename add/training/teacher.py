"""Stage ``teacher``: the teacher of one manipulation method, trained on raw crops (``teacher.quality``: raw, or c23).

    add teacher --method Deepfakes          # params.yaml: seed, model.*, train.*, data.methods (default method)

Writes ``models/teacher/{method}/best.pt`` (best validation ACC; what ``add student`` and ``add evaluate`` read),
``models/teacher/{method}/last.pt`` (the resumable state: rerun after an interruption to continue) and DVCLive logs in
``dvclive/teacher/{method}/``. The test split is never read here. The training spec is the students'
(:mod:`add.training.spec`): the teacher is the raw-input model with distiller ``none``.
"""

from __future__ import annotations

from add.core.args import default_method, training_parser
from add.core.params import Params, load_params
from add.training.spec import TrainingSettings, TrainingSpec, fit, read_settings


def settings(params: Params, method: str = "Deepfakes") -> TrainingSettings:
    """All the stage reads from the params."""
    return read_settings(params, TrainingSpec.teacher(method, params.teacher.quality))


def main(argv: list[str] | None = None) -> int:
    args = training_parser("add teacher", __doc__).parse_args(argv)
    params = load_params(args.params)
    spec = TrainingSpec.teacher(args.method or default_method(params), params.teacher.quality)
    fit(params, spec, shards=args.shards, models=args.models, live=args.dvclive, resume=not args.no_resume)
    return 0
