"""The models compared on one cross dataset: frame and video AUC per model, one bar per compression."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from add.core.io import atomic_path


def plot_models(path: str | os.PathLike, name: str, results: Mapping[str, Mapping[str, Mapping]]) -> None:
    """``results[compression][model path]`` = metrics; writes a PNG (atomically, no timestamp: byte-stable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compressions = list(results)
    models = list(dict.fromkeys(m for per_model in results.values() for m in per_model))  # teacher first
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.3 * len(models) + 3), 3.6), dpi=100, sharey=True)
    width = 0.8 / max(1, len(compressions))
    x = np.arange(len(models))
    for ax, key, title in zip(axes, ("auc", "video_auc"), ("frame AUC", "video AUC"), strict=True):
        for i, compression in enumerate(compressions):
            values = [results[compression].get(m, {}).get(key) for m in models]
            heights = [np.nan if v is None else v for v in values]
            bars = ax.bar(x + (i - (len(compressions) - 1) / 2) * width, heights, width, label=compression)
            for bar, v in zip(bars, values, strict=True):
                ax.annotate("n/a" if v is None else f"{v:.2f}", (bar.get_x() + bar.get_width() / 2,
                            0.02 if v is None else v), ha="center", va="bottom", fontsize=7)
        ax.axhline(0.5, ls="--", c="grey", lw=0.8)
        ax.set(xticks=x, ylim=(0, 1.08), title=f"{name}: {title}")
        ax.set_xticklabels(models, rotation=20, ha="right", fontsize=7)
    axes[0].set_ylabel("AUC (0.5 = chance)")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
