"""Source kinds, preprocessing, architectures, serialization and the feature cache (fast)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from recycle.errors import (
    ConfigError,
    DataError,
    DuplicateError,
    IncompatibleError,
    ModelNotFoundError,
    UnsafeContentError,
    ValidationError,
)
from recycle.sources import (
    FeatureCache,
    SklearnSource,
    SourceModel,
    TorchSource,
    cached_embed,
    deserialize,
    has_head,
    serialize,
)
from recycle.sources import preprocess as pp
from recycle.sources.arch import architecture_names, build_architecture, register_architecture
from recycle.sources.cache import content_hash


def mlp_source(seed: int = 0, head: bool = True, batch_size: int = 64) -> TorchSource:
    torch.manual_seed(seed)
    net = build_architecture("mlp", in_features=5, hidden=[16], out_features=8)
    return TorchSource(
        net,
        "tabular:identity",
        8,
        source_id=f"mlp.seed{seed}",
        head=torch.nn.Linear(8, 3) if head else None,
        source_classes=["a", "b", "c"] if head else None,
        batch_size=batch_size,
    )


def write_files(files: dict[str, bytes], folder: Path) -> dict[str, Path]:
    paths = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    return paths


# --- architectures ---------------------------------------------------------------------------


def test_architecture_registry() -> None:
    assert {"mlp", "digitcnn.mnist", "digitcnn.usps", "digitcnn.svhn", "effnet_lite"} <= set(
        architecture_names()
    )
    net = build_architecture("mlp", in_features=4, hidden=[8, 8], out_features=2)
    assert net(torch.zeros(3, 4)).shape == (3, 2)
    assert net.recycle_architecture == {
        "name": "mlp",
        "kwargs": {"in_features": 4, "hidden": [8, 8], "out_features": 2},
    }
    with pytest.raises(ModelNotFoundError, match=r"valid names: .*mlp"):
        build_architecture("resnet9000")
    with pytest.raises(DuplicateError):
        register_architecture("mlp", lambda: torch.nn.Identity())
    with pytest.raises(ConfigError, match="JSON"):
        build_architecture("mlp", in_features=np.float32(3))
    with pytest.raises(ConfigError, match="rejected"):
        build_architecture("mlp", widths=3)


@pytest.mark.parametrize(
    ("name", "shape", "dim"),
    [("digitcnn.mnist", (2, 1, 28, 28), 128), ("digitcnn.usps", (2, 1, 16, 16), 128),
     ("digitcnn.svhn", (2, 3, 32, 32), 256)],
)  # fmt: skip
def test_digit_architectures(name: str, shape: tuple[int, ...], dim: int) -> None:
    assert build_architecture(name)(torch.zeros(shape)).shape == (2, dim)


# --- preprocessing ---------------------------------------------------------------------------


def test_effnet_preprocess_sizes_and_normalisation() -> None:
    pre = pp.get("image:effnet")
    gray = np.full((2, 28, 28), 255, dtype=np.uint8)
    t = pre(gray)
    assert t.shape == (2, 3, pp.EFFNET_SMALL_SIZE, pp.EFFNET_SMALL_SIZE)
    assert torch.allclose(t, torch.full_like(t, (255 - 127) / 128))
    photo = np.zeros((1, 300, 451, 3), dtype=np.uint8)
    assert pre(photo).shape == (1, 3, 224, 224)
    assert float(pre(photo).min()) == pytest.approx(-127 / 128)
    fixed = pp.get("image:effnet@size=64")
    assert fixed.id == "image:effnet@size=64"
    assert fixed(photo).shape == (1, 3, 64, 64) and fixed(gray).shape == (2, 3, 64, 64)
    assert pp.get(fixed.id) is fixed


def test_digit_preprocess() -> None:
    X = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    t = pp.get("image:digit-mnist")(X)
    expected = (X / 255.0 - 0.1307) / 0.3081
    assert t.shape == (3, 1, 28, 28)
    assert np.allclose(t[:, 0].numpy(), expected, atol=1e-5)
    assert pp.get("image:digit-usps")(X).shape == (3, 1, 16, 16)
    rgb = pp.get("image:digit-svhn")(X)
    assert rgb.shape == (3, 3, 32, 32)
    assert not torch.allclose(rgb[:, 0], rgb[:, 2])  # per-channel normalisation
    # RGB -> gray for the gray models: equal channels give back the same image
    X3 = np.repeat(X[..., None], 3, axis=3)
    assert torch.allclose(pp.get("image:digit-mnist")(X3), t, atol=1e-4)


def test_text_and_tabular_preprocess() -> None:
    out = pp.get("text:minilm")(["hello world", "a much longer sentence than the first"])
    assert set(out) == {"input_ids", "attention_mask", "token_type_ids"}
    assert out["input_ids"].shape == out["attention_mask"].shape
    assert out["input_ids"][0, 0] == 101 and out["attention_mask"][0].sum() == 4  # [CLS] .. [SEP]
    short = pp.get("text:minilm@max_length=8")(["word " * 50])
    assert short["input_ids"].shape == (1, 8)
    assert pp.get("tabular:identity")(np.ones((2, 3), np.float32)).shape == (2, 3)


def test_preprocess_errors() -> None:
    with pytest.raises(ModelNotFoundError, match=r"valid: .*image:effnet"):
        pp.get("image:resnet")
    with pytest.raises(ConfigError):
        pp.get("image:effnet@size")
    with pytest.raises(ConfigError, match="rejected"):
        pp.get("image:effnet@colour=1")
    with pytest.raises(DataError, match="N x H x W"):
        pp.check_input(np.zeros((4, 5)), "image")
    with pytest.raises(DataError, match="list of strings"):
        pp.check_input("one string", "text")
    with pytest.raises(DataError, match="N x D"):
        pp.check_input(np.zeros(5), "tabular")
    # float images in [0, 1] are scaled to 0..255
    assert pp.check_input(np.ones((1, 2, 2)), "image").max() == 255


# --- torch source ----------------------------------------------------------------------------


def test_torch_source_embed_and_proba(rng: np.random.Generator) -> None:
    X = rng.normal(size=(50, 5)).astype(np.float32)
    src = mlp_source(batch_size=7)
    assert isinstance(src, SourceModel) and has_head(src)
    threads = torch.get_num_threads()
    F = src.embed(X)
    assert torch.get_num_threads() == threads
    assert F.shape == (50, 8) and F.dtype == np.float32
    with torch.no_grad():
        assert np.allclose(F, src.torch_module()(torch.from_numpy(X)).numpy(), atol=1e-6)
    assert np.allclose(mlp_source(batch_size=1000).embed(X), F, atol=1e-6)  # batching is exact
    P = src.predict_proba(X)
    assert P.shape == (50, 3) and np.allclose(P.sum(1), 1, atol=1e-5)
    assert src.embed(X[:0]).shape == (0, 8)
    seen: list[tuple[str, int, int]] = []
    src.embed(X, progress=lambda t, d, n: seen.append((t, d, n)))
    assert seen[-1] == ("embed mlp.seed0", 8, 8)


def test_torch_source_errors(rng: np.random.Generator) -> None:
    X = rng.normal(size=(4, 5)).astype(np.float32)
    plain = mlp_source(head=False)
    assert not has_head(plain)
    with pytest.raises(IncompatibleError, match="no head"):
        plain.predict_proba(X)
    with pytest.raises(ConfigError, match="both"):
        TorchSource(torch.nn.Identity(), "tabular:identity", 2, head=torch.nn.Linear(2, 2))
    with pytest.raises(ConfigError, match=r"nn\.Module"):
        TorchSource(lambda x: x, "tabular:identity", 2)  # type: ignore[arg-type]
    wrong = TorchSource(torch.nn.Identity(), "tabular:identity", 3)
    with pytest.raises(Exception, match="expected \\(n, 3\\)"):
        wrong.embed(X)


# --- sklearn source --------------------------------------------------------------------------


def test_sklearn_source(rng: np.random.Generator) -> None:
    X = rng.normal(size=(60, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    pca = PCA(n_components=3, random_state=0).fit(X)
    src = SklearnSource(pca, source_id="pca.test")
    assert src.feature_dim == 3 and not has_head(src)
    assert np.allclose(src.embed(X), pca.transform(X), atol=1e-5)
    clf = SklearnSource(LogisticRegression().fit(X, y), source_id="lr.test")
    assert clf.method == "predict_proba" and clf.source_classes == ["0", "1"] and has_head(clf)
    assert np.allclose(clf.predict_proba(X).sum(1), 1, atol=1e-5)
    with pytest.raises(ConfigError, match="transform or predict_proba"):
        SklearnSource(object())


# --- serialization ---------------------------------------------------------------------------


def test_roundtrip_torch_mlp(tmp_path: Path, rng: np.random.Generator) -> None:
    X = rng.normal(size=(20, 5)).astype(np.float32)
    src = mlp_source(seed=3)
    config, files = serialize(src)
    assert config["format"] == "safetensors" and config["architecture"] == "mlp"
    json.dumps(config)  # JSON-able
    back = deserialize(json.loads(json.dumps(config)), write_files(files, tmp_path))
    assert isinstance(back, TorchSource) and back.source_id == "mlp.seed3"
    assert np.array_equal(back.embed(X), src.embed(X))
    assert np.array_equal(back.predict_proba(X), src.predict_proba(X))
    assert back.source_classes == ["a", "b", "c"]


def test_roundtrip_sklearn_pca(tmp_path: Path, rng: np.random.Generator) -> None:
    X = rng.normal(size=(30, 4)).astype(np.float32)
    src = SklearnSource(make_pipeline(StandardScaler(), PCA(2)).fit(X), source_id="pca.rt")
    config, files = serialize(src)
    assert config["format"] == "skops" and list(files) == ["model.skops"]
    back = deserialize(config, write_files(files, tmp_path))
    assert np.array_equal(back.embed(X), src.embed(X))


def test_roundtrip_sklearn_forest_with_extra_trusted_class(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    X = rng.normal(size=(40, 3)).astype(np.float32)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, X[:, 0] > 0)
    src = SklearnSource(forest, source_id="rf.rt")
    config, files = serialize(src)
    back = deserialize(config, write_files(files, tmp_path))  # needs sklearn.tree._tree.Tree
    assert np.array_equal(back.predict_proba(X), src.predict_proba(X))


def _square(x: np.ndarray) -> np.ndarray:
    return x * x


def test_skops_with_untrusted_type_is_refused(tmp_path: Path) -> None:
    X = np.ones((3, 2), np.float32)
    src = SklearnSource(FunctionTransformer(_square).fit(X), source_id="fn.bad")
    config, files = serialize(src)
    with pytest.raises(UnsafeContentError, match="allow-list"):
        deserialize(config, write_files(files, tmp_path))
    (tmp_path / "model.skops").write_bytes(b"\x80\x04not a zip")
    with pytest.raises(UnsafeContentError):
        deserialize(config, {"model.skops": tmp_path / "model.skops"})


def _forge(path: Path, header: dict, payload: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)


def test_lying_safetensors_header_is_rejected(tmp_path: Path) -> None:
    config, files = serialize(mlp_source(head=False))
    paths = write_files(files, tmp_path)
    raw = paths["weights.safetensors"].read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    payload = raw[8 + n :]
    # 1. A header that claims a bigger shape than the bytes it points at.
    lie = json.loads(json.dumps(header))
    key = "module.layers.0.weight"
    lie[key]["shape"] = [64, 5]
    _forge(tmp_path / "lie.safetensors", lie, payload)
    with pytest.raises(UnsafeContentError, match="claims shape"):
        deserialize(config, {"weights.safetensors": tmp_path / "lie.safetensors"})
    # 2. A self-consistent file whose shapes do not fit the declared architecture.
    cfg = {**config, "arch_kwargs": {**config["arch_kwargs"], "hidden": [32]}}
    with pytest.raises(ValidationError, match="architecture needs"):
        deserialize(cfg, paths)
    # 3. A pickle is not a safetensors file.
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04\x95" + b"\x00" * 40)
    with pytest.raises(UnsafeContentError):
        deserialize(config, {"weights.safetensors": tmp_path / "pickle.safetensors"})
    # 4. Missing or extra tensors.
    del header[key]
    _forge(tmp_path / "short.safetensors", header, payload)
    with pytest.raises(ValidationError, match="missing"):
        deserialize(config, {"weights.safetensors": tmp_path / "short.safetensors"})


def test_serialize_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="build_architecture"):
        serialize(TorchSource(torch.nn.Identity(), "tabular:identity", 2))
    with pytest.raises(ConfigError, match="Unknown source format"):
        deserialize({"format": "pickle"}, {})
    config, _ = serialize(mlp_source())
    with pytest.raises(ValidationError, match="Missing file"):
        deserialize(config, {})


# --- feature cache ---------------------------------------------------------------------------


class CountingSource:
    """A real tiny source that counts how often it computes."""

    source_id = "counting.v1"
    modality = "tabular"
    access = "black-box"
    feature_dim = 2

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, X: np.ndarray) -> np.ndarray:
        self.calls += 1
        X = np.asarray(X, dtype=np.float32)
        return np.stack([X.sum(1), X.max(1)], axis=1)


def test_feature_cache_hits_without_recomputing(tmp_path: Path, rng: np.random.Generator) -> None:
    cache = FeatureCache(tmp_path)
    src = CountingSource()
    X = rng.normal(size=(10, 3)).astype(np.float32)
    first = cache.embed(src, X)
    second = cache.embed(src, X.copy())
    assert src.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    assert np.array_equal(first, second)
    cache.embed(src, X[:5])  # different content -> miss
    cache.embed(src, X.astype(np.float64))  # different dtype -> miss
    assert src.calls == 3
    assert not list(tmp_path.rglob(".tmp-*"))  # atomic writes leave no temp files
    # a fresh cache object on the same folder still hits (on disk, not in memory)
    assert np.array_equal(FeatureCache(tmp_path).embed(src, X), first) and src.calls == 3
    # a corrupt file is recomputed, not trusted
    for p in tmp_path.rglob("*.npy"):
        p.write_bytes(b"garbage")
    assert np.array_equal(cache.embed(src, X), first) and src.calls == 4


def test_cached_embed_default_root_and_text_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECYCLE_CACHE", str(tmp_path / "env-cache"))
    src = CountingSource()
    X = np.ones((2, 2), np.float32)
    cached_embed(src, X)
    cached_embed(src, X)
    assert src.calls == 1 and any((tmp_path / "env-cache").rglob("*.npy"))
    assert content_hash(["ab", "c"]) != content_hash(["a", "bc"])
    assert content_hash(np.zeros((2, 3))) != content_hash(np.zeros((3, 2)))
