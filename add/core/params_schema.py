"""The schema of ``params.yaml``: one frozen dataclass per section, whose fields are the keys (type, bounds in the
field's metadata, default), and :class:`Params`, the whole file. :mod:`add.core.params` parses a file against them.

To add a key, add a field (with a default); to add a section, add a :class:`Section` dataclass and a field of that
type to :class:`Params`; a section whose value is a list of entries is a field typed ``tuple[EntryDataclass, ...]``
(each entry is checked like a section). A :class:`Section` records which keys are read (:func:`recording`).
This module imports nothing heavy: the data stages and the extraction workers load it.
"""

from __future__ import annotations

import contextlib
import math
import re
import typing
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from add.core.errors import ParamsError
from add.core.layout import LIST_METHOD, METHOD_CHOICES, QUALITIES
from add.core.qualities import DEFAULT_TEACHER_QUALITY, TEACHER_QUALITIES, rank, student_qualities
from add.core.registry import DISTILLERS, FORMATS, PAPER_DISTILLER, PLAIN_STUDENT

FLOAT32_MAX_EXPONENT = math.log(float.fromhex("0x1.fffffep+127"))  # 88.7228...: exp() of more overflows float32
DEFAULT_BETA = 16.0  # β of Eq. 10 (the top-level ``beta``)


def num(default: Any, *, min: float | None = None, max: float | None = None, gt: float | None = None,
        lt: float | None = None, **meta: Any) -> Any:
    """A numeric field: ``min``/``max`` inclusive, ``gt``/``lt`` exclusive bounds (for a tuple: of each item)."""
    bounds = {k: v for k, v in (("min", min), ("max", max), ("gt", gt), ("lt", lt)) if v is not None}
    if isinstance(default, tuple | list):
        return field(default=tuple(default), metadata={**bounds, **meta})
    return field(default=default, metadata={**bounds, **meta})


def items(default: tuple, *, choices: tuple | None = None, nonempty: bool = True) -> Any:
    """A list field (written as a YAML list; a single string is a one-item list), optionally from ``choices``."""
    return field(default=tuple(default), metadata={"choices": choices, "nonempty": nonempty})


def entries(default: tuple = ()) -> Any:
    """A list section: a field typed ``tuple[EntryDataclass, ...]``, each entry checked like a section (errors name
    ``key[i].field``); empty by default. Reads of any entry are recorded as the list's key (DVC lists it whole)."""
    return field(default=tuple(default), metadata={"nonempty": False})


# ----------------------------------------------------------------------------------------------- reads, recorded
_READS: list[set[str]] = []
S = typing.TypeVar("S", bound="Section")


@contextlib.contextmanager
def recording() -> Iterator[set[str]]:
    """Collect the params keys read (``train.lr``, ``seed``, ``cross`` for a list section) inside the block: what a
    stage reads, derived by running its set-up (tests/test_dvc_params.py compares it with dvc.yaml)."""
    reads: set[str] = set()
    _READS.append(reads)
    try:
        yield reads
    finally:
        _READS.remove(reads)


class Section:
    """Base of the params dataclasses: records which keys are read while :func:`recording` is active."""

    _key: str | None = None  # "data", "" for the top level, None for the entries of a list section (see parse)
    MOVED: typing.ClassVar[dict[str, str]] = {}  # key -> where it lives instead (a refusal that says so)

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if _READS and name in type(self).__dataclass_fields__ and not isinstance(value, Section):
            key = object.__getattribute__(self, "_key")
            if key is not None:
                for reads in _READS:
                    reads.add(f"{key}.{name}" if key else name)
        return value

    def check(self) -> None:
        """Checks that involve several keys (override); raise ParamsError naming them."""

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


