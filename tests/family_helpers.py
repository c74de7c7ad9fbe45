"""A small real white-box family for the tests: a 4-conv base on MNIST digits 0-5, two sources.

Shared by ``tests/adapt/test_module_mixing.py`` and ``tests/deploy/test_deploy_export.py``
(the root conftest imports the ``family`` fixture: any test may ask for it).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recycle.adapt.family import FamilyConfig, pretrain_base, train_source

SMALL = FamilyConfig(channels=(8, 16))


@pytest.fixture(scope="module")
def family() -> dict:
    """A small real family: base on digits 0-5, two sources, a target on digits 6-9."""
    from recycle.datasets import load

    torch.manual_seed(0)
    ds = load("mnist")
    X, y = ds.X_train, ds.y_train
    rng = np.random.default_rng(0)
    pick = lambda classes, n: rng.permutation(np.flatnonzero(np.isin(y, classes)))[:n]  # noqa: E731
    b = pick([0, 1, 2, 3, 4, 5], 300)
    base = pretrain_base(X[b], y[b], SMALL, epochs=2, batch_size=32)
    sources = []
    for k, classes in enumerate([[6, 7, 8], [0, 1, 2]]):
        i = pick(classes, 150)
        yi = np.searchsorted(classes, y[i])
        names = [str(c) for c in classes]
        sources.append(train_source(base, X[i], yi, names, epochs=2, name=f"t.s{k}", lr=1e-2))
    t = pick([6, 7, 8, 9], 40)
    te = pick([6, 7, 8, 9], 200)
    return {"base": base, "sources": sources, "X": X[t], "y": y[t], "Xte": X[te], "yte": y[te]}
