"""The sidecar beside each video's tar: its decisions, a fingerprint of what produced them and the tar's size and
sha256. A rerun whose fingerprint matches and whose tar is intact reads the video back instead of extracting it."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from add.core.io import atomic_write_json, file_record, file_sha256
from add.core.layout import ORIGINAL
from add.data.extract.config import SIDECAR_FORMAT, ExtractConfig
from add.data.extract.jobs import Alignment, VideoJob, VideoResult, _kept


def fingerprint(job: VideoJob, cfg: ExtractConfig, reference: tuple[str, str | None] | None = None) -> str | None:
    """Hash of the output settings, the video's key, its input files' content and, for a fake that may reuse its
    original's boxes, ``reference`` = (the original's key, its fingerprint); None if a file is unreadable."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": SIDECAR_FORMAT, "key": job.key, "settings": cfg.output_settings(),
                         "reference": list(reference) if reference else None}, sort_keys=True).encode())
    for q in cfg.qualities:
        path = job.paths.get(q)
        if not path:
            return None
        try:
            h.update(f"{q}:{file_sha256(path)}".encode())
        except OSError:
            return None
    return h.hexdigest()


def _read_sidecar(job: VideoJob, cfg: ExtractConfig, print_: str | None) -> VideoResult | None:
    """The stored result of a video whose outputs are complete and current, else None."""
    if print_ is None:
        return None
    try:
        side = json.loads(Path(job.sidecar).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(side, dict) or side.get("format") != SIDECAR_FORMAT or side.get("fingerprint") != print_:
        return None
    decisions = side.get("decisions")
    if not isinstance(decisions, list) or not decisions or not all(isinstance(d, dict) for d in decisions):
        return None
    kept = bool(_kept(decisions))
    tar = side.get("tar")
    if kept and not _tar_matches(job.tar, tar):
        return None
    alignment = None
    if kept and job.method == ORIGINAL and cfg.reuse_boxes:
        alignment = Alignment.from_json(side.get("alignment"))
        if alignment is None:  # its fakes need it: extract again rather than let them depend on what survived
            return None
    decisions = [{k: (math.nan if v is None else v) for k, v in d.items()} for d in decisions]
    return VideoResult(job.index, decisions, None, resumed=True, fingerprint=print_,
                       boxes_from=str(side.get("boxes_from", "")), note=str(side.get("note", "")),
                       alignment=alignment, tar=tar if kept else None)


def _tar_matches(path: str, record: Any) -> bool:
    """The tar at ``path`` is the one the sidecar recorded: same size (checked first, for free), same sha256."""
    if not (isinstance(record, dict) and isinstance(record.get("size"), int) and isinstance(record.get("sha256"), str)):
        return False
    try:
        if os.stat(path).st_size != record["size"]:
            return False
        return file_record(path) == {"size": record["size"], "sha256": record["sha256"]}
    except OSError:
        return False


def _write_sidecar(job: VideoJob, result: VideoResult) -> None:
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}
             for d in result.decisions]
    atomic_write_json(job.sidecar, {"format": SIDECAR_FORMAT, "fingerprint": result.fingerprint,
                                    "boxes_from": result.boxes_from, "note": result.note, "decisions": clean,
                                    "tar": result.tar,
                                    "alignment": result.alignment.to_json() if result.alignment else None})
