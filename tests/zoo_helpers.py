"""Helpers for the zoo tests: tiny MLP sources and cards, and a registration worker process.

Run as a script it registers serialized models (written by :func:`write_payloads`) into a zoo;
the crash and concurrency tests use it. It never imports torch, so it starts fast::

    python tests/zoo_helpers.py ZOO_LOCATION ARTIFACTS PREFIX PAYLOAD_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recycle.zoo import ModelCard

if TYPE_CHECKING:
    from recycle.sources import TorchSource

TESTS_DIR = Path(__file__).resolve().parent
D_IN, D_OUT = 4, 6


def mlp_source(
    seed: int = 0,
    d_in: int = D_IN,
    d_out: int = D_OUT,
    classes: list[str] | None = None,
    arch: str = "mlp",
) -> TorchSource:
    """A small random-init MLP feature extractor (optionally with a head)."""
    import torch
    from torch import nn

    from recycle.sources import TorchSource
    from recycle.sources.arch import build_architecture

    torch.manual_seed(seed)
    kwargs: dict[str, Any] = {"in_features": d_in, "out_features": d_out}
    if arch == "mlp":
        kwargs["hidden"] = [8]
    net = build_architecture(arch, **kwargs)
    head = nn.Linear(d_out, len(classes)) if classes else None
    return TorchSource(
        net, "tabular:identity", d_out, source_id=f"mlp.s{seed}", head=head, source_classes=classes
    )


def mlp_card(name: str = "mlp.test", version: str = "1.0.0", **overrides: Any) -> ModelCard:
    """A valid card for :func:`mlp_source`."""
    fields: dict[str, Any] = {
        "name": name,
        "version": version,
        "modality": "tabular",
        "task": "feature-extraction",
        "input": {"shape": [D_IN], "dtype": "float32", "value_range": [-1.0, 1.0]},
        "output": {"feature_dim": D_OUT},
        "access": "white-box",
        "license": "MIT",
        "provider": "tests",
        "description": "A tiny MLP used by the zoo tests.",
    }
    fields.update(overrides)
    return ModelCard(**fields)


def write_payloads(folder: Path, count: int, seed: int = 0) -> Path:
    """Serialize ``count`` MLPs into ``folder/m{i}/``; even ones share weights (same seed)."""
    from recycle.sources import serialize

    for i in range(count):
        config, files = serialize(mlp_source(seed=seed if i % 2 == 0 else seed * 1000 + i))
        sub = folder / f"m{i}"
        sub.mkdir(parents=True)
        (sub / "config.json").write_text(json.dumps(config))
        for name, data in files.items():
            (sub / name).write_bytes(data)
    return folder


def worker(location: str, artifacts: str, prefix: str, payloads: Path) -> None:
    """Register every payload ``m{i}`` as ``{prefix}.m{i}`` (validate=False)."""
    from recycle.zoo import Zoo

    zoo = Zoo.open(location, artifacts=artifacts or None)
    (payloads / f"ready-{prefix}").touch()
    while not (payloads / "go").exists() and (payloads / "barrier").exists():
        time.sleep(0.01)  # start together with the other workers
    for sub in sorted(p for p in payloads.iterdir() if p.is_dir()):
        config = json.loads((sub / "config.json").read_text())
        files = {f.name: f.read_bytes() for f in sub.iterdir() if f.name != "config.json"}
        zoo.register_files(config, files, mlp_card(name=f"{prefix}.{sub.name}"), validate=False)
    zoo.close()


if __name__ == "__main__":
    loc, art, pre, folder = sys.argv[1:5]
    worker(loc, art, pre, Path(folder))