def read_whole(section: S) -> S:
    """``section``, every key of it read (recorded): for code that takes a whole section (the loss factory)."""
    section.to_dict()
    return section


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------------------ sections
@dataclass(frozen=True)
class Data(Section):
    source: Literal["demo", "ffpp", "list"] = "demo"
    root: str = "data/ffpp"
    list: str | None = None  # source: list: the CSV path,label,split[,group][,original] (add.data.list_source)
    missing: Literal["error", "skip"] = "error"  # a video with a missing file: stop, or leave it out and list it
    list_quality: Literal["raw", "c23"] = "raw"  # source: list: the quality of the listed files (c23: not re-encoded)
    download: bool = False
    agree_tos: bool = False
    server: Literal["EU", "EU2", "CA"] = "EU2"
    splits_url: str = "https://raw.githubusercontent.com/ondyari/FaceForensics/master/dataset/splits"
    methods: tuple[str, ...] = items(("Deepfakes",), choices=METHOD_CHOICES)
    qualities: tuple[str, ...] = items(QUALITIES, choices=QUALITIES)
    max_videos: int | None = num(None, min=1)
    frames_per_video: int = num(64, min=1, max=100_000)
    sampling: Literal["even", "random"] = "even"
    image_size: int = num(128, min=16, max=4096)
    jobs: int = num(0, min=0, max=1024)
    detect_threshold: float = num(0.2, min=-3.0, max=5.0)
    detect_upsample: int = num(0, min=0, max=3)
    detect_max_side: int = num(640, min=0)
    detect_size_tolerance: float = num(2.0, min=1.0, max=100.0)
    box_scale: float = num(1.3, min=1.0, max=4.0)
    reuse_boxes: bool = True

    def check(self) -> None:
        source, methods = object.__getattribute__(self, "source"), object.__getattribute__(self, "methods")
        if (source == "list") != (methods == (LIST_METHOD,)):
            raise ParamsError(f"params 'data.methods' must be [{LIST_METHOD}] exactly when data.source is list (the "
                              f"fakes of a list are one method), got {list(methods)} with data.source {source!r}")
        if source == "list" and object.__getattribute__(self, "list") is None:
            raise ParamsError("params 'data.list' must name the CSV (path,label,split[,group]) when data.source is "
                              "list")
        if not self.splits_url.startswith(("http://", "https://")):
            raise ParamsError(f"params 'data.splits_url' must be an http(s) URL, got {self.splits_url!r}")
        if 0 < self.detect_max_side < 64:
            raise ParamsError(f"params 'data.detect_max_side' must be 0 (full resolution) or >= 64, "
                              f"got {self.detect_max_side}")


@dataclass(frozen=True)
class Demo(Section):
    pairs: tuple[int, ...] = num((16, 4, 4), min=0)  # [target, source] pairs in train, val, test
    frames: int = num(32, min=1, max=100_000)
    width: int = num(854, min=2)
    height: int = num(480, min=2)
    fps: float = num(25.0, min=1, max=240)
    jobs: int | None = num(None, min=0, max=1024)  # null: data.jobs
    strength: float = num(1.0, min=0, max=4)

    def check(self) -> None:
        if len(self.pairs) != 3:
            raise ParamsError(f"params 'demo.pairs' must be three non-negative integers [train, val, test], "
                              f"got {list(self.pairs)}")


@dataclass(frozen=True)
class Shards(Section):
    max_samples_per_shard: int = num(1000, min=1)


@dataclass(frozen=True)
class Teacher(Section):
    """The teacher's input quality: raw (the paper) or c23 (no raw video is ever read; add.core.qualities)."""

    quality: Literal[TEACHER_QUALITIES] = DEFAULT_TEACHER_QUALITY  # type: ignore[valid-type]


@dataclass(frozen=True)
class Model(Section):
    name: str = "resnet50"  # a model of a backbone in add/models/backbones/ (checked by add.models.backbones)
    pretrained: bool = False
    weights: str | None = None


@dataclass(frozen=True)
class Train(Section):
    epochs: int = num(10, min=1)
    batch_size: int = num(144, min=1)
    lr: float = num(2e-4, gt=0)
    val_per_epoch: int = num(10, min=1)
    patience: int = num(10, min=1)
    warmup_epochs: int = num(0, min=0)
    pct_start: float = num(0.05, gt=0, lt=1)
    num_workers: int = num(0, min=0)
    max_steps: int | None = num(None, min=1)
    deterministic: bool = True
    threads: int = num(1, min=1, max=1024)
    # the students' seed (initialisation, shuffling, augmentation, dropout): null takes the top-level seed. The data,
    # shards and teacher never read it, so students that differ only in it share them (a paired study)
    seed: int | None = num(None, min=0)

    def check(self) -> None:
        if self.warmup_epochs >= self.epochs:
            raise ParamsError(f"params 'train.warmup_epochs' ({self.warmup_epochs}) must be < train.epochs "
                              f"({self.epochs}): the warm-up trains the head only")


