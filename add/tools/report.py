"""The HTML report of ``add predict --report FILE.html``: one self-contained page (styles inline, images as data
URIs, no script, nothing fetched), readable offline in any browser.

Per input, in ``results`` order: the verdict (fake / real, or the status: no face, low coverage, error) and the score
against the card's threshold; a timeline of P(fake) per scored frame (an inline SVG: x the frame's time, y P(fake),
the threshold dashed, filled dots where the face was detected in the frame, hollow dots where the box was borrowed
from a neighbour); the face crops with their frame, time and P(fake), borrowed ones outlined dashed; the Grad-CAM
pairs when ``--cam`` was given. Then the files a folder walk skipped, and the model card.

Structure a test (or a script) can rely on: ``<section class="input" data-status=... data-label=...>`` per input,
``<svg class="timeline">`` with one ``<circle class="detected|borrowed">`` per frame, ``<figure class="face
detected|borrowed" data-frame=...>`` per crop, ``<figure class="cam">`` per Grad-CAM pair, ``<ul class="skipped">``.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#666;margin-bottom:16px}
table.summary{border-collapse:collapse;margin-bottom:24px}
table.summary td,table.summary th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}
section.input{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 16px;margin-bottom:20px}
section.input h2{font-size:16px;margin:0 0 6px;word-break:break-all}
.verdict{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600;margin-right:8px}
.v-fake{background:#c62828}.v-real{background:#2e7d32}.v-none{background:#757575}
.note{color:#8a5a00}.error{color:#b00020}
svg.timeline{background:#fff;border:1px solid #eee;margin:8px 0}
circle.detected{fill:#1565c0}circle.borrowed{fill:#fff;stroke:#1565c0;stroke-width:1.5}
.faces{display:flex;flex-wrap:wrap;gap:6px}
figure{margin:0;text-align:center;font-size:11px;color:#555}
figure.face img{width:96px;height:96px;border:2px solid #1565c0;display:block}
figure.borrowed img{border:2px dashed #999}
figure.cam img{height:120px;display:block}
.legend{font-size:12px;color:#666}
"""
TIMELINE_W, TIMELINE_H, PAD = 640, 140, 28


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _verdict(result: Mapping[str, Any]) -> str:
    label = result.get("label")
    if label in ("fake", "real"):
        return f'<span class="verdict v-{label}">{label.upper()}</span>'
    return f'<span class="verdict v-none">{html.escape(result["status"].replace("_", " ").upper())}</span>'


