"""Protocol ``realzoo``: real pre-trained black-box sources for few-shot digit, fashion and animal
targets.

Sources: EfficientNet-Lite0/1/2 (ImageNet), the MNIST/USPS/SVHN digit CNNs, and the stream28
sources used black-box through ``embed``. Targets: 5-way and 10-way few-shot tasks on the *test*
splits of MNIST, Fashion-MNIST and Animal-MNIST (the stream28 sources only saw train-split
images). The report's heatmap shows which kind of source selection picks for which target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recycle.bench.runner import Method, Target
from recycle.progress import ProgressCallback

DATASETS = ("mnist", "fashion-mnist", "animal-mnist")
BUILTINS = (
    "effnet_lite0.imagenet",
    "effnet_lite1.imagenet",
    "effnet_lite2.imagenet",
    "digitcnn.mnist",
    "digitcnn.usps",
    "digitcnn.svhn",
)
QUICK_BUILTINS = ("effnet_lite0.imagenet", "digitcnn.mnist", "digitcnn.usps")
SHOTS_PER_CLASS = (5, 25)
TEST_PER_CLASS = 50


def realzoo_sources(
    quick: bool,
    quick_pool: bool = False,
    progress: ProgressCallback | None = None,
    cache_dir: str | None = None,
) -> list[Any]:
    """Builtin pre-trained sources, plus the stream28 sources (black-box) in the full run.

    ``quick_pool`` keeps every builtin but takes the quick (8-source, cached) stream28 zoo.
    """
    from recycle.sources import builtin

    sources: list[Any] = [builtin(name) for name in (QUICK_BUILTINS if quick else BUILTINS)]
    if not quick:
        from recycle.bench.stream28 import Stream28

        stream = Stream28(seed=0, quick=quick_pool, cache_dir=cache_dir)
        _, stream_sources = stream.build_sources(progress)
        sources += list(stream_sources)
    return sources


def realzoo_targets(quick: bool, seeds: int) -> list[Target]:
    """5-way (classes drawn by seed) and 10-way targets on each dataset's test split."""
    from recycle import datasets

    names = ("mnist", "animal-mnist") if quick else DATASETS
    shots_per_class = (10,) if quick else SHOTS_PER_CLASS
    ways_options = (5,) if quick else (5, 10)
    targets = []
    loaded = {name: datasets.load(name) for name in names}
    # seed outermost: a partial run (checkpoint) covers every dataset at seed 0 first
    for seed in range(seeds):
        for name, ds in loaded.items():
            rng = np.random.default_rng([seed, len(name)])
            for ways in ways_options:
                classes = np.sort(rng.choice(len(ds.classes), ways, replace=False))
                for k in shots_per_class:
                    tr, te = [], []
                    for c in classes:
                        idx = rng.permutation(np.flatnonzero(ds.y_test == c))
                        tr.append(idx[:k])
                        te.append(idx[k : k + TEST_PER_CLASS])
                    tr_idx, te_idx = np.concatenate(tr), np.concatenate(te)
                    remap = {int(c): i for i, c in enumerate(classes)}
                    y_tr = np.array([remap[int(v)] for v in ds.y_test[tr_idx]])
                    y_te = np.array([remap[int(v)] for v in ds.y_test[te_idx]])
                    targets.append(
                        Target(
                            f"{name}.{ways}way",
                            k * ways,
                            seed,
                            ds.X_test[tr_idx],
                            y_tr,
                            ds.X_test[te_idx],
                            y_te,
                        )
                    )
    return targets


def realzoo_methods() -> list[Method]:
    """The realzoo protocol's methods (black-box only: the sources are not one family), and
    ``finetune`` (EfficientNet-Lite0 fine-tuned on the target; no source)."""
    return [
        Method("independent", {"strategy": "independent", "m": 1}),
        Method("linear_probe_m1", {"strategy": "linear_probe", "m": 1}),
        Method("linear_probe_m3", {"strategy": "linear_probe", "m": 3}),
        Method("feature_mixing_m3", {"strategy": "feature_mixing", "m": 3}),
        Method("mcw_knn_m3", {"strategy": "mcw", "m": 3, "selection_score": "knn"}),
        Method("stacking_m3", {"strategy": "stacking", "m": 3}),
        Method("auto", {"strategy": "auto", "m": "auto"}),
        Method("finetune", {"strategy": "finetune"}),
    ]
