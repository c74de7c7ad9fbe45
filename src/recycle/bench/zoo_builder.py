"""Build a white-box zoo from labelled tasks: one shared base, one adapter source per task.

This is what ``recycle demo`` and the ``stream28`` benchmark build their zoos with, in three
steps a caller can also take alone:

1. :class:`ZooRecipe` says how to train (seed, images per class, epochs, family and adapter
   configs); its :attr:`~ZooRecipe.key` hashes all of it and names the cache folder and the
   sources, so two recipes never share a cache entry or a feature-cache key.
2. :func:`build_family` trains the base on the tasks' images (or the first ``base_tasks``
   tasks'), then one adapter source per task, and caches both as safetensors + JSON under
   :meth:`ZooRecipe.cache_path` (``.../<key>``); a second call with the same recipe loads them.
3. :func:`register_family` registers the base, then each source with the base as its parent
   (and an RKME spec when given), into a :class:`~recycle.zoo.Zoo`, skipping entries already
   there.

Examples
--------
>>> recipe = ZooRecipe(seed=0, n_sources=8, quick=True)
>>> recipe.prefix.startswith("stream28q.s0-"), recipe.cap, recipe.base_epochs
(True, 150, 2)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recycle.adapt.family.config import AdapterConfig, FamilyConfig
from recycle.adapt.family.source import (
    FamilyBaseSource,
    FamilySource,
    deserialize_family,
    serialize_family,
)
from recycle.adapt.family.train import pretrain_base, train_source
from recycle.bench.stream28_tasks import SourceTask
from recycle.errors import ModelNotFoundError
from recycle.progress import ProgressCallback

CACHE_VERSION = 3  # bump when the build recipe changes


@dataclass
class ZooRecipe:
    """How a family zoo is trained; :attr:`key` is a hash of everything the cache depends on.

    Parameters
    ----------
    seed : int
        Seed of the task draw and all training.
    n_sources : int
        Source tasks (one adapter source each).
    quick : bool
        The small recipe (150 images per class, 2 epochs) unless ``cap`` / epochs are given.
    cap : int, optional
        Source-half images per class used for training (0, the default: 300; quick 150).
    base_epochs, source_epochs : int, optional
        Training epochs of the base and of each source (0, the default: 3; quick 2).
    family, adapters : FamilyConfig, AdapterConfig, optional
    base_tasks : int, optional
        Train the base on the classes of the first ``base_tasks`` tasks only (default: all).
    """

    seed: int = 0
    n_sources: int = 40
    quick: bool = False
    cap: int = 0
    base_epochs: int = 0
    source_epochs: int = 0
    family: FamilyConfig = field(default_factory=FamilyConfig)
    adapters: AdapterConfig = field(default_factory=AdapterConfig)
    base_tasks: int | None = None

    def __post_init__(self) -> None:
        self.cap = self.cap or (150 if self.quick else 300)
        self.base_epochs = self.base_epochs or (2 if self.quick else 3)
        self.source_epochs = self.source_epochs or (2 if self.quick else 3)

    @property
    def key(self) -> str:
        """Hash of everything the cached zoo depends on (``s{seed}-{digest}``)."""
        cfg = {
            "v": CACHE_VERSION,
            "seed": self.seed,
            "n_sources": self.n_sources,
            "cap": self.cap,
            "epochs": [self.base_epochs, self.source_epochs],
            "family": self.family.to_dict(),
            "adapters": self.adapters.to_dict(),
        }
        if self.base_tasks is not None:  # absent by default, so existing caches keep their key
            cfg["base_tasks"] = self.base_tasks
        digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]
        return f"s{self.seed}-{digest}"

    @property
    def prefix(self) -> str:
        """Start of every entry name; the key in it keeps feature caches of two builds apart."""
        return f"stream28{'q' if self.quick else ''}.{self.key}"

    def cache_path(self, cache_dir: str | Path | None = None) -> Path:
        """``cache_dir/<key>``; default ``$RECYCLE_CACHE/stream28/<key>`` (or ``~/.cache``)."""
        root = cache_dir or Path(os.environ.get("RECYCLE_CACHE", Path.home() / ".cache/recycle"))
        return Path(root) / ("stream28" if cache_dir is None else "") / self.key


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def load_cached(cache: Path) -> tuple[FamilyBaseSource, list[FamilySource]] | None:
    """The base and sources cached under ``cache`` (None when nothing complete is there)."""
    meta = cache / "index.json"
    if not meta.exists():
        return None
    index = json.loads(meta.read_text())
    base_cfg = json.loads((cache / "base.json").read_text())
    base = deserialize_family(base_cfg, {"weights.safetensors": cache / "base.st"})
    if not isinstance(base, FamilyBaseSource):
        raise TypeError(f"{cache / 'base.json'} holds no family base.")
    parents = {base_cfg["fingerprint"]: base}
    sources = []
    for name in index["sources"]:
        cfg = json.loads((cache / f"{name}.json").read_text())
        src = deserialize_family(cfg, {"weights.safetensors": cache / f"{name}.st"}, parents)
        sources.append(src)
    return base, sources  # type: ignore[return-value]


def save_cached(cache: Path, base: FamilyBaseSource, sources: list[FamilySource]) -> None:
    """Write base and sources under ``cache``; ``index.json`` last, so a crash leaves none."""
    parts: list[tuple[str, FamilyBaseSource | FamilySource]] = [("base", base)]
    for name, src in parts + [(s.source_id, s) for s in sources]:
        cfg, files = serialize_family(src)
        atomic_write(cache / f"{name}.st", files["weights.safetensors"])
        atomic_write(cache / f"{name}.json", json.dumps(cfg).encode())
    index = {"sources": [s.source_id for s in sources]}
    atomic_write(cache / "index.json", json.dumps(index).encode())


def train_family(
    tasks: list[SourceTask], recipe: ZooRecipe, progress: ProgressCallback | None = None
) -> tuple[FamilyBaseSource, list[FamilySource]]:
    """Train the base on the tasks' images (the first ``recipe.base_tasks``), then a source
    per task (adapters + head on the frozen base), with the recipe's seeds and epochs."""
    seen = base_class_ids(tasks, recipe.base_tasks)
    per_cls = {c: t.X_train[t.y_train == j] for t in tasks for j, c in enumerate(t.class_ids)}
    Xb = np.concatenate([per_cls[c] for c in seen])
    yb = np.concatenate([np.full(len(per_cls[c]), k) for k, c in enumerate(seen)])
    base = pretrain_base(
        Xb, yb, recipe.family, epochs=recipe.base_epochs, seed=recipe.seed, progress=progress
    )
    sources = []
    for t in tasks:
        src = train_source(
            base, t.X_train, t.y_train, t.classes, adapter_config=recipe.adapters, name=t.name,
            epochs=recipe.source_epochs, seed=recipe.seed + t.index,
        )  # fmt: skip
        sources.append(src)
        if progress is not None:
            progress("train sources", len(sources), len(tasks))
    return FamilyBaseSource(base, f"{recipe.prefix}.base"), sources


