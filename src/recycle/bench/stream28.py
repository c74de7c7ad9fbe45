"""The ``stream28`` protocol: a stream of 5-way tasks over MNIST, Fashion-MNIST and Animal-MNIST.

The 30 classes (10 per dataset, 28x28 grayscale) each have their images split by seed into two
disjoint halves: a *source half* and a *target half*. 60 five-way tasks are drawn by seed (about
two thirds within one dataset, one third mixing datasets). The first ``n_sources`` are source
tasks, trained on their source half (at most ``cap`` images per class); the last ``n_targets``
are targets: ``shots`` training examples **per task in total** (stratified over the 5 classes),
drawn from the target half, and a fixed test set of ``test_per_class`` images per class from the
target half. The shared base of the white-box family is trained only on source-half images.

Examples
--------
>>> s = Stream28(seed=0, quick=True)
>>> len(s.source_tasks), len(s.target_tasks[0].classes)
(8, 5)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
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
from recycle.errors import ConfigError, DataError
from recycle.progress import ProgressCallback

DATASETS = ("mnist", "fashion-mnist", "animal-mnist")
N_TASKS = 60  # the stream length (sources first, then targets)
WAYS = 5  # classes per task
WITHIN_FRACTION = 2 / 3  # share of tasks drawn within one dataset
CACHE_VERSION = 3  # bump when the build recipe changes


@dataclass
class SourceTask:
    """A source task: its classes and its source-half training images."""

    index: int
    name: str  # zoo name, e.g. "stream28.s0-<digest>.task00"
    classes: list[str]  # "dataset:class" names
    class_ids: list[int]  # global ids 0..29
    X_train: np.ndarray
    y_train: np.ndarray


@dataclass
class TargetTask:
    """A target task: a pool of target-half images to draw shots from and a fixed test set."""

    index: int
    name: str
    classes: list[str]
    class_ids: list[int]
    X_pool: np.ndarray
    y_pool: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def sample(self, shots: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Return ``shots`` training examples in total, stratified over the classes, by seed."""
        n_cls = len(self.classes)
        if shots < 2 * n_cls:
            raise ConfigError(f"shots must be >= {2 * n_cls} (2 per class); got {shots}.")
        rng = np.random.default_rng([seed, self.index, shots])
        per = np.full(n_cls, shots // n_cls)
        per[rng.permutation(n_cls)[: shots % n_cls]] += 1
        idx = []
        for c in range(n_cls):
            members = np.flatnonzero(self.y_pool == c)
            if per[c] > len(members):
                raise DataError(f"Task {self.name} has {len(members)} images of class {c}.")
            idx.append(rng.choice(members, per[c], replace=False))
        order = rng.permutation(np.concatenate(idx))
        return self.X_pool[order], self.y_pool[order]


def _load_classes(seed: int, cap: int, pool_cap: int) -> tuple[list[str], list, list]:
    """Per global class: (source-half images capped at ``cap``, target-half at ``pool_cap``)."""
    from recycle.datasets import load

    names, src, tgt = [], [], []
    rng = np.random.default_rng([seed, 28])
    for ds_name in DATASETS:
        ds = load(ds_name)
        parts = [(ds.X_train, ds.y_train), (ds.X_test, ds.y_test)]
        if ds.X_val is not None and ds.y_val is not None:
            parts.append((ds.X_val, ds.y_val))
        X = np.concatenate([np.asarray(p[0], dtype=np.uint8) for p in parts])
        y = np.concatenate([np.asarray(p[1]) for p in parts])
        # Drop exact duplicate images so the two halves share no image.
        rows = np.ascontiguousarray(X.reshape(len(X), -1)).view(np.dtype((np.void, X[0].size)))
        keep = np.sort(np.unique(rows.ravel(), return_index=True)[1])
        X, y = X[keep], y[keep]
        for c, cname in enumerate(ds.classes):
            members = rng.permutation(np.flatnonzero(y == c))
            half = len(members) // 2
            names.append(f"{ds_name}:{cname}")
            src.append(X[members[:half][:cap]])
            tgt.append(X[members[half:][:pool_cap]])
    return names, src, tgt


def draw_tasks(seed: int, n_tasks: int = N_TASKS) -> list[list[int]]:
    """Draw ``n_tasks`` distinct 5-way class sets over the 30 global classes.

    Examples
    --------
    >>> t = draw_tasks(0)
    >>> len(t), all(len(c) == 5 for c in t)
    (60, True)
    """
    rng = np.random.default_rng([seed, 60])
    tasks: list[list[int]] = []
    while len(tasks) < n_tasks:
        if rng.random() < WITHIN_FRACTION:
            d = int(rng.integers(len(DATASETS)))
            cls = sorted(int(c) + 10 * d for c in rng.choice(10, WAYS, replace=False))
        else:
            cls = sorted(int(c) for c in rng.choice(30, WAYS, replace=False))
            if len({c // 10 for c in cls}) < 2:
                continue
        if cls not in tasks:
            tasks.append(cls)
    return tasks


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class Stream28:
    """The stream28 protocol: tasks, target samples and the cached source zoo.

    Parameters
    ----------
    seed : int
        Seed of the class halves, the task draw and all training.
    n_sources, n_targets : int
        Tasks used as sources (the first ones) and as targets (the last ones).
    cache_dir : path, optional
        Where the trained base and sources are cached (default ``$RECYCLE_CACHE/stream28`` or
        ``~/.cache/recycle/stream28``).
    quick : bool
        Small variant for tests: 8 sources, 3 targets, 150 images per class, short training.
    cap : int, optional
        Source-half images per class used for training (default 300; quick 150).
    base_tasks : int, optional
        The shared base is trained on the source-half images of the classes of the first
        ``base_tasks`` source tasks (default: all of them). ``1`` is EFT's setting: the base
        learns the first task only, and every later task's knowledge lives in its adapters, so
        the base alone (independent adapters) knows little about a target's classes.
    """

    def __init__(
        self,
        seed: int = 0,
        n_sources: int | None = None,
        n_targets: int | None = None,
        cache_dir: str | Path | None = None,
        *,
        quick: bool = False,
        cap: int | None = None,
        base_epochs: int | None = None,
        source_epochs: int | None = None,
        test_per_class: int = 100,
        family: FamilyConfig | None = None,
        adapters: AdapterConfig | None = None,
        base_tasks: int | None = None,
    ) -> None:
        self.seed, self.quick = seed, quick
        self.n_sources = n_sources if n_sources is not None else (8 if quick else 40)
        self.n_targets = n_targets if n_targets is not None else (3 if quick else 20)
        if self.n_sources < 1 or self.n_targets < 1 or self.n_sources + self.n_targets > N_TASKS:
            raise ConfigError(
                f"n_sources + n_targets must be <= {N_TASKS} and both >= 1; got "
                f"{self.n_sources} + {self.n_targets}."
            )
        if base_tasks is not None and not 1 <= base_tasks <= self.n_sources:
            raise ConfigError(
                f"base_tasks must be between 1 and n_sources ({self.n_sources}); got "
                f"{base_tasks}. Leave it unset to train the base on every source task."
            )
        self.base_tasks = base_tasks
        self.cap = cap or (150 if quick else 300)
        self.base_epochs = base_epochs or (2 if quick else 3)
        self.source_epochs = source_epochs or (2 if quick else 3)
        self.test_per_class = test_per_class
        self.family = family or FamilyConfig()
        self.adapters = adapters or AdapterConfig()
        root = cache_dir or Path(os.environ.get("RECYCLE_CACHE", Path.home() / ".cache/recycle"))
        self.cache_dir = Path(root) / ("stream28" if cache_dir is None else "") / self.key
        # The config digest is part of every name, so feature caches keyed by source id never
        # mix up two builds with different settings.
        self.prefix = f"stream28{'q' if quick else ''}.{self.key}"
        self._tasks: tuple[list[SourceTask], list[TargetTask]] | None = None
        self._built: tuple[FamilyBaseSource, list[FamilySource]] | None = None

    @property
    def key(self) -> str:
        """Hash of everything the cached zoo depends on."""
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

    def _build_tasks(self) -> tuple[list[SourceTask], list[TargetTask]]:
        if self._tasks is None:
            pool_cap = 600 if not self.quick else 300  # target-half images kept per class
            names, src, tgt = _load_classes(self.seed, self.cap, pool_cap)
            draws = draw_tasks(self.seed)
            sources, targets = [], []
            for i, cls in enumerate(draws[: self.n_sources]):
                X = np.concatenate([src[c] for c in cls])
                y = np.concatenate([np.full(len(src[c]), j) for j, c in enumerate(cls)])
                sources.append(
                    SourceTask(i, f"{self.prefix}.task{i:02d}", [names[c] for c in cls], cls, X, y)
                )
            for i in range(N_TASKS - self.n_targets, N_TASKS):
                cls = draws[i]
                t = self.test_per_class
                Xt = np.concatenate([tgt[c][:t] for c in cls])
                yt = np.concatenate([np.full(len(tgt[c][:t]), j) for j, c in enumerate(cls)])
                Xp = np.concatenate([tgt[c][t:] for c in cls])
                yp = np.concatenate([np.full(len(tgt[c][t:]), j) for j, c in enumerate(cls)])
                name = f"{self.prefix}.target{i:02d}"
                targets.append(TargetTask(i, name, [names[c] for c in cls], cls, Xp, yp, Xt, yt))
            self._tasks = (sources, targets)
        return self._tasks

    @property
    def source_tasks(self) -> list[SourceTask]:
        """The source tasks (first ``n_sources`` of the stream)."""
        return self._build_tasks()[0]

    @property
    def target_tasks(self) -> list[TargetTask]:
        """The target tasks (last ``n_targets`` of the stream)."""
        return self._build_tasks()[1]

    @property
    def base_class_ids(self) -> list[int]:
        """Class ids whose source-half images train the shared base (see ``base_tasks``)."""
        tasks = self.source_tasks[: self.base_tasks]
        return sorted({c for t in tasks for c in t.class_ids})

    def related_sources(self, target: TargetTask, sources: list[Any]) -> list[Any]:
        """Sources ordered by class overlap with ``target`` (ground truth for selection tests)."""
        overlap = [len(set(t.class_ids) & set(target.class_ids)) for t in self.source_tasks]
        order = sorted(range(len(sources)), key=lambda i: (-overlap[i], i))
        return [sources[i] for i in order]

    # -- the source zoo --------------------------------------------------------------------------
    def _load_cached(self) -> tuple[FamilyBaseSource, list[FamilySource]] | None:
        meta = self.cache_dir / "index.json"
        if not meta.exists():
            return None
        index = json.loads(meta.read_text())
        base_cfg = json.loads((self.cache_dir / "base.json").read_text())
        base = deserialize_family(base_cfg, {"weights.safetensors": self.cache_dir / "base.st"})
        assert isinstance(base, FamilyBaseSource)
        parents = {base_cfg["fingerprint"]: base}
        sources = []
        for name in index["sources"]:
            cfg = json.loads((self.cache_dir / f"{name}.json").read_text())
            src = deserialize_family(
                cfg, {"weights.safetensors": self.cache_dir / f"{name}.st"}, parents
            )
            sources.append(src)
        return base, sources  # type: ignore[return-value]

    def build_sources(
        self, progress: ProgressCallback | None = None
    ) -> tuple[FamilyBaseSource, list[FamilySource]]:
        """Train (or load from the cache) the base and the source adapters, once per instance."""
        if self._built is None:
            self._built = self._load_cached() or self._train_and_cache(progress)
        return self._built

    def _train_and_cache(
        self, progress: ProgressCallback | None
    ) -> tuple[FamilyBaseSource, list[FamilySource]]:
        tasks = self.source_tasks
        # The base sees only source-half images of (the first base_tasks) source tasks' classes.
        seen = self.base_class_ids
        per_cls = {c: t.X_train[t.y_train == j] for t in tasks for j, c in enumerate(t.class_ids)}
        Xb = np.concatenate([per_cls[c] for c in seen])
        yb = np.concatenate([np.full(len(per_cls[c]), k) for k, c in enumerate(seen)])
        base = pretrain_base(
            Xb, yb, self.family, epochs=self.base_epochs, seed=self.seed, progress=progress
        )
        base_src = FamilyBaseSource(base, f"{self.prefix}.base")
        sources = []
        for t in tasks:
            src = train_source(
                base, t.X_train, t.y_train, t.classes, adapter_config=self.adapters, name=t.name,
                epochs=self.source_epochs, seed=self.seed + t.index,
            )  # fmt: skip
            sources.append(src)
            if progress is not None:
                progress("train sources", len(sources), len(tasks))
        cfg, files = serialize_family(base_src)
        _atomic_write(self.cache_dir / "base.st", files["weights.safetensors"])
        _atomic_write(self.cache_dir / "base.json", json.dumps(cfg).encode())
        for src in sources:
            cfg, files = serialize_family(src)
            _atomic_write(self.cache_dir / f"{src.source_id}.st", files["weights.safetensors"])
            _atomic_write(self.cache_dir / f"{src.source_id}.json", json.dumps(cfg).encode())
        index = {"sources": [s.source_id for s in sources]}
        _atomic_write(self.cache_dir / "index.json", json.dumps(index).encode())
        return base_src, sources

    def grow_source(self, target: Any) -> FamilySource:
        """The growing pool's new source: adapters + head trained on a finished target.

        ``target`` is a benchmark target (``name``, ``shots``, ``seed``, ``X_train``,
        ``y_train``) of this stream. Training takes as many optimiser steps as the pool's own
        sources did, so a 25-shot source is not left undertrained. The source id carries the
        target, shots, seed and a digest of the weights (feature caches are keyed by id).
        """
        base, sources = self.build_sources()
        task = next((t for t in self.target_tasks if t.name == target.name), None)
        if task is None:
            raise ConfigError(f"{target.name!r} is not a target of this stream28 build.")
        source_n = len(self.source_tasks[0].y_train)
        epochs = max(self.source_epochs, -(-self.source_epochs * source_n // len(target.y_train)))
        src = train_source(
            base.base, target.X_train, target.y_train, task.classes,
            adapter_config=self.adapters, epochs=epochs, seed=self.seed + task.index + target.seed,
            base_id=sources[0].base_id, name=target.name,
        )  # fmt: skip
        digest = hashlib.sha256()
        for key in sorted(src.adapter_state):
            digest.update(src.adapter_state[key].numpy().tobytes())
        tag = f"grown.e{target.shots}.s{target.seed}.{digest.hexdigest()[:8]}"
        src.source_id = f"{target.name}.{tag}"
        return src

    def build_source_zoo(
        self, zoo: Any = None, progress: ProgressCallback | None = None
    ) -> list[FamilySource]:
        """Build (cached) the sources and register base + sources into ``zoo`` when given.

        Returns the sources (with ``base_id`` set to the base's zoo entry id when registered).
        Entries already in the zoo are not registered again.
        """
        base, sources = self.build_sources(progress)
        if zoo is not None:
            self._register(zoo, base, sources, progress)
        return sources

    def _card(self, source: FamilyBaseSource | FamilySource, size: int) -> Any:
        from recycle.zoo.card import ModelCard

        classes = getattr(source, "source_classes", [])
        what = "shared base" if not classes else f"5-way source task {classes}"
        return ModelCard(
            name=source.source_id, modality="image",
            task="classification" if classes else "feature-extraction",
            input={"shape": [28, 28], "dtype": "uint8", "value_range": [0, 255]},  # type: ignore[arg-type]
            output={"feature_dim": source.feature_dim, "source_classes": classes},  # type: ignore[arg-type]
            access="white-box", license="Apache-2.0", provider="recycle.bench.stream28",
            description=f"stream28 (seed {self.seed}) {what}; EFT/LoRA family",
            training_data={"description": "source halves of MNIST / Fashion-MNIST / "  # type: ignore[arg-type]
                           "Animal-MNIST classes", "size": size, "license": "CC-BY-SA-3.0, MIT"},
        )  # fmt: skip

    def _register(
        self,
        zoo: Any,
        base: FamilyBaseSource,
        sources: list[FamilySource],
        progress: ProgressCallback | None,
    ) -> None:
        """Register base then sources (adapter weights with ``parents=[base entry id]``)."""
        from recycle.errors import ModelNotFoundError

        def entry_for(src: FamilyBaseSource | FamilySource, size: int) -> Any:
            try:
                return zoo.get(src.source_id)
            except ModelNotFoundError:
                config, files = serialize_family(src)
                # Trusted code built these; the zoo's checker cannot load family sources alone.
                return zoo.register_files(config, files, self._card(src, size), validate=False)

        base_entry = entry_for(base, sum(len(t.y_train) for t in self.source_tasks))
        for k, (src, task) in enumerate(zip(sources, self.source_tasks, strict=True)):
            src.base_id = base_entry.id
            entry_for(src, len(task.y_train))
            if progress is not None:
                progress("register sources", k + 1, len(sources))
