"""The small network's test accuracy on digits with the old and the new hold-out rule.

Run once per version (its src first on the path) and compare; results of one run each are in
benchmarks/results/adapt_holdout_accuracy.json. About 3 minutes on an idle core.
"""

import json
import sys
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits

warnings.simplefilter("ignore")
torch.set_num_threads(1)
from _projection import Proj  # noqa: E402

from recycle.adapt import get_strategy  # noqa: E402

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
out = {}
for per in (5, 20):
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        tr = np.concatenate(
            [rng.choice(np.flatnonzero(y == c)[:150], per, replace=False) for c in range(10)]
        )
        te = np.setdiff1d(np.arange(len(y)), tr)
        for name in ("independent", "feature_mixing"):
            est = get_strategy(name)([Proj(0), Proj(1), Proj(2)], seed=seed).fit(X[tr], y[tr])
            out[f"{name} {per * 10} shots seed {seed}"] = round(
                float((est.predict(X[te]) == y[te]).mean()), 4
            )
json.dump(out, sys.stdout, indent=1)
print()
