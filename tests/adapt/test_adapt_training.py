"""The adapt package's one stratified splitter and one training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import StratifiedKFold

from recycle.adapt.split import n_folds, stratified_folds, stratified_holdout
from recycle.adapt.training import fit_loop
from recycle.errors import ConfigError, DataError

labels = st.lists(st.integers(0, 4), min_size=2, max_size=80).map(np.array)


@settings(max_examples=60, deadline=None)
@given(y=labels, fraction=st.sampled_from([0.1, 0.25, 0.5]), seed=st.integers(0, 50))
def test_holdout_partitions_and_holds_out_every_class(
    y: np.ndarray, fraction: float, seed: int
) -> None:
    train, val = stratified_holdout(y, fraction, seed)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(y)))
    counts = {c: int(np.sum(y == c)) for c in np.unique(y)}
    if min(counts.values()) < 2:
        assert len(val) == 0  # no class can both train and validate: no hold-out at all
        return
    for c, n in counts.items():
        held = int(np.sum(y[val] == c))
        assert held == min(n - 1, max(1, round(fraction * n)))  # >= 1, never the whole class
    again = stratified_holdout(y, fraction, seed)
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again, strict=True))


def test_holdout_of_a_few_shot_target_keeps_one_per_class_for_validation() -> None:
    y = np.repeat(np.arange(5), 5)  # 5-way, 5 shots per class
    train, val = stratified_holdout(y, 0.1, seed=0)
    assert len(val) == 5 and set(y[val].tolist()) == set(range(5)) and len(train) == 20


@settings(max_examples=40, deadline=None)
@given(y=labels, k=st.integers(2, 5), seed=st.integers(0, 50))
def test_folds_are_sklearns_stratified_kfold_with_k_capped_by_the_smallest_class(
    y: np.ndarray, k: int, seed: int
) -> None:
    folds = n_folds(y, k)
    if folds < 2:
        with pytest.raises(DataError, match="at least 2 rows in every class"):
            stratified_folds(y, k, seed=seed)
        return
    ours = stratified_folds(y, k, seed=seed)
    theirs = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    for (a_tr, a_te), (b_tr, b_te) in zip(ours, theirs, strict=True):
        assert np.array_equal(a_tr, b_tr) and np.array_equal(a_te, b_te)
    assert len(stratified_folds(y, k, repeats=2, seed=seed)) == 2 * folds


def _task() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(120, 4, generator=g)
    noisy = torch.rand(120, generator=g) < 0.2  # label noise: the validation loss turns up
    return X, ((X[:, 0] + 0.5 * X[:, 1] > 0) ^ noisy).long()


@pytest.mark.parametrize("monitor", ["accuracy", "loss"])
def test_loop_restores_the_best_epoch(monitor: str) -> None:
    X, y = _task()
    torch.manual_seed(0)
    head = torch.nn.Linear(4, 2)
    seen: list[tuple[int, float, float]] = []

    def predict(x: torch.Tensor) -> torch.Tensor:
        logits = head(x)
        if len(x) == 40:  # the validation split
            loss = float(torch.nn.functional.cross_entropy(logits, y[80:]))
            acc = float((logits.argmax(1) == y[80:]).float().mean())
            seen.append((len(seen) + 1, acc, loss))
        return logits

    log = fit_loop(
        list(head.parameters()),
        lambda xb, yb: torch.nn.functional.cross_entropy(head(xb), yb),
        predict, X[:80], y[:80], X[80:], y[80:],
        epochs=60, lr=0.5, patience=3, seed=0, monitor=monitor,  # type: ignore[arg-type]
    )  # fmt: skip
    assert log["epochs"] == len(seen)
    if monitor == "loss":
        best = min(seen, key=lambda e: e[2])
    else:
        best = max(seen, key=lambda e: (e[1], -e[2]))
    assert log["best_epoch"] == best[0] and log["val_accuracy"] == best[1]
    with torch.no_grad():  # the restored parameters are the best epoch's
        restored = float(torch.nn.functional.cross_entropy(head(X[80:]), y[80:]))
    assert restored == pytest.approx(best[2], abs=1e-6)


def test_loop_without_validation_runs_every_epoch() -> None:
    X, y = _task()
    head = torch.nn.Linear(4, 2)
    log = fit_loop(
        list(head.parameters()),
        lambda xb, yb: torch.nn.functional.cross_entropy(head(xb), yb),
        head, X, y, epochs=4,
    )  # fmt: skip
    assert log == {"epochs": 4, "best_epoch": 4, "val_accuracy": None, "val_loss": None,
                   "out_of_time": False}  # fmt: skip
    with pytest.raises(ConfigError, match="monitor"):
        fit_loop([], lambda a, b: a, head, X, y, monitor="f1")  # type: ignore[arg-type]