def timeline(frames: Sequence[Mapping[str, Any]], threshold: float) -> str:
    """An SVG plot of P(fake) per frame over time (frame index when all times are 0, as for an image)."""
    xs = [f["time"] for f in frames]
    if not any(xs):
        xs = [f["index"] for f in frames]
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return PAD + (v - lo) / span * (TIMELINE_W - 2 * PAD) if hi > lo else TIMELINE_W / 2

    def y(p: float) -> float:
        return TIMELINE_H - PAD - p * (TIMELINE_H - 2 * PAD)

    points = [(x(v), y(f["score"])) for v, f in zip(xs, frames, strict=True)]
    parts = [f'<svg class="timeline" width="{TIMELINE_W}" height="{TIMELINE_H}" viewBox="0 0 {TIMELINE_W} '
             f'{TIMELINE_H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="P(fake) per frame">',
             f'<line x1="{PAD}" y1="{y(0):.1f}" x2="{TIMELINE_W - PAD}" y2="{y(0):.1f}" stroke="#999"/>',
             f'<line x1="{PAD}" y1="{y(1):.1f}" x2="{TIMELINE_W - PAD}" y2="{y(1):.1f}" stroke="#eee"/>',
             f'<line class="threshold" x1="{PAD}" y1="{y(threshold):.1f}" x2="{TIMELINE_W - PAD}" '
             f'y2="{y(threshold):.1f}" stroke="#c62828" stroke-dasharray="4 3"/>',
             f'<text x="2" y="{y(1) + 4:.1f}" font-size="10">1</text>',
             f'<text x="2" y="{y(0) + 4:.1f}" font-size="10">0</text>',
             f'<text x="{TIMELINE_W - PAD}" y="{TIMELINE_H - 6}" font-size="10" text-anchor="end">'
             f'{"time (s)" if any(f["time"] for f in frames) else "frame"}: {lo:g} to {hi:g}</text>']
    if len(points) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#90caf9"/>')
    for (px, py), f in zip(points, frames, strict=True):
        kind = "borrowed" if f.get("face") == "borrowed" else "detected"  # "given" (--crops) drawn as detected
        parts.append(f'<circle class="{kind}" cx="{px:.1f}" cy="{py:.1f}" r="4"><title>frame {f["index"]}, '
                     f'{f["time"]:g} s, P(fake) {f["score"]:.3f}, {f.get("face", kind)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _section(position: int, result: Mapping[str, Any], visuals: Mapping[str, Any] | None, threshold: float) -> str:
    name = html.escape(result["input"])
    status = html.escape(result["status"])
    label = html.escape(str(result.get("label") or ""))
    out = [f'<section class="input" id="input-{position}" data-status="{status}" data-label="{label}">',
           f"<h2>{position + 1}. {name}</h2><p>{_verdict(result)}"]
    if result.get("score") is not None:
        out.append(f'P(fake) <b class="score">{result["score"]:.3f}</b> (threshold {threshold:g})')
        if result.get("coverage") is not None:
            out.append(f" · face detected in {result['coverage']:.0%} of the scored frames")
    out.append("</p>")
    for key in ("error", "note"):
        if result.get(key):
            out.append(f'<p class="{key}">{html.escape(result[key])}</p>')
    frames = result.get("frames") or []
    if frames:
        out.append(timeline(frames, threshold))
        out.append('<p class="legend">● face detected in the frame · ○ box borrowed from the nearest frame with a face'
                   ' · dashed line: threshold</p>')
    crops = (visuals or {}).get("crops") or []
    if crops:
        out.append('<div class="faces">')
        for f, png in zip(frames, crops, strict=True):
            kind = "borrowed" if f.get("face") == "borrowed" else "detected"
            caption = f"#{f['index']} · {f['time']:g} s<br>P(fake) {f['score']:.2f}"
            if kind == "borrowed":
                caption += f"<br>box of #{f['source']}"
            out.append(f'<figure class="face {kind}" data-frame="{f["index"]}"><img alt="face, frame {f["index"]}" '
                       f'src="{_data_uri(png)}"><figcaption>{caption}</figcaption></figure>')
        out.append("</div>")
    cams = (visuals or {}).get("cams") or []
    if cams:
        out.append('<h3>Grad-CAM (face | evidence for the predicted class)</h3><div class="faces">')
        for f, png in zip(frames, cams, strict=True):
            out.append(f'<figure class="cam" data-frame="{f["index"]}"><img alt="Grad-CAM, frame {f["index"]}" '
                       f'src="{_data_uri(png)}"><figcaption>#{f["index"]}</figcaption></figure>')
        out.append("</div>")
    out.append("</section>")
    return "".join(out)


def render(report: Mapping[str, Any], visuals: Sequence[Mapping[str, Any] | None] | None = None) -> str:
    """The page for an ``add predict`` report (its JSON) and, per result, the PNGs :func:`add.tools.predict.run`
    collected (``{"crops": [...], "cams": [...]}``; None or empty: no images)."""
    model = report.get("model", {})
    threshold = float(model.get("threshold", 0.5))
    results = report.get("results", [])
    visuals = list(visuals or [None] * len(results))
    rows = []
    for i, r in enumerate(results):
        score = "" if r.get("score") is None else f"{r['score']:.3f}"
        rows.append(f'<tr><td><a href="#input-{i}">{html.escape(r["input"])}</a></td><td>{_verdict(r)}</td>'
                    f"<td>{score}</td><td>{html.escape(r['status'])}</td></tr>")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>add predict report</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>add predict report</h1>",
             f'<p class="meta">model {html.escape(str(model.get("model", "?")))} · checkpoint '
             f'{html.escape(str(model.get("checkpoint", "?")))} · threshold {threshold:g} · '
             f"{len(results)} input(s)</p>",
             '<table class="summary"><tr><th>input</th><th>verdict</th><th>P(fake)</th><th>status</th></tr>',
             *rows, "</table>"]
    parts += [_section(i, r, v, threshold) for i, (r, v) in enumerate(zip(results, visuals, strict=True))]
    skipped = report.get("skipped") or []
    if skipped:
        parts.append('<h2>Skipped by the folder walks</h2><ul class="skipped">')
        parts += [f"<li>{html.escape(s['path'])}: {html.escape(s['reason'])}</li>" for s in skipped]
        parts.append("</ul>")
    card = html.escape(json.dumps({k: v for k, v in model.items() if k != "checkpoint"}, indent=2))
    parts.append(f"<details><summary>model card</summary><pre>{card}</pre></details>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
