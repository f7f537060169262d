"""Where a benchmark's run goes: ``{"runs": {label: record}}`` in its results JSON, so that runs under other labels
(another machine, the previous code) stay beside it. Imported by the scripts of this folder (``python bench/x.py``
puts it on the path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from add.core.io import atomic_write_json


def save_run(out: Path, label: str, record: dict[str, Any]) -> None:
    """Write ``record`` under ``label`` into ``out`` (atomically), keeping the other labels' runs."""
    previous = json.loads(out.read_text()) if out.is_file() else {}
    runs = previous.get("runs", {}) if isinstance(previous, dict) else {}
    runs[label] = record
    atomic_write_json(out, {"runs": runs})
    print(f"wrote {out} (run '{label}')")
