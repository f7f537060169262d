"""``params.yaml`` as one typed, frozen object, read once per process: :class:`Params`.

Each section is a frozen dataclass below, and the schema is those dataclasses' fields: a key is valid when it is a
field, its type and bounds are the field's annotation and metadata. To add a key, add a field (with a default); to
add a section, add a :class:`Section` dataclass and a field of that type to :class:`Params`; a section whose value is
a list of entries is a field typed ``tuple[EntryDataclass, ...]`` (each entry is checked like a section).

One rule for every number (:func:`number`): ``20``, ``20.0``, ``2e1``, ``1e-3`` (YAML 1.1 reads the last two as
strings, and so does ``dvc exp run -S beta=2e1``) are numbers; an integer key takes any of them that is whole.
Anything else is a :class:`ParamsError` naming the key, as is an unknown key (naming the closest valid one).

    params = load_params()          # the Params of params.yaml, parsed once per file version
    params.train.lr, params.beta    # typed, defaults filled in

``uv run add params`` (:mod:`add.tools.params`) prints the resolved params as YAML (every default filled in) or
the one-line error.
This module imports nothing heavy: the data stages and the extraction workers load it.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import math
import os
import pkgutil
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from add.core.errors import ParamsError
from add.core.layout import DISTILLER_NAMES, LIST_METHOD, METHOD_CHOICES, QUALITIES

__all__ = ["DEFAULT_PARAMS", "CrossEntry", "Params", "ParamsError", "Section", "load_params", "parse_params",
           "recording"]

DEFAULT_PARAMS = "params.yaml"
FLOAT32_MAX_EXPONENT = math.log(float.fromhex("0x1.fffffep+127"))  # 88.7228...: exp() of more overflows float32


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

    quality: Literal["raw", "c23"] = "raw"


@dataclass(frozen=True)
class Model(Section):
    name: str = "resnet50"  # checked against the model registry by add.training.config.ModelConfig (needs timm)
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
    """The student's distiller and its loss keys (documented in :mod:`add.losses.config`); β is the top-level
    ``beta``. Per-stage weight lists are checked against the model's stage count by the loss factory."""

    MOVED: typing.ClassVar[dict[str, str]] = {
        "beta": "β has one home, the top-level 'beta' (what `dvc exp run -S beta=20` sets); write it there"}

    method: Literal[DISTILLER_NAMES] = "add"  # type: ignore[valid-type]
    quality: Literal["c23", "c40"] = "c40"
    init_from_teacher: bool = False
    alpha: float = num(1.0, min=0)
    # null: the model's default (LossDefaults: ResNet [1, 2, 0.25] and 1, EfficientNet [1, 0, 0] and 0.01)
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


# ------------------------------------------------------------------ model-dependent defaults (null in the params)
@dataclass(frozen=True)
class LossDefaults:
    """The frequency-loss settings a model's family takes when ``distill.fr_weights`` / ``distill.gamma_fr`` are
    null. The authors distil four stages and this project three (add.models: ResNet layer2/3/4, EfficientNet
    blocks.2/4/6, their stages without the first), so their first weight is dropped: ResNet
    (``src/resnet_kd_fr_mv.yaml``) ``layer_fr: [0, 1, 2, 0.25]``, ``gamma_fr: 1`` -> [1, 2, 0.25]; EfficientNet
    (``src/efficientnet_kd_fr_mv.yaml``) ``layer_fr: [0, 1, 0, 0]`` over its stride-4/8/16/32 blocks, ``gamma_fr:
    0.01`` -> [1, 0, 0], FR on the stride-8 stage only. Another family (Xception) takes the ResNet values."""

    fr_weights: tuple[float, ...]
    gamma_fr: float


LOSS_DEFAULTS: dict[str, LossDefaults] = {
    "resnet": LossDefaults(fr_weights=(1.0, 2.0, 0.25), gamma_fr=1.0),
    "efficientnet": LossDefaults(fr_weights=(1.0, 0.0, 0.0), gamma_fr=0.01),
}


def family(model: str | None) -> str:
    """``resnet``, ``efficientnet`` or ``other`` for a timm model name (``tf_efficientnet_lite0`` is efficientnet)."""
    name = (model or "").lower()
    if name.startswith("resnet"):
        return "resnet"
    return "efficientnet" if "efficientnet" in name else "other"


def loss_defaults(model: str | None) -> LossDefaults:
    """The FR defaults of ``model``'s family (the ResNet ones for another family or no model)."""
    return LOSS_DEFAULTS.get(family(model), LOSS_DEFAULTS["resnet"])