@dataclass(frozen=True)
class Distill(Section):
    """The student's distiller (``method``: a module of add/losses/distillers/), the quality it sees, and the loss
    keys, declared once: the losses take this section resolved for the model (:func:`add.losses.config.distill_config`:
    per-stage lists against its stage count, nulls from its backbone, the FitNet defaults) with β added.

    Every key is optional; defaults follow the paper and the authors' code (``src/resnet_kd_fr_mv.yaml``). Per-stage
    lists have one entry per distilled feature stage (ResNet layer2, layer3, layer4); a 0 skips that stage.

    ADD (Eq. 10: L = CE + α·L_FR + β·L_MV, summed over stages with the per-stage weights)
      ``alpha``            1       α, weight of the frequency attention loss (≥ 0)
      ``beta``             16      β, weight of the multi-view attention loss: the top-level param ``beta`` (``dvc exp
                                   run -S beta=20``), never a ``distill`` key; the paper tunes it in 16-23
      ``fr_weights``       null    per-stage weights of L_FR; null: the model's backbone's (add/models/backbones/: the
                                   authors' configs; ``add params`` shows the value)
      ``mv_weights``       [0.5, 2.5, 2.0]  per-stage weights of L_MV
      ``gamma_fr``         null    γ_FR (≥ 0); null: the model's backbone's, like ``fr_weights`` (the paper's Table 3
                                   gives 1e-3 for EfficientNet-B0, the authors' config 0.01)
      ``fr_max_exponent``  88.72   cap on γ_FR·mean_c d (in (0, 88.72]); the default changes nothing unless exp would
                                   overflow float32; lower it (e.g. 20) to bound the weights and gradients
      ``gamma_mv``         100     γ_MV (≥ 0)
      ``eta_mv``           50      η_MV, weight of the contrastive terms (≥ 0; ignored by ``mv_nocontrast``)
      ``margin``           0.012   Δ, margin of the negative pair (≥ 0)
      ``directions``       12      K, random projection directions per stage and step (≥ 1)
      ``groups``           null    g, bins per direction; null: half the stage's channels (≥ 1)
      ``mv_vectors``       mass    multi-view vectors: ``mass`` (probability mass per bin, the authors') or ``cdf``
                                   (the cumulative distribution at the bin ends, ~g/6 times larger: not what γ_MV,
                                   η_MV, Δ and β were tuned for)
      ``mv_bins``          width   ``width`` (g equal-width bins over [min, max] of the projections, the authors') or
                                   ``count`` (g groups of equal element counts in projection order)
      ``mv_coords``        index   element coordinates: ``index`` (c, h, w), the authors', or ``unit`` (c/(C−1),
                                   h/(H−1), w/(W−1))
      ``mv_contrast``      both    contrastive terms C(S; T) + C(T; S) (``both``, the authors' code) or C(S; T) only
                                   (``student``, Eq. 9)
      The earlier form of this project is ``mv_vectors: cdf, mv_bins: count, mv_coords: unit, mv_contrast: student``;
      the equations of both are in :mod:`add.losses.multi_view`.
    Baselines (Table 1)
      ``fitnet_variant``   hint    ``hint`` (Romero et al., 1×1-conv regressor, MSE) or ``cosine`` (authors' code:
                                   2 − 2·cos of pooled features)
      ``fitnet_stage``     null    stage index into the feature list (negative counts from the end); null: the middle
                                   stage (layer3) for ``hint``, the last (layer4) for ``cosine``
      ``fitnet_weight``    null    null: 100 for ``hint`` (MSE), 16 for ``cosine`` (the authors' λ_KD)
      ``at_weight``        1000    weight of Attention Transfer (Zagoruyko & Komodakis' β)
      ``at_weights``       [1, 1, 1]  per-stage weights of AT
      ``nl_weight``        100     weight of the non-local loss (an MSE, like ``hint``)
      ``nl_weights``       [1, 1, 1]  per-stage weights of the non-local loss
      ``kd_weight``        1       weight of Hinton KD
      ``kd_temperature``   4       its temperature T (> 0; the authors' ``kd_T``)
    """

    MOVED: typing.ClassVar[dict[str, str]] = {
        "beta": "β has one home, the top-level 'beta' (what `dvc exp run -S beta=20` sets); write it there"}

    method: Literal[DISTILLERS.names()] = PAPER_DISTILLER  # type: ignore[valid-type]
    quality: Literal["c23", "c40"] = "c40"
    init_from_teacher: bool = False
    alpha: float = num(1.0, min=0)
    # null: the model's backbone's default (add/models/backbones/)
    fr_weights: tuple[float, ...] | None = num(None, min=0)
    mv_weights: tuple[float, ...] = num((0.5, 2.5, 2.0), min=0)
    gamma_fr: float | None = num(None, min=0)
    fr_max_exponent: float = num(FLOAT32_MAX_EXPONENT, gt=0, max=FLOAT32_MAX_EXPONENT)
    gamma_mv: float = num(100.0, min=0)
    eta_mv: float = num(50.0, min=0)
    margin: float = num(0.012, min=0)
    directions: int = num(12, min=1)
    groups: int | None = num(None, min=1)
    mv_vectors: Literal["mass", "cdf"] = "mass"
    mv_bins: Literal["width", "count"] = "width"
    mv_coords: Literal["index", "unit"] = "index"
    mv_contrast: Literal["both", "student"] = "both"
    fitnet_variant: Literal["hint", "cosine"] = "hint"
    fitnet_stage: int | None = None
    fitnet_weight: float | None = num(None, min=0)
    at_weight: float = num(1000.0, min=0)
    at_weights: tuple[float, ...] = num((1.0, 1.0, 1.0), min=0)
    nl_weight: float = num(100.0, min=0)
    nl_weights: tuple[float, ...] = num((1.0, 1.0, 1.0), min=0)
    kd_weight: float = num(1.0, min=0)
    kd_temperature: float = num(4.0, gt=0)


