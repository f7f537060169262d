"""Registries owned where things are defined (timm's ``register_model``, torchdistill's ``register_*_loss``).

A :class:`Registry` is a package with one module per entry, named after it: ``add/losses/distillers/fitnet.py`` is
the distiller ``fitnet``, ``add/models/backbones/resnet.py`` the backbone ``resnet``. The names are the package's
module files, listed without importing anything (:func:`pkgutil.iter_modules` on its folder), so params validation
knows them without torch and without a second list; a module is imported only when its entry is needed, and
registers its object with the decorator ``@REGISTRY.register("name")`` under its own module name (checked).

    DISTILLERS.names()          # ('add', 'at', ...), from the files alone
    DISTILLERS["fitnet"]        # imports add.losses.distillers.fitnet, returns the class it registered

This module imports nothing heavy.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from add.core.errors import ParamsError

__all__ = ["BACKBONES", "DISTILLERS", "FORMATS", "PAPER_DISTILLER", "PLAIN_STUDENT", "Registry"]


class Registry(Mapping[str, Any]):
    """The entries of ``package`` (a dotted name), one per module; ``kind`` names them in errors. Modules whose name
    starts with ``_`` or is in ``internal`` (a shared base) are not entries."""

    def __init__(self, kind: str, package: str, *, internal: tuple[str, ...] = ("base",)):
        self.kind, self.package, self.internal = kind, package, internal
        self._entries: dict[str, Any] = {}

    def folder(self) -> Path:
        """The package's folder, found without importing it (its top-level package only)."""
        top, *rest = self.package.split(".")
        spec = importlib.util.find_spec(top)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"registry {self.kind}: package {top!r} not found")
        return Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)

    def names(self) -> tuple[str, ...]:
        """Every entry's name, sorted: the package's module files (nothing imported)."""
        return tuple(sorted(m.name for m in pkgutil.iter_modules([str(self.folder())])
                            if not m.name.startswith("_") and m.name not in self.internal))

    def check(self, name: str, *, key: str | None = None) -> str:
        """``name`` when it is an entry; a ParamsError naming the params ``key`` (and the closest name) otherwise."""
        names = self.names()
        if name in names:
            return name
        close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if key is not None:
            raise ParamsError(f"params '{key}' must be one of {list(names)}, got {name!r}{hint}")
        raise ParamsError(f"unknown {self.kind} {name!r}; choose from {list(names)}{hint}")

    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator (or call on an object): register it as ``name``, which must be its module's name (checked when
        :meth:`load` imports the module)."""
        def decorate(obj: Any) -> Any:
            self._entries[name] = obj
            return obj
        return decorate

    def load(self, name: str, *, key: str | None = None) -> Any:
        """The entry ``name``, importing its module on first use."""
        self.check(name, key=key)
        if name not in self._entries:
            before = set(self._entries)
            module = f"{self.package}.{name}"
            importlib.import_module(module)
            added = set(self._entries) - before  # with what its imports registered (a base it subclasses)
            if name not in added or any(f"{self.package}.{n}" not in sys.modules for n in added):
                raise ValueError(f"{module} must register its {self.kind}, under its module name {name!r} "
                                 f"(@{self.kind.upper()}S.register({name!r})); it registered {sorted(added)}")
        return self._entries[name]

    # a read-only mapping name -> entry: iterating lists the names (nothing imported), indexing imports one
    def __getitem__(self, name: str) -> Any:
        return self.load(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self.names()


DISTILLERS = Registry("distiller", "add.losses.distillers")  # the classes of add/losses/distillers/<name>.py
BACKBONES = Registry("backbone", "add.models.backbones")  # the Backbone of add/models/backbones/<name>.py
# the Format of add/data/datasets/formats/<name>.py (add.data.datasets.registry)
FORMATS = Registry("dataset format", "add.data.datasets.formats", internal=())

# The two distillers the pipeline itself names: the plain student (stage student_none, the gallery's and the cross
# stage's baseline; no teacher) and the paper's (distill.method's default, the gallery's distilled view).
PLAIN_STUDENT = "none"
PAPER_DISTILLER = "add"
