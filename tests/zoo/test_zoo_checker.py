"""The upload checker: malicious or broken models are rejected and run no code in this process."""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path

import pytest

from recycle.errors import UnsafeContentError, ValidationError
from recycle.zoo import Zoo
from recycle.zoo.checker import check_model, static_check
from zoo_helpers import TESTS_DIR, mlp_card, mlp_source

HANG_TIMEOUT_S = 15.0  # wall-clock limit for the hanging model
HOG_MEMORY_MB = 1536  # address-space limit for the memory hog (torch alone maps ~0.7 GB)


class _Payload:
    """Unpickling this creates ``marker`` (a stand-in for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


@pytest.fixture
def evil_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the checker's child import tests/zoo_evil_archs.py (the plugin hook)."""
    path = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("RECYCLE_EXTRA_ARCH_MODULES", "zoo_evil_archs")


def _evil_source(kind: str) -> object:
    import zoo_evil_archs  # noqa: F401  (registers evil.* here too, to serialize them)
    from recycle.sources import TorchSource
    from recycle.sources.arch import build_architecture

    return TorchSource(build_architecture(f"evil.{kind}"), "tabular:identity", 6)


def _lying(data: bytes) -> bytes:
    """The same safetensors file with the first tensor's declared shape doubled."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["shape"][0] *= 2
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


def _pickles(marker: Path) -> list[bytes]:
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"w": _Payload(marker)}, buf)  # a .pth: zip archive with data.pkl
    return [pickle.dumps(_Payload(marker)), buf.getvalue()]


def test_valid_model_with_a_parent_passes_the_checker(tmp_path: Path) -> None:
    from recycle.sources import serialize

    zoo = Zoo.open(tmp_path / "zoo")
    base = zoo.register(mlp_source(1), mlp_card("mlp.base"), validate=False)
    config, files = serialize(mlp_source(2, arch="linear"))
    config["parents"] = [base.id]  # the child process rebuilds the parent first
    entry = zoo.register_files(config, files, mlp_card("mlp.ok"))  # validate=True by default
    assert entry.parents == [base.id]
    assert [e.name for e in zoo.list()] == ["mlp.base", "mlp.ok"]


def test_pickle_weights_are_refused_and_never_unpickled(tmp_path: Path) -> None:
    from recycle.sources import serialize

    marker = tmp_path / "pwned"
    config, _ = serialize(mlp_source(1))
    zoo = Zoo.open(tmp_path / "zoo")
    for payload in _pickles(marker):
        for name in ("weights.safetensors", "weights.pth"):
            with pytest.raises(UnsafeContentError, match="pickle"):
                zoo.register_files(config, {name: payload}, mlp_card("evil.pickle"))
    assert not marker.exists()
    assert zoo.list() == [] and list(zoo.store.iter_blobs()) == []


def test_safetensors_header_lying_about_shapes_is_refused(tmp_path: Path) -> None:
    from recycle.sources import serialize

    config, files = serialize(mlp_source(1))
    forged = {"weights.safetensors": _lying(files["weights.safetensors"])}
    with pytest.raises(UnsafeContentError, match="header lies"):
        static_check(config, forged)
    zoo = Zoo.open(tmp_path / "zoo")
    with pytest.raises(UnsafeContentError, match="shape"):
        zoo.register_files(config, forged, mlp_card("evil.header"))
    assert zoo.list() == [] and list(zoo.store.iter_blobs()) == []


def test_hanging_model_hits_the_time_limit(tmp_path: Path, evil_env: None) -> None:
    zoo = Zoo.open(tmp_path / "zoo")
    zoo.check_timeout_s = HANG_TIMEOUT_S
    with pytest.raises(ValidationError, match="time limit"):
        zoo.register(_evil_source("hang"), mlp_card("evil.hang"))
    assert zoo.list() == [] and list(zoo.store.iter_blobs()) == []


def test_memory_hog_hits_the_memory_limit(tmp_path: Path, evil_env: None) -> None:
    zoo = Zoo.open(tmp_path / "zoo")
    zoo.check_memory_mb = HOG_MEMORY_MB
    with pytest.raises(ValidationError, match="memory limit"):
        zoo.register(_evil_source("hog"), mlp_card("evil.hog"))
    assert zoo.list() == [] and list(zoo.store.iter_blobs()) == []


@pytest.mark.slow
def test_child_rejects_what_static_checks_would_miss(tmp_path: Path, evil_env: None) -> None:
    """Defence in depth: the child itself refuses pickles, lying headers, NaNs, wrong shapes."""
    from recycle.sources import serialize

    config, files = serialize(mlp_source(1, classes=["a", "b", "c"]))
    path = tmp_path / "weights.safetensors"
    path.write_bytes(files["weights.safetensors"])
    card = mlp_card(output={"feature_dim": 6, "source_classes": ["a", "b", "c"]})
    report = check_model(config, {"weights.safetensors": path}, card)
    assert report.ok, report.reason
    assert report.output_shape == [4, 6] and report.modules == ["layers"] and report.n_params > 0

    marker = tmp_path / "pwned"
    config, files = serialize(mlp_source(1))
    card = mlp_card()
    for data in [*_pickles(marker), _lying(files["weights.safetensors"])]:
        path.write_bytes(data)
        report = check_model(config, {"weights.safetensors": path}, card)
        assert not report.ok and "failed to load" in report.reason
    assert not marker.exists()
    path.write_bytes(files["weights.safetensors"])
    report = check_model(config, {"weights.safetensors": path}, mlp_card(output={"feature_dim": 7}))
    assert not report.ok and "(4, 7)" in report.reason
    zoo = Zoo.open(tmp_path / "zoo")
    with pytest.raises(ValidationError, match="non-finite"):
        zoo.register(_evil_source("nan"), mlp_card("evil.nan"))
