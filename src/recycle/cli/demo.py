"""CLI command ``recycle demo`` (first version): two real sources on real MNIST digits.

Loads ``digitcnn.mnist`` and ``effnet_lite0.imagenet``, embeds 500 MNIST test images with
each and prints, per source, the feature width, the embedding time and the 5-NN
cross-validated accuracy of its features (the selection score of METHODS.md).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import numpy as np
import typer

from recycle.cli.app import JsonOption, app
from recycle.cli.render import print_json, print_table, rich_progress

DEMO_SOURCES = ("digitcnn.mnist", "effnet_lite0.imagenet")


def knn_cv_accuracy(F: np.ndarray, y: np.ndarray, k: int = 5, folds: int = 5) -> float:
    """Mean accuracy of a k-NN classifier on ``F`` under stratified k-fold cross-validation."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    return float(cross_val_score(KNeighborsClassifier(n_neighbors=k), F, y, cv=cv).mean())


def run_demo(n: int = 500, progress: Any = None) -> list[dict[str, Any]]:
    """Embed ``n`` MNIST test images with each demo source; one result row per source."""
    from recycle import datasets
    from recycle.sources import builtin

    ds = datasets.load("mnist")
    X, y = ds.X_test[:n], np.asarray(ds.y_test[:n])
    rows = []
    for name in DEMO_SOURCES:
        source = builtin(name)
        start = time.perf_counter()
        F = source.embed(X, progress=progress)  # type: ignore[call-arg]
        seconds = time.perf_counter() - start
        rows.append(
            {
                "source": name,
                "feature_dim": int(F.shape[1]),
                "seconds": round(seconds, 2),
                "knn5_cv_accuracy": knn_cv_accuracy(F, y),
            }
        )
    return rows


@app.command()
def demo(
    n: Annotated[int, typer.Option("--n", min=50, help="MNIST test images to embed.")] = 500,
    json_out: JsonOption = False,
) -> None:
    """Embed MNIST digits with two real pre-trained sources and compare their features."""
    with rich_progress(enabled=not json_out) as progress:
        rows = run_demo(n, progress)
    if json_out:
        print_json({"dataset": "mnist", "n": n, "rows": rows})
        return
    print_table(
        f"Source features on {n} MNIST test digits (5-NN, 5-fold CV)",
        ["source", "feature dim", "seconds", "5-NN CV accuracy"],
        [[r["source"], r["feature_dim"], r["seconds"], r["knn5_cv_accuracy"]] for r in rows],
    )
