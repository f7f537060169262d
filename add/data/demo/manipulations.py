"""Face manipulations of the demo dataset, with the artifact families the ADD paper is about.

Every manipulation works on a region of interest (ROI) of a finished original frame, float32 RGB in [0, 1], and
changes only pixels where its mask is non-zero, so a fake equals its original outside the face. Three kinds:

- ``swap`` (identity swap, as Deepfakes/FaceSwap): the source identity's face, warped to the target's pose, passed
  through a half-resolution autoencoder (area down-sampling; the decoder up-samples with a stride-2 transposed
  convolution, as pixel-shuffle decoders do: a faint period-2 checkerboard, and the skin texture is lost) and then
  sharpened (unsharp mask, as DeepFaceLab-style post-processing does: halos and boosted fine detail), slightly
  colour-corrected short of a match and not relit (a faint colour mismatch that flickers against the target's
  lighting), pasted with a mask a quarter of the way from feathered to hard-edged whose transition band is slightly
  darkened (a thin blending seam, the boundary that Face X-ray-like detectors look for). Made with ``strength=0`` it
  is a clean swap: feathered mask, matched colour, no sharpening, no checkerboard.
- ``gan`` (reenactment / neural rendering, as Face2Face/NeuralTextures): the target's own face re-synthesised by a
  generator whose last layer is a stride-2 transposed convolution. Its kernel covers even and odd output pixels
  unevenly (Odena et al. 2016), which leaves a period-2 checkerboard whose amplitude follows the image; a
  periodic fine texture (period 3-4 px) is added. Pasted with a feathered mask: no seam, only high-frequency traces.
- ``swap_gan`` (as FaceShifter): an identity swap re-synthesised by that generator (its stronger checkerboard and the
  periodic texture) and pasted as a swap: seam and checkerboard together, no sharpening.

Every kind also carries the generator's low-frequency shading ripple: a few plane waves of period 16-32 px and
11-15 levels RMS over the pasted face (in frame coordinates), the blotchy shading GAN decoders leave. It is the cue that
c40 weakens instead of erasing. The fine cues (checkerboard, periodic texture, lost skin texture, sharpening halos,
the thin seam) are high-frequency, so H.264 at c23 weakens them and at c40 removes them; the colour mismatch is kept
faint. Calibrated (issue 20) so that c40 keeps 5-40 % of each kind's artifact energy (``bench/calibration.py``,
:func:`add.data.demo.calibration.artifact_retention`): the raw teacher's evidence is weakened at c40, not gone, as on
FF++ (c40 baselines 60-93 % ACC), which is the situation ADD distils across. ``hf_excess`` of a fake over the same
manipulation made with ``strength=0`` (no artifacts), per quality, measures the fine-scale part only
(``add.data.demo.build.artifact_energy``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from add.data.seeds import rng_for

KINDS = ("swap", "gan", "swap_gan")
RIPPLE_LEVELS = (11.0, 15.0)  # RMS of the shading ripple, 8-bit levels
RIPPLE_PERIOD = (16.0, 32.0)  # its waves' periods, pixels
RIPPLE_WAVES = 3

# Share of each kind among a method's fakes (balanced counts, shuffled by the seed; see assign_kinds).
METHOD_MIX: dict[str, dict[str, int]] = {
    "Deepfakes": {"swap": 1, "swap_gan": 1},
    "FaceSwap": {"swap": 1},
    "Face2Face": {"gan": 1},
    "NeuralTextures": {"gan": 1},
    "FaceShifter": {"swap_gan": 1},
}
DEFAULT_MIX = {kind: 1 for kind in KINDS}


def assign_kinds(method: str, videos: list[str], seed: int) -> dict[str, str]:
    """Kind of each fake video of ``method``: counts in proportion to ``METHOD_MIX``, order shuffled by the seed.

    Balanced counts rather than independent draws, so even a two-fake demo has every kind of its method's mix.
    """
    mix = METHOD_MIX.get(method, DEFAULT_MIX)
    weights = np.array(list(mix.values()), float)
    counts = np.floor(weights / weights.sum() * len(videos)).astype(int)
    for i in range(len(videos) - counts.sum()):
        counts[i % len(counts)] += 1
    kinds = [kind for kind, n in zip(mix, counts, strict=True) for _ in range(n)]
    order = rng_for(seed, "kinds", method).permutation(len(videos))
    return {video: kinds[j] for video, j in zip(videos, order, strict=True)}


@dataclass(frozen=True)
class Manipulation:
    """Per-video artifact parameters; ``strength`` 0 gives a clean manipulation (identity swapped, no artifacts)."""

    kind: str
    checker_depth: float  # relative gain difference between even and odd pixels of the decoder's transposed conv
    texture_amp: float  # amplitude of the periodic generator texture (fraction of full scale)
    texture_period: int
    texture_phase: tuple[float, float]
    colour_correction: float  # share of the colour difference source -> target that the swap corrects
    colour_tint: tuple[float, float, float]  # extra per-channel gain of the swapped face
    seam_darkening: float  # relative darkening at the centre of the mask's transition band
    hard_edge: float  # 0: the swap is pasted with the feathered mask, 1: with the ~1 px edged one (visible boundary)
    sharpen: float  # unsharp-mask amount applied to a swapped face after decoding (DeepFaceLab-style sharpening)
    ripple_amp: float = 0.0  # RMS of the generator's low-frequency shading ripple (fraction of full scale)
    ripple_waves: tuple[tuple[float, float, float], ...] = ()  # (fx, fy, phase) of each wave, cycles per pixel

    @classmethod
    def draw(cls, kind: str, rng: np.random.Generator, strength: float = 1.0) -> Manipulation:
        if kind not in KINDS:
            raise ValueError(f"unknown manipulation kind {kind!r}; choose from {KINDS}")
        swap = kind in ("swap", "swap_gan")
        gan = kind in ("gan", "swap_gan")
        tint = 1.0 + strength * rng.uniform(-0.01, 0.01, 3)
        return cls(
            kind=kind,
            checker_depth=min(0.5, strength * rng.uniform(*((0.02, 0.04) if gan else (0.014, 0.028)))),
            texture_amp=strength * rng.uniform(1.4, 2.5) / 255 if gan else 0.0,
            texture_period=int(rng.choice([3, 4])),
            texture_phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
            colour_correction=max(0.0, 1.0 - strength * rng.uniform(0.02, 0.06)) if swap else 1.0,
            colour_tint=tuple(float(t) for t in tint) if swap else (1.0, 1.0, 1.0),
            seam_darkening=min(0.9, strength * rng.uniform(0.05, 0.1)) if swap else 0.0,
            hard_edge=min(1.0, 0.25 * strength) if swap else 0.0,
            sharpen=strength * rng.uniform(0.85, 1.4) if kind == "swap" else 0.0,
            ripple_amp=strength * rng.uniform(*RIPPLE_LEVELS) / 255,
            ripple_waves=tuple(_ripple_wave(rng) for _ in range(RIPPLE_WAVES)),
        )

    @property
    def swaps_identity(self) -> bool:
        return self.kind in ("swap", "swap_gan")


def _ripple_wave(rng: np.random.Generator) -> tuple[float, float, float]:
    period, angle = rng.uniform(*RIPPLE_PERIOD), rng.uniform(0, np.pi)
    return float(np.cos(angle) / period), float(np.sin(angle) / period), float(rng.uniform(0, 2 * np.pi))


def ripple(shape: tuple[int, int], origin: tuple[int, int], waves, amp: float) -> np.ndarray:
    """Sum of plane waves ``(fx, fy, phase)`` in frame coordinates, scaled to RMS ``amp``; H×W×1."""
    y = np.arange(shape[0], dtype=np.float32)[:, None] + origin[0]
    x = np.arange(shape[1], dtype=np.float32)[None, :] + origin[1]
    out = np.zeros(shape, np.float32)
    for fx, fy, phase in waves:
        out += np.sin(np.float32(2 * np.pi) * (np.float32(fx) * x + np.float32(fy) * y) + np.float32(phase))
    return (amp * np.sqrt(2.0 / max(len(waves), 1)) * out)[..., None].astype(np.float32)


def _pad_even(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.copyMakeBorder(img, 0, h % 2, 0, w % 2, cv2.BORDER_REFLECT_101)


def transposed_conv_up2(img: np.ndarray, depth: float) -> np.ndarray:
    """Stride-2 transposed convolution with the separable kernel ``[(1-d)/2, 1+d, (1-d)/2]``.

    Zero insertion followed by the kernel: even output pixels get ``(1+d)·x[i]``, odd ones ``(1-d)·(x[i] +
    x[i+1])/2``, i.e. bilinear up-sampling times a period-2 gain pattern ``1 ± d`` per axis (the checkerboard of a
    learned transposed convolution whose kernel size is not a multiple of its stride). ``d = 0`` is bilinear.
    """
    h, w = img.shape[:2]
    up = np.zeros((2 * h, 2 * w) + img.shape[2:], np.float32)
    up[::2, ::2] = img
    k = np.array([(1 - depth) / 2, 1 + depth, (1 - depth) / 2], np.float32)
    return cv2.sepFilter2D(up, -1, k, k, borderType=cv2.BORDER_REFLECT_101)


def decoder(face: np.ndarray, depth: float) -> np.ndarray:
    """A generator's view of ``face``: encoded at half resolution, decoded by ``transposed_conv_up2``."""
    h, w = face.shape[:2]
    even = _pad_even(face)
    small = cv2.resize(even, (even.shape[1] // 2, even.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return transposed_conv_up2(small, depth)[:h, :w]


def periodic_texture(shape: tuple[int, int], origin: tuple[int, int], period: int, phase: tuple[float, float],
                     amp: float) -> np.ndarray:
    """``amp·sin(2πx/p + φx)·sin(2πy/p + φy)`` in frame coordinates (``origin`` = ROI's top-left), H×W×1."""
    y = (np.arange(shape[0], dtype=np.float32) + origin[0]) * (2 * np.pi / period) + phase[1]
    x = (np.arange(shape[1], dtype=np.float32) + origin[1]) * (2 * np.pi / period) + phase[0]
    return (amp * np.outer(np.sin(y), np.sin(x)))[..., None].astype(np.float32)


def masked_mean(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weight = float(mask.sum())
    if weight <= 0:
        return np.zeros(img.shape[-1], np.float32)
    return (img * mask[..., None]).reshape(-1, img.shape[-1]).sum(0) / weight


def apply(manip: Manipulation, roi: np.ndarray, source: np.ndarray | None, hard_mask: np.ndarray,
          soft_mask: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """The manipulated ROI (float32 RGB in [0, 1]); pixels where the used mask is 0 are returned unchanged.

    ``roi``: the original frame's ROI; ``source``: the swap identity's face warped to the target's pose (ignored
    unless the kind swaps identity); ``hard_mask``/``soft_mask``: the inner face region with a ~1 px / feathered
    edge; ``origin``: the ROI's (y, x) in the frame, so that periodic artifacts are aligned to the frame's pixels.
    """
    if manip.swaps_identity:
        if source is None:
            raise ValueError(f"a {manip.kind} manipulation needs a source face")
        mask = soft_mask + manip.hard_edge * (hard_mask - soft_mask)
        face = source
        shift = manip.colour_correction * (masked_mean(roi, mask) - masked_mean(face, mask))
        face = (face + shift) * np.asarray(manip.colour_tint, np.float32)
    else:
        mask = soft_mask
        face = roi
    face = decoder(face, manip.checker_depth)
    if manip.sharpen > 0:
        face = face + manip.sharpen * (face - cv2.GaussianBlur(face, (0, 0), 0.8))
    if manip.texture_amp > 0:
        face = face + periodic_texture(face.shape[:2], origin, manip.texture_period, manip.texture_phase,
                                       manip.texture_amp)
    if manip.ripple_amp > 0:
        face = face + ripple(face.shape[:2], origin, manip.ripple_waves, manip.ripple_amp)
    if manip.seam_darkening > 0:
        # A ~3 px ring along the mask's edge (1 at the edge, 0 inside and outside); only its inner half shows.
        wide = cv2.GaussianBlur(mask, (0, 0), 1.2)
        band = np.clip(4.0 * wide * (1.0 - wide), 0.0, 1.0)
        face = face * (1.0 - manip.seam_darkening * band)[..., None]
    m = mask[..., None]
    out = roi * (1.0 - m) + face * m
    return np.where(m > 0, np.clip(out, 0.0, 1.0), roi).astype(np.float32)


def highpass(gray: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    gray = gray.astype(np.float32)
    return gray - cv2.GaussianBlur(gray, (0, 0), sigma)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def hf_energy(img: np.ndarray, box: tuple[int, int, int, int], sigma: float = 1.0) -> float:
    """Mean squared high-pass (``x - Gaussian(x, sigma)``) luma inside ``box`` (x0, y0, x1, y1), in 8-bit levels
    squared."""
    x0, y0, x1, y1 = box
    return float(np.mean(highpass(luma(img)[y0:y1, x0:x1], sigma) ** 2))


def hf_excess(img: np.ndarray, reference: np.ndarray, box: tuple[int, int, int, int], sigma: float = 1.0) -> float:
    """``hf_energy(img) - hf_energy(reference)`` inside ``box``: the fine-scale energy ``img`` has beyond
    ``reference``'s (e.g. a fake beyond the artifact-free version of the same manipulation)."""
    return hf_energy(img, box, sigma) - hf_energy(reference, box, sigma)
