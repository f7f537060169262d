"""Stage ``spectrum``: the paper's Fig. 1 from the test crops: what compression removes, in the frequency domain.

    add spectrum --method Deepfakes --quality c40     # -> plots/spectrum/Deepfakes/c40.png

For real and for fake test faces of ``method`` (every crop of the test split): the mean log-magnitude spectrum
``mean log(1 + |DFT(grey crop)|)`` of the raw crops and of the ``quality`` crops of the same frames, and their
normalised difference ``(D - min D) / (max D - min D)`` with ``D = raw - quality``. Spectra are drawn as the DFT
gives them, without ``fftshift``: the lowest frequencies in the four corners and the highest at the centre, as in
the paper's figure. Grey = ITU-R BT.601 luma of the RGB crop. The first crop of each class is shown beside them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from add.core.args import add_method, add_shards, add_student_quality, default_method, stage_parser
from add.core.errors import AddError
from add.core.layout import PLOTS, spectrum_png
from add.core.params import Params, load_params
from add.core.qualities import DEFAULT_TEACHER_QUALITY, check_student_quality
from add.data.loader import make_loader
from add.evaluation.figures import save_png

BATCH = 64
CLASS_NAMES = ("real", "fake")
LUMA = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)


class SpectrumError(AddError):
    """The test split lacks a class."""


def log_spectra(x: torch.Tensor) -> torch.Tensor:
    """``B x 3 x S x S`` loader crops in [-1, 1] -> ``B x S x S`` float64 ``log(1 + |DFT|)`` of their luma (0-255)."""
    pixels = ((x.double() + 1) * 127.5).round()  # the uint8 values the loader's crops were made from
    grey = (pixels * LUMA).sum(dim=1)
    return torch.log1p(torch.fft.fft2(grey).abs())


def mean_spectra(shards: str | os.PathLike, method: str, quality: str,
                 reference: str = DEFAULT_TEACHER_QUALITY) -> dict:
    """Per class: the mean log spectra of ``reference`` (the teacher's quality: raw, or c23) and ``quality`` crops,
    their count and a sample of each; the reference's entries are keyed "raw" whatever its quality."""
    sums: dict[int, dict[str, torch.Tensor]] = {}
    counts = {0: 0, 1: 0}
    samples: dict[int, dict[str, np.ndarray]] = {}
    for batch in make_loader(shards, method, "test", [reference, quality], BATCH, train=False, seed=0):  # no shuffle
        labels = batch["label"]
        for label in (0, 1):
            rows = labels == label
            if not rows.any():
                continue
            counts[label] += int(rows.sum())
            for key in (reference, quality):
                total = log_spectra(batch[key][rows]).sum(dim=0)
                sums.setdefault(label, {})[key] = sums.get(label, {}).get(key, 0) + total
                if key not in samples.setdefault(label, {}):
                    first = batch[key][rows][0]
                    samples[label][key] = ((first + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    missing = [CLASS_NAMES[label] for label, n in counts.items() if n == 0]
    if missing:
        raise SpectrumError(f"{shards}: the {method} test split has no {' or '.join(missing)} crops")
    out = {}
    for label in (0, 1):
        raw, compressed = (sums[label][k].numpy() / counts[label] for k in (reference, quality))
        diff = raw - compressed
        span = diff.max() - diff.min()
        out[label] = {"raw": raw, quality: compressed, "diff": (diff - diff.min()) / span if span > 0 else diff * 0,
                      "count": counts[label], "reference": reference,
                      "samples": {"raw": samples[label][reference], quality: samples[label][quality]}}
    return out


def draw(spectra: dict, method: str, quality: str, out: str | os.PathLike) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # one colour scale for every mean spectrum, so raw and compressed compare at a glance
    low = min(float(spectra[label][k].min()) for label in (0, 1) for k in ("raw", quality))
    high = max(float(spectra[label][k].max()) for label in (0, 1) for k in ("raw", quality))
    ref = spectra[0].get("reference", "raw")
    fig, axes = plt.subplots(2, 5, figsize=(13, 5.6), dpi=100)
    for r, label in enumerate((0, 1)):
        s = spectra[label]
        panels = [(s["samples"]["raw"], f"{ref} crop", None), (s["samples"][quality], f"{quality} crop", None),
                  (s["raw"], f"mean log|F|, {ref}", "viridis"), (s[quality], f"mean log|F|, {quality}", "viridis"),
                  (s["diff"], f"normalised difference {ref} - {quality}", "inferno")]
        for c, (image, title, cmap) in enumerate(panels):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if cmap is None:
                ax.imshow(image)
            else:
                limits = (low, high) if cmap == "viridis" else (0, 1)
                shown = ax.imshow(image, cmap=cmap, vmin=limits[0], vmax=limits[1])
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
            ax.set_title(title, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{CLASS_NAMES[label]} ({s['count']} crops)", fontsize=9)
    fig.suptitle(f"{method} test faces: spectra of {ref} and {quality} crops (DFT not shifted: lowest frequencies at "
                 f"the corners, highest at the centre, as the paper's Fig. 1)", fontsize=10)
    fig.tight_layout()
    save_png(fig, out)


def settings(params: Params, quality: str = "c40") -> str:
    """All the stage reads from the params: the teacher's quality, the spectra's reference (``data.methods`` only
    for a missing --method)."""
    reference = params.teacher.quality
    check_student_quality(reference, quality, key="--quality")
    return reference


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("add spectrum", __doc__)
    add_method(parser)
    add_student_quality(parser, "c40", "compressed crops compared with raw (default: %(default)s)")
    add_shards(parser)
    parser.add_argument("--out", default=None, help="PNG (default: plots/spectrum/{method}/{quality}.png)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    method = args.method or default_method(params)
    reference = settings(params, args.quality)
    out = Path(args.out) if args.out else spectrum_png(PLOTS, method, args.quality)
    draw(mean_spectra(args.shards, method, args.quality, reference), method, args.quality, out)
    print(f"spectrum: {out}")
    return 0
