"""``add params``: print the resolved params as YAML (every default filled in) or the one-line error.

The params themselves (schema, parser, defaults) are :mod:`add.core.params`; this is only their printout.
"""

from __future__ import annotations

import argparse

import yaml

from add.core.params import DEFAULT_PARAMS, Params, load_params
from add.models.backbones import backbone_of


class _Dumper(yaml.SafeDumper):
    """Sections as blocks, lists inline: the layout of params.yaml."""


_Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def to_yaml(params: Params) -> str:
    return yaml.dump(params.to_dict(), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def model_defaults_shown(params: Params, text: str) -> str:
    """``text`` (:func:`to_yaml`) with each null key that means "the model's default" annotated with its value (its
    backbone's, add/models/backbones/; a model no backbone claims is refused naming model.name)."""
    family, defaults = backbone_of(params.model.name)
    out = []
    for line in text.splitlines(keepends=True):
        key = line.strip().split(":")[0]
        if line.startswith("  ") and line.rstrip().endswith(": null") and key in ("fr_weights", "gamma_fr") \
                and getattr(params.distill, key) is None:
            value = getattr(defaults, key)
            value = list(value) if isinstance(value, tuple) else value
            line = f"{line.rstrip()}  # null -> model default ({family}): {value}\n"
        out.append(line)
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    """``add params``: print the resolved params (every default filled in) as YAML; exit 1 with the error."""
    parser = argparse.ArgumentParser(prog="add params", description=main.__doc__)
    parser.add_argument("--params", default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    print(model_defaults_shown(params, to_yaml(params)), end="")
    return 0
