"""The SYNTHETIC scale-benchmark zoo: deterministic, SourceModel-shaped, specs searchable."""

from __future__ import annotations

import numpy as np

from recycle import datasets
from recycle.bench.synthetic import (
    SHARED_SPACE,
    SyntheticZoo,
    build_source_spec,
    score_source,
    shared_projection,
    tile_specs,
    to_shared_space,
)
from recycle.parallel import map_sources
from recycle.select.scores import knn_score, logme_score
from recycle.sources.base import SourceModel


def test_sources_are_deterministic_and_distinct() -> None:
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    a, b = SyntheticZoo(5, seed=0), SyntheticZoo(5, seed=0)
    src = a.source(3)
    assert isinstance(src, SourceModel) and src.feature_dim == 16
    F = src.embed(images)
    assert F.shape == (7, 16) and F.dtype == np.float32
    np.testing.assert_array_equal(F, b.source(3).embed(images))
    assert not np.allclose(F, a.source(2).embed(images))
    assert a.classes_of(3) == b.classes_of(3) and 2 <= len(a.classes_of(3)) <= 4


def test_specs_search_and_scores_on_mnist() -> None:
    ds = datasets.load("mnist")
    images, labels = ds.X_train[:5000], ds.y_train[:5000]
    zoo = SyntheticZoo(6, seed=0, rows=100)
    rows = zoo.private_rows(2, images, labels)
    assert set(labels[rows].tolist()) <= set(zoo.classes_of(2)) and len(rows) == 100
    shared = (zoo, images, labels, shared_projection())
    results = map_sources(build_source_spec, list(range(6)), shared=shared)
    specs = [r.value for r in results]
    assert all(r.ok for r in results) and specs[0].space == SHARED_SPACE
    # a query drawn from source 4's digits ranks a source that shares a digit first
    from recycle.spec import build_spec, rank

    q_rows = np.flatnonzero(np.isin(labels, zoo.classes_of(4)))[-300:]
    query = build_spec(to_shared_space(images[q_rows]), m=10, space=SHARED_SPACE, seed=1)
    best = int(rank(query, specs).order[0])
    assert set(zoo.classes_of(best)) & set(zoo.classes_of(4))
    assert len(tile_specs(specs, 20)) == 20
    feats = [zoo.source(i).embed(ds.X_test[:60]) for i in range(2)]
    y60 = ds.y_test[:60]
    scores = score_source(1, (feats, y60))
    assert scores == {"knn": knn_score(feats[1], y60), "logme": logme_score(feats[1], y60)}
    assert scores != score_source(0, (feats, y60))  # it scores the source it is asked for
