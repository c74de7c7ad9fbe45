"""The stream28 protocol: task draw, disjoint halves, target samples, and the cached source zoo."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from recycle.bench.stream28 import Stream28, draw_tasks
from recycle.errors import ConfigError


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Stream28:
    return Stream28(seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("s28"))


def test_draw_tasks_mixes_within_and_across_datasets() -> None:
    tasks = draw_tasks(0)
    assert len(tasks) == 60 and len({tuple(t) for t in tasks}) == 60
    within = sum(len({c // 10 for c in t}) == 1 for t in tasks)
    assert 30 <= within <= 50  # about two thirds
    assert draw_tasks(0) == tasks and draw_tasks(1) != tasks


def test_halves_are_disjoint_and_targets_stratified(quick: Stream28) -> None:
    def rows(X: np.ndarray) -> set[bytes]:
        return {x.tobytes() for x in X}

    source_rows = set().union(*(rows(t.X_train) for t in quick.source_tasks))
    for target in quick.target_tasks:
        assert not rows(target.X_test) & source_rows  # the base never sees target images
        assert not rows(target.X_pool) & rows(target.X_test)
        assert np.bincount(target.y_test).tolist() == [100] * 5
        X, y = target.sample(25, seed=0)
        assert X.shape == (25, 28, 28) and np.bincount(y).tolist() == [5] * 5
        X2, _ = target.sample(25, seed=0)
        X3, _ = target.sample(25, seed=1)
        assert np.array_equal(X, X2) and not np.array_equal(X, X3)
        assert sorted(np.bincount(target.sample(52, seed=0)[1]).tolist()) == [10, 10, 10, 11, 11]
    with pytest.raises(ConfigError, match="shots"):
        quick.target_tasks[0].sample(5)
    with pytest.raises(ConfigError, match="n_sources"):
        Stream28(n_sources=50, n_targets=20)


@pytest.mark.slow
def test_quick_zoo_is_cached_and_mixing_beats_independent(quick: Stream28) -> None:
    from recycle.adapt.strategies import IndependentAdapters, ModuleMixing

    start = time.perf_counter()
    base, sources = quick.build_sources()
    assert len(sources) == 8 and sources[0].source_id == f"{quick.prefix}.task00"
    assert sources[0].source_id.startswith("stream28q.s0-")
    assert all(s.fingerprint == base.fingerprint for s in sources)
    again_start = time.perf_counter()
    _, sources2 = Stream28(seed=0, quick=True, cache_dir=quick.cache_dir.parent).build_sources()
    assert time.perf_counter() - again_start < max(5.0, 0.2 * (again_start - start))
    X = quick.target_tasks[0].X_test[:20]
    np.testing.assert_allclose(sources[3].predict_proba(X), sources2[3].predict_proba(X), atol=1e-6)
    assert Path(quick.cache_dir, "index.json").exists()

    from recycle.zoo import Zoo

    zoo = Zoo.open(quick.cache_dir.parent / "zoo")
    quick.build_source_zoo(zoo)
    quick.build_source_zoo(zoo)  # idempotent: entries already there are kept
    base_entry = zoo.get(f"{quick.prefix}.base")
    assert len(zoo.list()) == 1 + len(sources)
    assert zoo.get(sources[0].source_id).card.lineage.parents == [base_entry.id]

    gains = []
    for target in quick.target_tasks:
        X, y = target.sample(25, seed=0)
        related = quick.related_sources(target, sources)[:3]
        mm = ModuleMixing(related, seed=0).fit(X, y)
        ind = IndependentAdapters(sources, seed=0).fit(X, y)
        gains.append(
            mm.score(target.X_test, target.y_test) - ind.score(target.X_test, target.y_test)
        )
    assert np.mean(gains) > 0.0, gains


def test_family_entries_load_back_from_the_zoo(tmp_path: Path) -> None:
    """Base and sources registered by build_source_zoo load through Zoo.load (parents resolved)."""
    from recycle.zoo import Zoo

    stream = Stream28(seed=0, quick=True, n_sources=2, n_targets=1, cache_dir=tmp_path / "c")
    sources = stream.build_source_zoo(Zoo.open(tmp_path / "zoo"))
    zoo = Zoo.open(tmp_path / "zoo")
    X = stream.target_tasks[0].X_test[:20]
    for src in sources:
        loaded = zoo.load(src.source_id)
        np.testing.assert_allclose(loaded.embed(X), src.embed(X), rtol=1e-5, atol=1e-6)
    zoo.close()


def test_growing_pool_adds_each_finished_target_to_later_targets(tmp_path: Path) -> None:
    """The paper's growing pool: target k's model is a source for targets k+1.. (same shots)."""
    from recycle.bench.runner import Method, Target, run_all

    stream = Stream28(seed=0, quick=True, n_sources=2, n_targets=2, cache_dir=tmp_path / "c")
    _, sources = stream.build_sources()
    targets = [
        Target(t.name, 25, 0, *t.sample(25, 0), t.X_test, t.y_test) for t in stream.target_tasks
    ]
    grown: list = []

    def grow(target: Target):
        grown.append(stream.grow_source(target))
        return grown[-1]

    method = Method("probe", {"strategy": "linear_probe", "m": 3})
    with pytest.warns(UserWarning, match="only 2 source"):  # the first target: 2 sources
        res = run_all("stream28", sources, targets, [method], grow=grow)
    assert not res.meta["failures"] and len(grown) == 2
    first, second = (r.extra["selected"] for r in res.rows)
    assert not any("grown" in s for s in first)  # the first target sees only the pool
    assert grown[0].source_id in second  # m=3 of 3: the grown source is used for the second
    # the grown source learned its own target (25 shots, trained with the pool's step count)
    t0 = stream.target_tasks[0]
    acc = np.mean(grown[0].predict_proba(t0.X_test).argmax(1) == t0.y_test)
    assert acc > 0.6, acc
    assert grown[0].source_id.startswith(f"{t0.name}.grown.e25.s0.")


def test_base_tasks_restricts_what_the_base_learns() -> None:
    """EFT's first-task base: it sees the classes of the first source task only."""
    full, eft = Stream28(seed=0), Stream28(seed=0, base_tasks=1)
    assert eft.base_class_ids == sorted(eft.source_tasks[0].class_ids)
    assert len(full.base_class_ids) > len(eft.base_class_ids) == 5
    assert eft.key != full.key and eft.prefix != full.prefix  # separate caches and source ids
    assert full.key == "s0-9ab0f8f7943f"  # the default build keeps its cache (and results' ids)
    with pytest.raises(ConfigError, match="base_tasks"):
        Stream28(seed=0, base_tasks=41)
