"""Face manipulations of the demo dataset, made by a process the way face swaps are made (issue 28).

Every manipulation works on a region of interest (ROI) of a finished original frame, float32 RGB in [0, 1], and
changes only pixels where its blend mask is non-zero, so a fake equals its original outside the face. No pattern is
planted: every trace a fake carries is what one of the steps below leaves, so its evidence has one cause and spans
frequencies (a resampling blur and lost skin texture that compression also removes, a blend boundary and an
alignment error at the scale of facial features, a colour mismatch that even c40 keeps). Four kinds:

- ``swap`` (a graphics swap, as FaceSwap): the source identity's face, which the renderer warps to the target's pose
  (:mod:`.rendering`; it knows both heads' pose) through an aligned crop (a second bilinear resampling: the warp's
  interpolation blur) with an alignment error (an offset and a scale error of the warped-in face), lit by the
  target's light, colour-transferred toward the target's face only part of the way (Reinhard's mean/std transfer in
  CIE Lab, :func:`colour_transfer`) and blended through a feathered mask whose edge is partly hardened (the blend
  boundary).
- ``swap_gen`` (an autoencoder swap, as Deepfakes and FaceShifter): the same swap passed through a low-resolution
  generator before the blend (:func:`generator`: area down-sampling, bilinear up-sampling; the skin texture and fine
  detail are lost).
- ``resynth`` (neural re-rendering, as NeuralTextures): the target's own face re-synthesised through the
  low-resolution generator, slightly misregistered (a sub-pixel shift, resampled), blended back with the feathered
  mask.
- ``selfblend`` (expression transfer, as Face2Face; the process of Self-Blended Images, Shiohara & Yamasaki 2022):
  the target blended with a transformed copy of itself — scaled and shifted about the face centre, colour-jittered,
  blurred or sharpened — through the feathered, partly hardened mask.

``strength`` (``demo.strength``) scales every imperfection of the process linearly (the knobs at the top of this
module give strength 1). At ``strength=0`` the process is perfect: ``resynth`` and ``selfblend`` return the original
(their change is undetectable), and ``swap``/``swap_gen`` are the ideal swap — the source face warped once exactly to
the target's pose, lit by the target's light, fully colour-transferred, no generator, blended with the feathered
mask — so a fake minus its strength-0 twin is the process's traces alone (``add.data.demo.calibration``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from add.data.seeds import rng_for

KINDS = ("swap", "swap_gen", "resynth", "selfblend")

# ---- The process's imperfections at strength 1 (each scaled linearly by demo.strength; 0 = a perfect process). These
# are the calibration's knobs (issue 28, item 2): the colour mismatch and the alignment error survive c40 (raise them
# if the raw teacher is too weak on c40), the resampling blur and the generator's resolution loss do not (raise them
# for more raw-only evidence), the hardened blend edge is in between.
COLOUR_KEEP = 0.9  # share of the source-to-target colour difference (Lab mean/std) the swap leaves uncorrected
EDGE_HARDEN = 0.4  # how far the blend mask moves from feathered (0) toward the ~1 px edged inner region (1)
GEN_SCALE = 2.0  # the generator's down-sampling factor (1 = no generator); 1 + strength * (GEN_SCALE - 1)
ALIGN_ERROR_PX = 16.0  # offset of the swapped-in face from the target's face (per video, random direction), pixels
ALIGN_SCALE_ERROR = 0.06  # its relative scale error (per video, random sign)
ALIGN_ANGLE_DEG = 5.0  # largest rotation of the aligned crop the source face is resampled through (warp blur)
RESYNTH_SHIFT_PX = 0.5  # misregistration of the re-rendered face (per video, random direction), pixels
SELF_SCALE = 0.03  # self-blend: largest relative scale change of the transformed copy
SELF_SHIFT_PX = 2.0  # self-blend: largest shift of the copy, pixels
SELF_COLOUR = 0.05  # self-blend: largest per-channel gain change of the copy
SELF_BLUR = 0.9  # self-blend: Gaussian sigma (px) of the blurred copy, or the unsharp amount of the sharpened one

# Share of each kind among a method's fakes (balanced counts, shuffled by the seed; see assign_kinds).
METHOD_MIX: dict[str, dict[str, int]] = {
    "Deepfakes": {"swap_gen": 1},  # FF++'s Deepfakes: an autoencoder's output, every video
    "FaceSwap": {"swap": 1},
    "Face2Face": {"selfblend": 1},
    "NeuralTextures": {"resynth": 1},
    "FaceShifter": {"swap_gen": 1},
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


def _direction(rng: np.random.Generator) -> tuple[float, float]:
    angle = rng.uniform(0, 2 * np.pi)
    return float(np.cos(angle)), float(np.sin(angle))


@dataclass(frozen=True)
class Manipulation:
    """Per-video process parameters; every imperfection is 0 (a perfect process) at ``strength`` 0."""

    kind: str
    colour_keep: float = 0.0  # share of the colour difference left uncorrected (0: full Reinhard transfer)
    edge_harden: float = 0.0  # 0: feathered blend mask, 1: the ~1 px edged one
    gen_scale: float = 1.0  # generator's down-sampling factor; 1: no generator pass
    align_offset: tuple[float, float] = (0.0, 0.0)  # (dx, dy) px of the swapped-in face (swap) / re-render (resynth)
    align_scale: float = 0.0  # relative scale error of the swapped-in face
    align_angle: float = 0.0  # degrees of the aligned crop's rotation (0: no second resampling)
    self_scale: float = 0.0  # self-blend copy: relative scale change
    self_shift: tuple[float, float] = (0.0, 0.0)  # self-blend copy: shift, px
    self_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # self-blend copy: per-channel gain
    self_blur: float = 0.0  # self-blend copy: > 0 Gaussian sigma (px), < 0 minus the unsharp amount

    @classmethod
    def draw(cls, kind: str, rng: np.random.Generator, strength: float = 1.0) -> Manipulation:
        """The kind's parameters at ``strength``. Every random value is drawn whatever the kind and strength, in one
        order, so a fake and its strength-0 twin share their directions and signs."""
        if kind not in KINDS:
            raise ValueError(f"unknown manipulation kind {kind!r}; choose from {KINDS}")
        s = float(strength)
        offset = _direction(rng)
        scale_sign = float(rng.choice([-1.0, 1.0]))
        angle = float(rng.uniform(0.5, 1.0) * rng.choice([-1.0, 1.0]))
        reg = _direction(rng)
        self_scale = float(rng.uniform(-1.0, 1.0))
        self_shift = _direction(rng)
        self_gain = rng.uniform(-1.0, 1.0, 3)
        blur = float(rng.uniform(0.5, 1.0) * rng.choice([-1.0, 1.0]))
        if kind in ("swap", "swap_gen"):
            return cls(kind, colour_keep=min(1.0, s * COLOUR_KEEP), edge_harden=min(1.0, s * EDGE_HARDEN),
                       gen_scale=1.0 + s * (GEN_SCALE - 1.0) if kind == "swap_gen" else 1.0,
                       align_offset=(s * ALIGN_ERROR_PX * offset[0], s * ALIGN_ERROR_PX * offset[1]),
                       align_scale=s * ALIGN_SCALE_ERROR * scale_sign, align_angle=s * ALIGN_ANGLE_DEG * angle)
        if kind == "resynth":
            return cls(kind, gen_scale=1.0 + s * (GEN_SCALE - 1.0),
                       align_offset=(s * RESYNTH_SHIFT_PX * reg[0], s * RESYNTH_SHIFT_PX * reg[1]))
        return cls(kind, edge_harden=min(1.0, s * EDGE_HARDEN), self_scale=s * SELF_SCALE * self_scale,
                   self_shift=(s * SELF_SHIFT_PX * self_shift[0], s * SELF_SHIFT_PX * self_shift[1]),
                   self_gain=tuple(float(g) for g in 1.0 + s * SELF_COLOUR * self_gain),
                   self_blur=s * SELF_BLUR * blur)

    @property
    def swaps_identity(self) -> bool:
        return self.kind in ("swap", "swap_gen")


# ---------------------------------------------------------------------------------------------------- steps


def _affine3(m: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(m, np.float64), [0.0, 0.0, 1.0]])


def aligned_source(manip: Manipulation, patch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The source face patch (S×S) as the swap warps it in: ``(image, matrix)``, ``matrix`` (3×3) mapping the image's
    pixel coordinates to the target face patch's.

    ``image`` is the patch resampled (bilinear) into an aligned crop rotated by ``align_angle`` (as a face swap cuts
    and aligns the source face before its warp to the target: the second resampling is the warp's interpolation
    blur); ``matrix`` undoes that rotation and adds the alignment error (``align_offset``, ``align_scale`` about the
    patch centre). With no angle and no error: the patch itself and the identity (the renderer's one warp).
    """
    size = patch.shape[0]
    centre = ((size - 1) / 2, (size - 1) / 2)
    error = np.array([[1 + manip.align_scale, 0, 0], [0, 1 + manip.align_scale, 0], [0, 0, 1]], np.float64)
    error[:2, 2] = (-manip.align_scale * centre[0] + manip.align_offset[0],
                    -manip.align_scale * centre[1] + manip.align_offset[1])
    if manip.align_angle == 0:
        return patch, error
    rotation = _affine3(cv2.getRotationMatrix2D(centre, manip.align_angle, 1.0))  # patch -> crop
    image = cv2.warpAffine(patch, rotation[:2], (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT_101)
    return image, error @ np.linalg.inv(rotation)


def masked_mean(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weight = float(mask.sum())
    if weight <= 0:
        return np.zeros(img.shape[-1], np.float32)
    return (img * mask[..., None]).reshape(-1, img.shape[-1]).sum(0) / weight


def _masked_std(img: np.ndarray, mask: np.ndarray, mean: np.ndarray) -> np.ndarray:
    weight = float(mask.sum())
    if weight <= 0:
        return np.ones(img.shape[-1], np.float32)
    var = (((img - mean) ** 2) * mask[..., None]).reshape(-1, img.shape[-1]).sum(0) / weight
    return np.sqrt(np.maximum(var, 1e-8))


def colour_transfer(face: np.ndarray, target: np.ndarray, mask: np.ndarray, keep: float = 0.0) -> np.ndarray:
    """Reinhard et al.'s colour transfer in CIE Lab: ``face``'s per-channel mean and std under ``mask`` moved to
    ``target``'s, all the way (``keep`` 0) or leaving the share ``keep`` of the difference (1: unchanged)."""
    if keep >= 1:
        return face
    src = cv2.cvtColor(np.clip(face, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    dst = cv2.cvtColor(np.clip(target, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    mu_s, mu_t = masked_mean(src, mask), masked_mean(dst, mask)
    sd_s, sd_t = _masked_std(src, mask, mu_s), _masked_std(dst, mask, mu_t)
    moved = (src - mu_s) * (sd_t / sd_s) + mu_t
    lab = (moved + keep * (src - moved)).astype(np.float32)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1).astype(np.float32)


def generator(face: np.ndarray, scale: float) -> np.ndarray:
    """A low-resolution generator's rendering of ``face``: area down-sampling by ``scale``, bilinear up-sampling back
    (the face's fine detail and skin texture are lost). ``scale`` <= 1: unchanged."""
    if scale <= 1:
        return face
    h, w = face.shape[:2]
    small = cv2.resize(face, (max(1, round(w / scale)), max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    total = float(mask.sum())
    if total <= 0:
        return (mask.shape[1] - 1) / 2, (mask.shape[0] - 1) / 2
    ys, xs = np.indices(mask.shape)
    return float((xs * mask).sum() / total), float((ys * mask).sum() / total)


def transformed_copy(manip: Manipulation, roi: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The self-blend's copy of ``roi``: scaled by ``1 + self_scale`` about the mask's centroid and shifted
    (bilinear), gained per channel, then blurred or sharpened (``self_blur``). All zero: ``roi`` itself."""
    copy = roi
    if manip.self_scale != 0 or manip.self_shift != (0.0, 0.0):
        cx, cy = _centroid(mask)
        k = 1 + manip.self_scale
        m = np.array([[k, 0, (1 - k) * cx + manip.self_shift[0]], [0, k, (1 - k) * cy + manip.self_shift[1]]],
                     np.float64)
        copy = cv2.warpAffine(copy, m, (roi.shape[1], roi.shape[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT_101)
    if manip.self_gain != (1.0, 1.0, 1.0):
        copy = copy * np.asarray(manip.self_gain, np.float32)
    if manip.self_blur > 0:
        copy = cv2.GaussianBlur(copy, (0, 0), manip.self_blur)
    elif manip.self_blur < 0:
        copy = copy - manip.self_blur * (copy - cv2.GaussianBlur(copy, (0, 0), 1.0))
    return copy.astype(np.float32)


def registered(face: np.ndarray, offset: tuple[float, float]) -> np.ndarray:
    """``face`` shifted by ``offset`` (dx, dy) px with bilinear resampling; no shift: ``face`` itself."""
    if offset == (0.0, 0.0):
        return face
    m = np.array([[1, 0, offset[0]], [0, 1, offset[1]]], np.float64)
    return cv2.warpAffine(face, m, (face.shape[1], face.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def apply(manip: Manipulation, roi: np.ndarray, source: np.ndarray | None, hard_mask: np.ndarray,
          soft_mask: np.ndarray) -> np.ndarray:
    """The manipulated ROI (float32 RGB in [0, 1]); pixels where the blend mask is 0 are returned unchanged.

    ``roi``: the original frame's ROI; ``source``: the swap identity's face warped to the target's pose and lit by
    its light (:func:`aligned_source`, :func:`add.data.demo.rendering.fake_frames`; ignored unless the kind swaps
    identity); ``hard_mask``/``soft_mask``: the inner face region with a ~1 px / feathered edge. No step depends on
    where the ROI lies in the frame.
    """
    if manip.swaps_identity:
        if source is None:
            raise ValueError(f"a {manip.kind} manipulation needs a source face")
        face = colour_transfer(source, roi, soft_mask, manip.colour_keep)
    elif manip.kind == "resynth":
        face = registered(roi, manip.align_offset)
    else:
        face = transformed_copy(manip, roi, soft_mask)
    face = generator(face, manip.gen_scale)
    if face is roi:  # a perfect re-synthesis or self-blend (strength 0): the original, bit for bit
        return roi.copy()
    mask = soft_mask + manip.edge_harden * (hard_mask - soft_mask)
    m = mask[..., None]
    out = roi * (1.0 - m) + face * m
    return np.where(m > 0, np.clip(out, 0.0, 1.0), roi).astype(np.float32)
