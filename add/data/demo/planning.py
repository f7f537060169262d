"""Planning the demo: its params (``DemoConfig``) and the splits, identities and fake kinds drawn from the seed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from add.core.params import Params, ParamsError, as_params
from add.data import ffpp
from add.data.demo import manipulations as manip
from add.data.demo.rendering import MIN_SIDE, N_IDENTITIES, usable_identities

# ---------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class DemoConfig:
    """The ``demo:`` section of ``params.yaml`` plus the top-level ``seed``."""

    seed: int = 0
    pairs: tuple[int, int, int] = (16, 4, 4)  # [target, source] pairs in train, val, test
    frames: int = 32
    width: int = 854
    height: int = 480
    fps: float = 25
    jobs: int = 0  # parallel videos; 0 = all cores
    strength: float = 1.0  # scales the process's imperfections; 0 = a perfect process

    def __post_init__(self) -> None:
        self.check()
        # One spelling per value (25 and 25.0 would otherwise write different demo.json bytes).
        object.__setattr__(self, "pairs", tuple(self.pairs))
        object.__setattr__(self, "fps", float(self.fps))
        object.__setattr__(self, "strength", float(self.strength))

    def check(self) -> None:
        def bad(key: str, why: str, value: Any) -> ParamsError:
            return ParamsError(f"params '{key}' {why}, got {value!r}")

        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise bad("seed", "must be a non-negative integer", self.seed)
        pairs = self.pairs
        if (not isinstance(pairs, tuple | list) or len(pairs) != 3
                or any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in pairs)):
            raise bad("demo.pairs", "must be three non-negative integers [train, val, test]", pairs)
        if sum(pairs) < 1 or 2 * sum(pairs) > N_IDENTITIES:
            raise bad("demo.pairs", f"must add up to 1..{N_IDENTITIES // 2} (each pair uses two of the "
                      f"{N_IDENTITIES} demo face photos)", pairs)
        for key, lo, hi in (("frames", 1, 100_000), ("width", MIN_SIDE, 7680), ("height", MIN_SIDE, 4320),
                            ("jobs", 0, 1024)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise bad(f"demo.{key}", f"must be an integer in {lo}..{hi}", value)
        for key in ("width", "height"):
            if getattr(self, key) % 2:
                raise bad(f"demo.{key}", "must be even (H.264 4:2:0 needs even sides)", getattr(self, key))
        if isinstance(self.fps, bool) or not isinstance(self.fps, int | float) or not 1 <= self.fps <= 240:
            raise bad("demo.fps", "must be a number in 1..240", self.fps)
        if (isinstance(self.strength, bool) or not isinstance(self.strength, int | float)
                or not 0 <= self.strength <= 4):
            raise bad("demo.strength", "must be a number in 0..4", self.strength)

    @classmethod
    def from_params(cls, params: Params | dict[str, Any]) -> DemoConfig:
        """``seed`` and ``demo:``; ``demo.jobs`` defaults to ``data.jobs``. Nonsense raises ParamsError."""
        params = as_params(params)
        demo = params.demo
        return cls(seed=params.seed, pairs=demo.pairs, frames=demo.frames, width=demo.width, height=demo.height,
                   fps=demo.fps, jobs=params.data.jobs if demo.jobs is None else demo.jobs, strength=demo.strength)

    def build_kwargs(self, methods: Sequence[str] = ("Deepfakes",),
                     qualities: Sequence[str] = ffpp.QUALITIES) -> dict[str, Any]:
        """Keyword arguments of :func:`build_demo` (after ``root``)."""
        kwargs = asdict(self)
        kwargs["pairs"] = tuple(self.pairs)
        return {**kwargs, "methods": tuple(methods), "qualities": tuple(qualities)}


# ---------------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class VideoTask:
    """One video to write: an original (``method`` None) or the fake ``{target}_{source}`` of a method."""

    method: str | None
    target: str
    source: str | None
    target_identity: int
    source_identity: int | None
    kind: str | None

    @property
    def name(self) -> str:
        return self.target if self.method is None else f"{self.target}_{self.source}"


def plan(config: DemoConfig, methods: Sequence[str]) -> tuple[dict[str, list[list[str]]], dict[str, int],
                                                               dict[str, dict[str, str]]]:
    """Splits (FF++ format), the photo behind each id and the kind of each fake, all drawn from the seed."""
    usable = usable_identities()
    n_pairs = sum(config.pairs)
    if 2 * n_pairs > len(usable):
        raise ParamsError(f"params 'demo.pairs' {list(config.pairs)} needs {2 * n_pairs} identities but dlib finds "
                          f"only {len(usable)} of the demo face photos; use at most {len(usable) // 2} pairs")
    chosen = manip.rng_for(config.seed, "identities").permutation(len(usable))[:2 * n_pairs]
    ids = [f"{i:03d}" for i in range(2 * n_pairs)]
    identities = {id_: int(usable[j]) for id_, j in zip(ids, chosen, strict=True)}
    pairs = [[ids[2 * i], ids[2 * i + 1]] for i in range(n_pairs)]
    splits, start = {}, 0
    for split, count in zip(ffpp.SPLITS, config.pairs, strict=True):
        splits[split] = pairs[start:start + count]
        start += count
    fakes = [fake for a, b in pairs for fake in ffpp.pair_videos(a, b)[1]]
    kinds = {method: manip.assign_kinds(method, fakes, config.seed) for method in methods}
    return splits, identities, kinds
