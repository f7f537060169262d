"""The detector factory: forward/feature API over the five backbones, input range, weights from files and the hub."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from add.models import MODEL_NAMES, Detector, ModelError, create_detector

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


def test_input_range_maps_to_backbone_normalisation():
    model = create_detector("resnet18")
    cfg = model.backbone.pretrained_cfg
    x = torch.rand(1, 3, 4, 4) * 2 - 1
    mean, std = torch.tensor(cfg["mean"]).view(1, 3, 1, 1), torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    torch.testing.assert_close(model.normalize(x), ((x + 1) / 2 - mean) / std)
    xception = create_detector("legacy_xception")  # mean = std = 0.5: [-1, 1] is already its range
    torch.testing.assert_close(xception.normalize(x), x)


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