def base_class_ids(tasks: list[SourceTask], base_tasks: int | None = None) -> list[int]:
    """Class ids whose images train the shared base: those of the first ``base_tasks`` tasks."""
    return sorted({c for t in tasks[:base_tasks] for c in t.class_ids})


def build_family(
    tasks: Callable[[], list[SourceTask]],
    recipe: ZooRecipe,
    cache: Path,
    progress: ProgressCallback | None = None,
) -> tuple[FamilyBaseSource, list[FamilySource]]:
    """The base and one source per task: loaded from ``cache``, else trained
    (:func:`train_family` on ``tasks()``, called only then) and cached there."""
    cached = load_cached(cache)
    if cached is not None:
        return cached
    base, sources = train_family(tasks(), recipe, progress)
    save_cached(cache, base, sources)
    return base, sources


def family_card(source: FamilyBaseSource | FamilySource, size: int, seed: int) -> Any:
    """The model card of a stream28 base (no classes) or source (its 5 classes)."""
    from recycle.zoo.card import ModelCard

    classes = getattr(source, "source_classes", [])
    what = "shared base" if not classes else f"5-way source task {classes}"
    return ModelCard(
        name=source.source_id, modality="image",
        task="classification" if classes else "feature-extraction",
        input={"shape": [28, 28], "dtype": "uint8", "value_range": [0, 255]},  # type: ignore[arg-type]
        output={"feature_dim": source.feature_dim, "source_classes": classes},  # type: ignore[arg-type]
        access="white-box", license="Apache-2.0", provider="recycle.bench.stream28",
        description=f"stream28 (seed {seed}) {what}; EFT/LoRA family",
        training_data={"description": "source halves of MNIST / Fashion-MNIST / "  # type: ignore[arg-type]
                       "Animal-MNIST classes", "size": size, "license": "CC-BY-SA-3.0, MIT"},
    )  # fmt: skip


def register_family(
    zoo: Any,
    base: FamilyBaseSource,
    sources: list[FamilySource],
    tasks: list[SourceTask],
    seed: int,
    specs: list[Any] | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[list[str], list[str]]:
    """Register base then sources (``parents=[base entry id]``, ``specs[k]`` when given).

    Entries already in the zoo are left alone. Returns the names registered and those already
    present. Trusted code built these, so the zoo's checker (which cannot load a family source
    without its base) is skipped.
    """
    registered: list[str] = []
    present: list[str] = []

    def entry_for(src: FamilyBaseSource | FamilySource, size: int, spec: Any = None) -> Any:
        try:
            entry = zoo.get(src.source_id)
        except ModelNotFoundError:
            config, files = serialize_family(src)
            card = family_card(src, size, seed)
            registered.append(src.source_id)
            return zoo.register_files(config, files, card, spec=spec, validate=False)
        present.append(src.source_id)
        return entry

    base_entry = entry_for(base, sum(len(t.y_train) for t in tasks))
    for k, (src, task) in enumerate(zip(sources, tasks, strict=True)):
        src.base_id = base_entry.id
        entry_for(src, len(task.y_train), specs[k] if specs else None)
        if progress is not None:
            progress("register sources", k + 1, len(sources))
    return registered, present
