"""Deepfake detectors: a timm backbone with a 2-class head, and features for distillation through timm's API.

``create_detector(name)`` is the one factory. A ``Detector`` takes crops in [-1, 1] (the loader's range) and maps
them to the backbone's own input normalisation (its timm ``pretrained_cfg`` mean/std), so ImageNet weights see what
they were trained on. ``model(x)`` returns logits (class 1 = fake); ``model(x, features=True)`` returns
``(logits, [the last three feature stages], penultimate embedding)`` via timm's ``forward_intermediates`` and
``forward_head(pre_logits=True)``; the backbone's forward is never edited. The feature path goes through
``forward`` so that DistributedDataParallel sees every call.

Weights: ``pretrained=True`` downloads ImageNet weights through timm (Hugging Face hub); ``weights=path`` loads a local
file instead (safetensors, or a torch state dict read with ``weights_only=True``: a timm checkpoint of the same
architecture, its classifier dropped when the class count differs, or a checkpoint written by ``add train``).
"""

from __future__ import annotations

import os
from pathlib import Path

import timm
import torch
from torch import nn

from add.errors import AddError

MODEL_NAMES = ("resnet50", "resnet18", "resnet34", "efficientnet_b0", "legacy_xception")
DEFAULT_MODEL = "resnet50"
NUM_FEATURE_STAGES = 3


class ModelError(AddError, ValueError):
    """Unknown model name, or weights that cannot be found, read or matched to the model."""


class Detector(nn.Module):
    """A timm classifier with inputs in [-1, 1] and a uniform feature API (see the module docstring)."""

    def __init__(self, backbone: nn.Module, name: str):
        super().__init__()
        self.name = name
        self.backbone = backbone
        cfg = backbone.pretrained_cfg
        mean = torch.tensor(cfg.get("mean", timm.data.IMAGENET_DEFAULT_MEAN), dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(cfg.get("std", timm.data.IMAGENET_DEFAULT_STD), dtype=torch.float32).view(1, 3, 1, 1)
        # x in [-1, 1] -> (x + 1) / 2 in [0, 1] -> (. - mean) / std, folded into one multiply-add
        self.register_buffer("input_scale", 0.5 / std, persistent=False)
        self.register_buffer("input_shift", (0.5 - mean) / std, persistent=False)
        stages = backbone.feature_info[-NUM_FEATURE_STAGES:]
        self.feature_channels: list[int] = [int(info["num_chs"]) for info in stages]
        self.feature_reductions: list[int] = [int(info["reduction"]) for info in stages]
        self.feature_modules: list[str] = [str(info["module"]) for info in stages]
        self.num_features: int = int(backbone.num_features)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.input_scale + self.input_shift

    def forward(self, x: torch.Tensor, features: bool = False):
        x = self.normalize(x)
        if not features:
            return self.backbone(x)
        final, stages = self.backbone.forward_intermediates(x, indices=NUM_FEATURE_STAGES)
        embedding = self.backbone.forward_head(final, pre_logits=True)
        logits = self.backbone.get_classifier()(embedding)
        return logits, list(stages), embedding

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """``(logits, [last three feature maps B x C x H x W], embedding B x num_features)``."""
        return self(x, features=True)

    def head_parameters(self) -> list[nn.Parameter]:
        """The classifier's parameters (trained alone during the head-only warm-up)."""
        return list(self.backbone.get_classifier().parameters())


def create_detector(name: str = DEFAULT_MODEL, *, pretrained: bool = False, weights: str | os.PathLike | None = None,
                    num_classes: int = 2) -> Detector:
    """A ``Detector`` on timm's ``name`` with a ``num_classes`` head.

    ``weights`` (a local file) wins over ``pretrained``; ``pretrained`` alone downloads through timm and raises a
    ``ModelError`` saying how to provide the weights when that fails (e.g. offline).
    """
    if name not in MODEL_NAMES:
        raise ModelError(f"unknown model {name!r}; choose from {list(MODEL_NAMES)}")
    if weights is not None:
        backbone = timm.create_model(name, pretrained=False, num_classes=num_classes)
        load_backbone_weights(backbone, weights)
    elif pretrained:
        try:
            backbone = timm.create_model(name, pretrained=True, num_classes=num_classes)
        except Exception as e:  # timm/huggingface_hub raise many types when offline: all mean "no weights"
            raise ModelError(_no_weights_message(name, e)) from None
    else:
        backbone = timm.create_model(name, pretrained=False, num_classes=num_classes)
    return Detector(backbone, name)


def _no_weights_message(name: str, error: Exception) -> str:
    cfg = timm.models.get_pretrained_cfg(name)
    source = getattr(cfg, "hf_hub_id", None) or getattr(cfg, "url", None) or "timm's default source"
    return (f"model.pretrained: could not get ImageNet weights for {name!r} from {source} through timm "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); this machine looks "
            f"offline. Provide them in one of these ways: (1) on a machine with internet run "
            f"`python -c \"import timm, safetensors.torch as s; "
            f"s.save_file(timm.create_model('{name}', pretrained=True).state_dict(), '{name}.safetensors')\"`, "
            f"copy the file here and set model.weights: path/to/{name}.safetensors; (2) copy a Hugging Face cache "
            f"holding {source} into HF_HOME (~/.cache/huggingface); or (3) set model.pretrained: false to train "
            f"from random initialisation.")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a torch file (``weights_only=True``), unwrapped from common containers."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model.weights: {path}: file not found")
    try:
        state = timm.models.load_state_dict(str(path), use_ema=False, device="cpu", weights_only=True)
    except Exception as e:
        raise ModelError(f"model.weights: {path}: cannot read weights ({type(e).__name__}: {e}); expected a "
                         f".safetensors file or a torch state dict saved with plain tensors") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"model.weights: {path}: not a state dict of tensors")
    if state and all(key.startswith("backbone.") for key in state):  # a Detector's own state dict
        state = {key[len("backbone."):]: value for key, value in state.items()}
    return state


def load_backbone_weights(backbone: nn.Module, path: str | os.PathLike) -> None:
    """Load ``path`` into a timm model; only the classifier may be missing (dropped when its shape differs)."""
    state = read_state_dict(path)
    own = backbone.state_dict()
    classifier = {f"{prefix}.{suffix}" for prefix in _classifier_names(backbone) for suffix in ("weight", "bias")}
    for key in classifier:
        if key in state and key in own and state[key].shape != own[key].shape:
            del state[key]
    mismatched = [k for k in state if k in own and state[k].shape != own[k].shape]
    if mismatched:
        raise ModelError(f"model.weights: {path}: shapes differ from {backbone.default_cfg.get('architecture')} "
                         f"for {mismatched[:5]} (a different architecture?)")
    result = backbone.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in classifier]
    if missing or result.unexpected_keys:
        raise ModelError(f"model.weights: {path}: does not match {backbone.default_cfg.get('architecture')}: "
                         f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                         f"unexpected {result.unexpected_keys[:5]}{'...' if len(result.unexpected_keys) > 5 else ''}")


def _classifier_names(backbone: nn.Module) -> list[str]:
    names = backbone.pretrained_cfg.get("classifier", "fc")
    return [names] if isinstance(names, str) else list(names)