@dataclass(frozen=True)
class Students(Section):
    qualities: tuple[str, ...] = items(("c40",), choices=("c23", "c40"))
    # the distilled students of dvc.yaml's `student` stage; the plain student (none) is stage student_none, and
    # refused here by check() with the reason rather than as an unknown value
    distill: tuple[str, ...] = items((PAPER_DISTILLER,), choices=DISTILLERS.names())

    def check(self) -> None:
        distill = object.__getattribute__(self, "distill")
        if PLAIN_STUDENT in distill:
            rest = [d for d in distill if d != PLAIN_STUDENT] or [PAPER_DISTILLER]
            raise ParamsError(f"params 'students.distill' lists none: the plain student always trains, in its own "
                              f"stage student_none (so `dvc exp run -S beta=...` does not retrain it); list only the "
                              f"distilled students, e.g. [{', '.join(rest)}]. DVC says the same as \"output "
                              f"'models/student/.../none' is specified in student@...-none and student_none@...\"")


@dataclass(frozen=True)
class Evaluate(Section):
    teacher_qualities: tuple[str, ...] = items(("raw", "c40"), choices=QUALITIES)


@dataclass(frozen=True)
class Gallery(Section):
    faces_per_class: int = num(4, min=1, max=32)


CROSS_FORMATS = FORMATS.names()  # the modules of add/data/datasets/formats/, listed without importing them
CROSS_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class CrossEntry(Section):
    """One test-only dataset of ``cross:`` that every trained model is scored on (add.evaluation.cross; README:
    Cross-dataset evaluation). ``name``, ``format`` and ``root`` are required."""

    name: str | None = None  # letters, digits, - and _: names metrics/cross/<name>/
    format: Literal[CROSS_FORMATS] | None = None  # type: ignore[valid-type]
    root: str | None = None  # the dataset's folder (list: its CSV file)
    compress: tuple[str, ...] = items(("as_is",), choices=("as_is", "c40"))  # c40: re-encoded with libx264 -crf 40
    frames_per_video: int = num(32, min=1, max=1000)
    faces: Literal["largest", "all", "given"] = "largest"  # all: every face scored, the frame takes the maximum;
    # given: the files are face crops already (no detection, add.data.faces.given_crops)
    missing: Literal["error", "skip"] = "error"  # skip: listed files that are missing are left out and counted
    quality: Literal["raw", "c23", "c40"] | None = None  # dfd only: FF++'s quality folder (default c23)

    def check(self) -> None:
        what = f"params 'cross' entry {self.name!r}" if self.name else "params 'cross'"
        absent = [k for k in ("name", "format", "root") if getattr(self, k) is None]
        if absent:
            raise ParamsError(f"{what}: an entry needs {', '.join(absent)} (name, format, root are required)")
        if not CROSS_NAME.fullmatch(self.name):
            raise ParamsError(f"{what}: name must be letters, digits, - and _ (it names metrics/cross/<name>/)")
        if self.quality is not None:  # the formats whose reader takes FF++'s quality folder (their Format.options)
            takers = [name for name in FORMATS.names() if "quality" in FORMATS.load(name).options]
            if self.format not in takers:
                raise ParamsError(f"{what}: quality only applies to format {', '.join(takers)} (FF++'s quality folder)")

    @property
    def dfd_quality(self) -> str:
        return self.quality or "c23"