@dataclass(frozen=True)
class Students(Section):
    qualities: tuple[str, ...] = items(("c40",), choices=("c23", "c40"))
    # the distilled students of dvc.yaml's `student` stage; the plain student (none) is stage student_none, and
    # refused here by check() with the reason rather than as an unknown value
    distill: tuple[str, ...] = items(("add",), choices=DISTILLER_NAMES)

    def check(self) -> None:
        distill = object.__getattribute__(self, "distill")
        if "none" in distill:
            rest = [d for d in distill if d != "none"] or ["add"]
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


# The dataset formats: the modules of add/data/datasets/formats/, listed without importing them (the format registry,
# add.data.datasets.registry, lists the same folder; a new format is a new module there)
CROSS_FORMATS = tuple(sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parents[1] / "data" / "datasets"
                                                                       / "formats")]) if not m.name.startswith("_")))
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
            registry = importlib.import_module("add.data.datasets.registry")  # by name: core imports no data module
            takers = [f.name for f in registry.all_formats() if "quality" in f.options]
            if self.format not in takers:
                raise ParamsError(f"{what}: quality only applies to format {', '.join(takers)} (FF++'s quality folder)")

    @property
    def dfd_quality(self) -> str:
        return self.quality or "c23"


@dataclass(frozen=True)
class Params(Section):
    """The whole file. ``seed`` and ``beta`` are top-level so that ``dvc exp run -S beta=20`` works verbatim."""

    seed: int = num(0, min=0)
    beta: float = num(16.0, min=0)  # β of Eq. 10, the weight of the multi-view attention loss
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
        data, teacher = object.__getattribute__(self, "data"), object.__getattribute__(self, "teacher")
        given, source = object.__getattribute__(data, "list_quality"), object.__getattribute__(data, "source")
        if source == "list" and QUALITIES.index(given) > QUALITIES.index(object.__getattribute__(teacher, "quality")):
            raise ParamsError(f"params 'data.list_quality' is {given}, so the list has no "
                              f"{object.__getattribute__(teacher, 'quality')} video for teacher.quality; set "
                              f"teacher.quality: {given} (or list videos of that quality)")
        names = [entry.name for entry in object.__getattribute__(self, "cross")]
        for name in names:
            if names.count(name) > 1:
                raise ParamsError(f"params 'cross': the name {name!r} is used twice (each names metrics/cross/<name>/)")
        self._check_qualities()

    def _check_qualities(self) -> None:
        """Every quality dvc.yaml plans a student or a teacher evaluation for is one the data holds: refused here, at
        start-up, not after the teacher trained. (data.qualities drops what is better than the teacher's quality;
        these are matrix axes of dvc.yaml, so a dropped value would still be planned.)"""
        from add.core.qualities import rank, student_qualities

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


