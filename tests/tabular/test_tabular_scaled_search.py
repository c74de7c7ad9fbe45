"""``Zoo.search`` with a table's rows among scaled specs: the hits are re-ranked in each spec's
quantile space, so a heavy-tailed column no longer decides which provider is closest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from recycle.sources import SklearnSource
from recycle.spec import Spec, build_spec
from recycle.spec.scaled import build_scaled_spec, scaled_mmd2
from recycle.zoo import ModelCard, Zoo
from recycle.zoo.query import ranked


def _providers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Two providers alike in a heavy-tailed count and different only in a small rate."""
    return {
        "lr.low": np.c_[rng.lognormal(5, 2, n), rng.normal(0.1, 0.05, n)],
        "lr.high": np.c_[rng.lognormal(5, 2, n), rng.normal(0.4, 0.05, n)],
    }


def _card(name: str) -> ModelCard:
    return ModelCard.from_dict({
        "name": name, "modality": "tabular", "task": "classification",
        "input": {"shape": [2], "dtype": "float32", "preprocess": "tabular:identity",
                  "columns": ["count", "rate"]},
        "output": {"feature_dim": 2, "source_classes": ["no", "yes"]},
        "access": "black-box", "license": "MIT",
    })  # fmt: skip


def _zoo(tmp_path: Path, scaled: bool) -> Zoo:
    rng = np.random.default_rng(0)
    zoo = Zoo.open(tmp_path / ("scaled" if scaled else "plain"))
    for name, X in _providers(rng, 600).items():
        y = (X[:, 1] > np.median(X[:, 1])).astype(int)
        model = LogisticRegression().fit(X, y)
        spec = build_scaled_spec(X, m=30, seed=0) if scaled else build_spec(X, m=30, seed=0)
        zoo.register(SklearnSource(model, source_id=name, source_classes=["no", "yes"]),
                     _card(name), spec=spec)  # fmt: skip
    return zoo


def test_search_finds_the_provider_of_the_rows_among_scaled_specs(tmp_path: Path) -> None:
    zoo = _zoo(tmp_path, scaled=True)
    queries = _providers(np.random.default_rng(1), 40)
    for name, Q in queries.items():
        hits = zoo.search(Q, top=2)
        assert hits[0].entry.name == name
        assert [h.rank for h in hits] == [1, 2] and hits[0].score < hits[1].score
    # the raw specs cannot tell them apart: the same provider comes first for both kinds
    raw = {n: ranked(zoo, build_spec(Q, m=20, space="input:2"), 1)[0][0].entry.name
           for n, Q in queries.items()}  # fmt: skip
    assert len(set(raw.values())) == 1


def test_plain_specs_keep_the_index_order(tmp_path: Path) -> None:
    zoo = _zoo(tmp_path, scaled=False)
    Q = _providers(np.random.default_rng(1), 40)["lr.high"]
    hits = zoo.search(Q, top=2)
    expected = ranked(zoo, build_spec(Q, m=20, space="input:2"), 2)[0]
    assert [h.entry.name for h in hits] == [h.entry.name for h in expected]
    assert scaled_mmd2(build_spec(Q, m=5), Q) is None


def test_repeated_searches_read_each_scaled_spec_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-ranking used to read and parse every hit's spec blob on every search; a blob is
    content-addressed, so its parsed quantile map is kept and later searches read none."""
    zoo = _zoo(tmp_path, scaled=True)
    queries = _providers(np.random.default_rng(1), 40)
    first = {n: [(h.entry.id, h.score, h.rank) for h in zoo.search(Q, top=2)]
             for n, Q in queries.items()}  # fmt: skip
    specs = {e.spec_sha256 for e in zoo.list()}
    reads: list[str] = []
    real = zoo.store.read
    monkeypatch.setattr(zoo.store, "read", lambda sha: reads.append(sha) or real(sha))
    again = {n: [(h.entry.id, h.score, h.rank) for h in zoo.search(Q, top=2)]
             for n, Q in queries.items()}  # fmt: skip
    assert again == first  # the same hits, scores and ranks
    assert not specs & set(reads)  # no spec blob read again
    for name, Q in queries.items():  # the scores are the spec's own scaled MMD
        entry = zoo.get(name)
        spec = Spec.from_json(real(entry.spec_sha256))
        assert dict((i, s) for i, s, _ in again[name])[entry.id] == scaled_mmd2(spec, Q)
