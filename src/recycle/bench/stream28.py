"""The ``stream28`` protocol: a stream of 5-way tasks over MNIST, Fashion-MNIST and Animal-MNIST.

The 30 classes (10 per dataset, 28x28 grayscale) each have their images split by seed into two
disjoint halves: a *source half* and a *target half*. 60 five-way tasks are drawn by seed (about
two thirds within one dataset, one third mixing datasets). The first ``n_sources`` are source
tasks, trained on their source half (at most ``cap`` images per class); the last ``n_targets``
are targets: ``shots`` training examples **per task in total** (stratified over the 5 classes),
drawn from the target half, and a fixed test set of ``test_per_class`` images per class from the
target half. The shared base of the white-box family is trained only on source-half images.

:class:`Stream28` ties three steps together: the tasks (:mod:`recycle.bench.stream28_tasks`),
the source zoo's recipe, training, cache and registration (:mod:`recycle.bench.zoo_builder`),
and the growing pool's new sources (:meth:`Stream28.grow_source`).

Examples
--------
>>> s = Stream28(seed=0, quick=True)
>>> len(s.source_tasks), len(s.target_tasks[0].classes)
(8, 5)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from recycle.adapt.family.config import AdapterConfig, FamilyConfig
from recycle.adapt.family.source import FamilyBaseSource, FamilySource
from recycle.adapt.family.train import train_source
from recycle.bench import zoo_builder
from recycle.bench.stream28_tasks import (
    DATASETS,
    N_TASKS,
    POOL_CAP,
    QUICK_POOL_CAP,
    QUICK_TARGETS,
    TEST_PER_CLASS,
    WAYS,
    WITHIN_FRACTION,
    SourceTask,
    TargetTask,
    build_tasks,
    draw_tasks,
)
from recycle.bench.zoo_builder import CACHE_VERSION, ZooRecipe
from recycle.errors import ConfigError
from recycle.progress import ProgressCallback

__all__ = [
    "CACHE_VERSION",
    "DATASETS",
    "N_TASKS",
    "WAYS",
    "WITHIN_FRACTION",
    "SourceTask",
    "Stream28",
    "TargetTask",
    "draw_tasks",
]


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
        test_per_class: int = TEST_PER_CLASS,
        family: FamilyConfig | None = None,
        adapters: AdapterConfig | None = None,
        base_tasks: int | None = None,
    ) -> None:
        self.seed, self.quick = seed, quick
        self.n_sources = n_sources if n_sources is not None else (8 if quick else 40)
        self.n_targets = n_targets if n_targets is not None else (QUICK_TARGETS if quick else 20)
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
        self.recipe = ZooRecipe(
            seed=seed, n_sources=self.n_sources, quick=quick, cap=cap or 0,
            base_epochs=base_epochs or 0, source_epochs=source_epochs or 0,
            family=family or FamilyConfig(),
            adapters=adapters or AdapterConfig(), base_tasks=base_tasks,
        )  # fmt: skip
        self.base_tasks = base_tasks
        self.cap = self.recipe.cap
        self.base_epochs, self.source_epochs = self.recipe.base_epochs, self.recipe.source_epochs
        self.test_per_class = test_per_class
        self.family, self.adapters = self.recipe.family, self.recipe.adapters
        self.cache_dir = self.recipe.cache_path(cache_dir)
        # The config digest is part of every name, so feature caches keyed by source id never
        # mix up two builds with different settings.
        self.prefix = self.recipe.prefix
        self._tasks: tuple[list[SourceTask], list[TargetTask]] | None = None
        self._built: tuple[FamilyBaseSource, list[FamilySource]] | None = None

    @property
    def key(self) -> str:
        """Hash of everything the cached zoo depends on."""
        return self.recipe.key

    def _build_tasks(self) -> tuple[list[SourceTask], list[TargetTask]]:
        if self._tasks is None:
            pool_cap = QUICK_POOL_CAP if self.quick else POOL_CAP
            self._tasks = build_tasks(
                self.seed, self.n_sources, self.n_targets, self.prefix, self.cap, pool_cap,
                self.test_per_class,
            )  # fmt: skip
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
        return zoo_builder.base_class_ids(self.source_tasks, self.base_tasks)

    def related_sources(self, target: TargetTask, sources: list[Any]) -> list[Any]:
        """Sources ordered by class overlap with ``target`` (ground truth for selection tests)."""
        overlap = [len(set(t.class_ids) & set(target.class_ids)) for t in self.source_tasks]
        order = sorted(range(len(sources)), key=lambda i: (-overlap[i], i))
        return [sources[i] for i in order]

    # -- the source zoo --------------------------------------------------------------------------
    def build_sources(
        self, progress: ProgressCallback | None = None
    ) -> tuple[FamilyBaseSource, list[FamilySource]]:
        """Train (or load from the cache) the base and the source adapters, once per instance."""
        if self._built is None:
            self._built = zoo_builder.build_family(
                lambda: self.source_tasks, self.recipe, self.cache_dir, progress
            )
        return self._built

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
            zoo_builder.register_family(
                zoo, base, sources, self.source_tasks, self.seed, progress=progress
            )
        return sources