# --------------------------------------------------------------------------------------------------------- parse
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def number(value: Any, key: str, *, integer: bool = False) -> int | float:
    """The one number rule: an int, a float or a decimal string (``2e1``, ``1e-3``), finite; ``integer``: whole."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        text = value.strip()
        value = int(text) if text.lstrip("+-").isdigit() else float(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        example = "20 or 2e1" if integer else "20, 0.5, 1e-3 or 2e1"
        raise ParamsError(f"params '{key}' must be {kind}, got {value!r} (e.g. {example})")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParamsError(f"params '{key}' must be finite, got {value}")
        if integer:
            if not value.is_integer():
                raise ParamsError(f"params '{key}' must be {kind}, got {value!r}")
            value = int(value)
    return value if integer else float(value)


def _bounded(value: int | float, key: str, meta: Mapping[str, Any]) -> int | float:
    for name, ok, words in (("min", lambda v, b: v >= b, ">="), ("max", lambda v, b: v <= b, "<="),
                            ("gt", lambda v, b: v > b, ">"), ("lt", lambda v, b: v < b, "<")):
        if name in meta and not ok(value, meta[name]):
            raise ParamsError(f"params '{key}' must be {words} {meta[name]:g}, got {value:g}")
    return value


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Section)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return None if value is None else _convert(inner[0], value, key, meta)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ParamsError(f"params '{key}' must be one of {list(choices)}, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"params '{key}' must be true or false, got {value!r}")
        return value
    if tp in (int, float):
        return _bounded(number(value, key, integer=tp is int), key, meta)
    if tp is str:
        if not isinstance(value, str) or not value:
            raise ParamsError(f"params '{key}' must be a non-empty string, got {value!r}")
        return value
    if origin is tuple:
        item = get_args(tp)[0]
        if isinstance(value, str) and item is str:
            value = [value]
        if not isinstance(value, list | tuple):
            raise ParamsError(f"params '{key}' must be a list, got {value!r}")
        if meta.get("nonempty", True) and not value:
            raise ParamsError(f"params '{key}' must not be empty")
        if _is_section(item):
            return tuple(parse_section(item, v, f"{key}[{i}]", record_as=None) for i, v in enumerate(value))
        choices = meta.get("choices")
        if choices is not None:
            bad = [v for v in value if v not in choices]
            if bad:
                raise ParamsError(f"params '{key}': unknown value(s) {bad}; choose from {list(choices)}")
        out = tuple(_convert(item, v, f"{key}[{i}]", meta) for i, v in enumerate(value))
        if item is str and len(set(out)) != len(out):
            raise ParamsError(f"params '{key}' has duplicates: {list(out)}")
        return out
    if _is_section(tp):
        return parse_section(tp, value, key)
    raise TypeError(f"add.core.params: field {key} has an unsupported type {tp!r}")


def _unknown_key(where: str, key: Any, allowed: list[str]) -> ParamsError:
    full = f"{where}.{key}" if where else str(key)
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{where + '.' if where else ''}{close[0]}'?"
    else:
        hint = f"valid keys{' of ' + repr(where) if where else ''}: {', '.join(sorted(allowed))}"
    return ParamsError(f"params '{full}' is not a known key; {hint}")


def parse_section(cls: type[Section], raw: Any, where: str, *, record_as: str | None | bool = True) -> Any:
    """``raw`` (a mapping, or None for all defaults) as the dataclass ``cls``; ``where`` names it in errors.
    ``record_as``: the key its reads are recorded under (True: ``where``; None: not recorded)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ParamsError(f"params '{where}' must be a mapping, got {raw!r}")
    names = [f.name for f in fields(cls)]
    for key in raw:
        if key in cls.MOVED:
            raise ParamsError(f"params '{where}.{key}' is not a key of '{where}': {cls.MOVED[key]}")
        if key not in names:
            raise _unknown_key(where, key, names)
    hints = _hints(cls)
    values = {f.name: _convert(hints[f.name], raw[f.name], f"{where}.{f.name}" if where else f.name, f.metadata)
              for f in fields(cls) if f.name in raw}
    obj = cls(**values)
    _set_key(obj, where if record_as is True else record_as)
    obj.check()
    return obj


def _set_key(obj: Section, key: str | None) -> None:
    object.__setattr__(obj, "_key", key)
    for f in fields(obj):
        value = object.__getattribute__(obj, f.name)
        if isinstance(value, Section):
            _set_key(value, f.name if key == "" else None if key is None else f"{key}.{f.name}")


def parse_params(raw: Any) -> Params:
    """A params mapping (as read from YAML) as :class:`Params`; :class:`ParamsError` naming the key otherwise."""
    if not isinstance(raw, Mapping):
        raise ParamsError(f"expected a mapping at the top level, got {type(raw).__name__}")
    return parse_section(Params, raw, "")


def as_params(params: Params | Mapping[str, Any] | None) -> Params:
    """``params`` when it is a :class:`Params` already; a mapping is parsed (tests, scripts)."""
    if isinstance(params, Params):
        return params
    return parse_params({} if params is None else params)


_LOADED: dict[tuple, Params] = {}


def load_params(path: str | os.PathLike = DEFAULT_PARAMS) -> Params:
    """The :class:`Params` of ``path``, parsed once per process (per content of the file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    key = (str(path.resolve()), text)
    if key not in _LOADED:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ParamsError(f"{path}: not valid YAML: {e}") from None
        try:
            _LOADED[key] = parse_params(raw)
        except ParamsError as e:
            raise ParamsError(f"{path}: {e}") from None
    return _LOADED[key]


# ------------------------------------------------------------- legacy readers of one key (add.data.faces uses them)
def section(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``params[name]`` as a dict (empty when absent)."""
    value = params.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParamsError(f"params '{name}' must be a mapping, got {value!r}")
    return value


def get_int(cfg: Mapping, key: str, default: Any, *, where: str, min: int | None = None, max: int | None = None,
            allow_none: bool = False) -> int | None:
    value = cfg.get(key, default)
    if value is None and allow_none:
        return None
    bounds = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
    return _bounded(number(value, f"{where}.{key}", integer=True), f"{where}.{key}", bounds)


def get_float(cfg: Mapping, key: str, default: Any, *, where: str, min: float | None = None,
              max: float | None = None, allow_none: bool = False) -> float | None:
    value = cfg.get(key, default)
    if value is None and allow_none:
        return None
    bounds = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
    return _bounded(number(value, f"{where}.{key}"), f"{where}.{key}", bounds)
