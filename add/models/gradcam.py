"""Grad-CAM of a detector (Selvaraju et al. 2017) through captum's ``LayerGradCam``, and its overlay on a face.

captum is PyTorch's own attribution library (maintained by the PyTorch team); the ``grad-cam`` package would pull the
GUI ``opencv-python`` beside the ``opencv-python-headless`` this project uses. The layer is the detector's last
feature stage (``Detector.feature_modules[-1]``: ``layer4`` of a ResNet), the map is ReLU'd, upsampled (bilinear)
to the crop and scaled to [0, 1] per face; the target is the class the model predicts for that face, unless given.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam

from add.models.detector import Detector


def grad_cam(model: Detector, x: torch.Tensor, target: torch.Tensor | None = None) -> np.ndarray:
    """``B x H x W`` float32 maps in [0, 1] for the model inputs ``x`` (``B x 3 x H x W``) and the class per sample
    ``target`` (default: the predicted class). A map that is zero everywhere (no positive evidence) stays zero."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            if target is None:
                with torch.no_grad():
                    target = model(x).argmax(dim=1)
            layer = model.backbone.get_submodule(model.feature_modules[-1])
            attributions = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
            maps = LayerAttribution.interpolate(attributions.detach(), tuple(x.shape[-2:]), "bilinear")[:, 0]
    finally:
        model.train(was_training)
    maps = maps.float().clamp_min(0).cpu()
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    return (maps / peak).numpy()


def overlay(face: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The face (RGB uint8 ``H x W x 3``) with the map (``H x W`` in [0, 1]) blended over it in the jet colour map."""
    heat = cv2.applyColorMap(np.round(np.clip(cam, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB).astype(np.float32)
    return np.round(face.astype(np.float32) * (1 - alpha) + heat * alpha).astype(np.uint8)
