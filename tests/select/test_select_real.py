"""Selection with real pre-trained sources on real data (small n to stay fast)."""

from __future__ import annotations

import numpy as np
import pytest

SOURCES = ["digitcnn.mnist", "digitcnn.usps", "effnet_lite0.imagenet"]


@pytest.fixture(scope="module")
def real_sources() -> list:
    from recycle.sources import builtin

    # set-up installs the assets (ASSETS.md); a missing one fails here with its install command
    return [builtin(name) for name in SOURCES]


def _few_shot(name: str, per_class: int = 20) -> tuple[np.ndarray, np.ndarray]:
    from recycle.datasets import load

    data = load(name)
    rng = np.random.default_rng(0)
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(data.y_train == c), per_class, replace=False) for c in range(5)]
    )
    return data.X_train[idx], data.y_train[idx]


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [("mnist", "digitcnn.mnist"), ("animal-mnist", "effnet_lite0.imagenet")],
)
def test_right_kind_of_source_ranked_first(real_sources, dataset: str, expected: str) -> None:
    from recycle.select import select_sources

    X, y = _few_shot(dataset)  # 5 classes x 20 images
    for score in ("knn", "logme"):
        sel = select_sources(real_sources, X, y, score=score, m=1)
        ranked = [r.source_id for r in sel.ranking]
        assert ranked[0] == expected, (
            dataset,
            score,
            [(r.source_id, r.score) for r in sel.ranking],
        )
        assert sel.selected == [expected]
        assert not sel.failed
