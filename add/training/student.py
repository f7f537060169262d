"""Stage ``student``: a student on compressed crops (c23 or c40), distilled from the frozen raw-trained teacher.

    add student --method Deepfakes --quality c40 --distill add

The teacher (``models/teacher/{method}/best.pt``) runs in eval mode without gradients on the raw crops of the same
samples; the distiller (``add.losses.build_distiller``, configured by the ``distill`` params section and the
top-level ``beta``) adds its weighted terms to the student's CE, and its own parameters train with the student.
``--distill none`` trains the plain student (it reads the teacher only for ``distill.init_from_teacher``, and no
loss key). Writes ``models/student/{method}/{quality}/{distill}/{best,last}.pt`` and
``dvclive/student/{method}/{quality}/{distill}/``. The training spec is the teacher's (:mod:`add.training.spec`).
"""

from __future__ import annotations

from add.core.args import add_student_quality, default_method, training_parser
from add.core.params import Params, load_params
from add.core.registry import DISTILLERS, PAPER_DISTILLER
from add.training.spec import TrainingSettings, TrainingSpec, fit, read_settings


def settings(params: Params, method: str = "Deepfakes", quality: str = "c40", distill: str = PAPER_DISTILLER
             ) -> TrainingSettings:
    """All the stage reads from the params."""
    return read_settings(params, TrainingSpec.student(method, quality, distill, params.teacher.quality))


def main(argv: list[str] | None = None) -> int:
    parser = training_parser("add student", __doc__)
    add_student_quality(parser, None, "student input (default: distill.quality, c40)")
    parser.add_argument("--distill", default=None, choices=DISTILLERS.names(),
                        help="distiller (default: distill.method)")
    parser.add_argument("--teacher", default=None, help="teacher checkpoint (default: models/teacher/{method}/best.pt)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    spec = TrainingSpec.student(args.method or default_method(params), args.quality or params.distill.quality,
                                args.distill or params.distill.method, params.teacher.quality)
    fit(params, spec, shards=args.shards, models=args.models, live=args.dvclive, teacher=args.teacher,
        resume=not args.no_resume)
    return 0