@dataclass(frozen=True)
class Params(Section):
    """The whole file. ``seed`` and ``beta`` are top-level so that ``dvc exp run -S beta=20`` works verbatim."""

    seed: int = num(0, min=0)
    beta: float = num(DEFAULT_BETA, min=0)  # β of Eq. 10, the weight of the multi-view attention loss
    data: Data = field(default_factory=Data)
    demo: Demo = field(default_factory=Demo)
    shards: Shards = field(default_factory=Shards)
    teacher: Teacher = field(default_factory=Teacher)
    model: Model = field(default_factory=Model)
    train: Train = field(default_factory=Train)
    distill: Distill = field(default_factory=Distill)
    students: Students = field(default_factory=Students)
    evaluate: Evaluate = field(default_factory=Evaluate)
    gallery: Gallery = field(default_factory=Gallery)
    cross: tuple[CrossEntry, ...] = entries()  # test-only datasets (add.evaluation.cross)

    def check(self) -> None:
        get = object.__getattribute__  # checks are not reads of a stage
        data, teacher = get(self, "data"), get(get(self, "teacher"), "quality")
        given = get(data, "list_quality")
        if get(data, "source") == "list" and rank(given) > rank(teacher):
            raise ParamsError(f"params 'data.list_quality' is {given}, so the list has no {teacher} video for "
                              f"teacher.quality; set teacher.quality: {given} (or list videos of that quality)")
        names = [entry.name for entry in get(self, "cross")]
        for name in names:
            if names.count(name) > 1:
                raise ParamsError(f"params 'cross': the name {name!r} is used twice (each names metrics/cross/<name>/)")
        self._check_qualities()

    def _check_qualities(self) -> None:
        """Every quality dvc.yaml plans a student or a teacher evaluation for is one the data holds: refused here, at
        start-up, not after the teacher trained. (data.qualities drops what is better than the teacher's quality;
        these are matrix axes of dvc.yaml, so a dropped value would still be planned.)"""
        get = object.__getattribute__  # checks are not reads of a stage
        teacher = get(get(self, "teacher"), "quality")
        lower = list(student_qualities(teacher))
        bad = [q for q in get(get(self, "students"), "qualities") if q not in lower]
        if bad:
            raise ParamsError(f"params 'students.qualities' lists {bad}, not lower than teacher.quality {teacher!r}: "
                              f"a student must see a lower quality than its teacher (allowed: {lower})")
        listed = get(get(self, "evaluate"), "teacher_qualities")
        bad = [q for q in listed if rank(q) < rank(teacher)]
        if bad:
            keep = [q for q in listed if q not in bad] or [q for q in QUALITIES if rank(q) >= rank(teacher)]
            raise ParamsError(f"params 'evaluate.teacher_qualities' lists {bad}, better than teacher.quality "
                              f"{teacher!r}: no such video is ever read with a {teacher} teacher; set "
                              f"evaluate.teacher_qualities: [{', '.join(keep)}]")
