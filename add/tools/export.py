"""``add export``: write the model card (what ``add predict`` needs) into a checkpoint trained before cards existed,
from the params and shards it was trained with.

    add export models/teacher/Deepfakes/best.pt --params params.yaml --shards data/shards --out new.pt
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from add.core.args import add_shards, stage_parser
from add.core.params import Params, load_params
from add.models.card import CardError, build_card


def export(checkpoint: str | os.PathLike, params: Params | Mapping[str, Any], shards: str | os.PathLike,
           out: str | os.PathLike) -> dict[str, Any]:
    """Write ``checkpoint`` with the card of ``params`` + ``shards`` to ``out`` (atomically); return the card."""
    from add.training.checkpoints import load_checkpoint, save_checkpoint

    payload = load_checkpoint(checkpoint)
    meta = dict(payload.get("meta") or {})
    if "model" not in meta:
        raise CardError(f"{checkpoint}: its metadata does not name the model; cannot describe it")
    trained_on = {k: meta[k] for k in ("kind", "method", "quality", "distill") if k in meta}
    meta["card"] = build_card(params, shards, meta["model"], trained_on)
    payload["meta"] = meta
    if isinstance(payload.get("best"), dict):  # a last.pt keeps a copy of best.pt: describe it too
        payload["best"] = {**payload["best"], "meta": {**payload["best"].get("meta", {}), "card": meta["card"]}}
    save_checkpoint(out, payload)
    return meta["card"]


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add export", "Write the model card (what add predict needs) into a checkpoint trained "
                          "before cards existed, from the params (--params) and shards it was trained with.")
    parser.add_argument("checkpoint", help="best.pt or last.pt written by add teacher / add student")
    add_shards(parser)
    parser.add_argument("--out", default=None, help="output checkpoint (default: overwrite CHECKPOINT)")
    args = parser.parse_args(argv)
    card = export(args.checkpoint, load_params(args.params), args.shards, args.out or args.checkpoint)
    print(f"{args.out or args.checkpoint}: model card written ({card['model']}, {card['image_size']} px, "
          f"trained on {card['trained_on']})")
    return 0
