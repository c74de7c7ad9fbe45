"""Do two versions of recycle adapt identically? Fit every strategy, and auto with a budget no fit
reaches, on fixed tasks; print a hash of the predicted probabilities and the trainable parameters.

Run it once per version (a checkout's ``src`` first on the path) and diff the outputs::

    PYTHONPATH=/path/to/old/src python benchmarks/adapt_equivalence.py > old.json
    PYTHONPATH=src python benchmarks/adapt_equivalence.py > new.json
    diff old.json new.json

Works with the API before and after adapt/ was split into layers (white-box strategies took
``epochs`` then, ``max_epochs`` now). Tasks: digits with three fixed random-projection sources at
5 and 20 images per class (classes 0-4), and a small family (base pretrained on digits 5-9, two
adapter sources) for the white-box strategies. About 5 minutes on an idle core.
"""

import hashlib
import inspect
import json
import sys
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits

warnings.simplefilter("ignore")
torch.set_num_threads(1)
from _projection import Proj  # noqa: E402

from recycle.adapt import Recycler, get_strategy  # noqa: E402
from recycle.adapt.family import FamilyConfig, pretrain_base, train_source  # noqa: E402


def epochs_kw(cls, n):
    names = inspect.signature(cls).parameters
    return {"max_epochs": n} if "max_epochs" in names else {"epochs": n}


def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()[:16]


out = {}
X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
shots = {
    "25": np.r_[[np.flatnonzero(y == c)[:5] for c in range(5)]].ravel(),
    "100": np.r_[[np.flatnonzero(y == c)[:20] for c in range(5)]].ravel(),
}
test = np.flatnonzero(y < 5)[-300:]
srcs = [Proj(0), Proj(1), Proj(2)]
for label, tr in shots.items():
    for name in [
        "linear_probe",
        "averaging",
        "stacking",
        "feature_augment",
        "mcw",
        "feature_mixing",
        "independent",
    ]:
        cls = get_strategy(name)
        kw = epochs_kw(cls, 30) if name in ("feature_mixing", "independent") else {}
        est = cls(srcs, seed=0, **kw).fit(X[tr], y[tr])
        out[f"{name}@{label}"] = [digest(est.predict_proba(X[test])), int(est.trainable_params_)]
    rec = Recycler(srcs, m="auto", strategy="auto", time_budget=1e9, seed=0).fit(X[tr], y[tr])
    out[f"auto@{label}"] = [
        digest(rec.predict_proba(X[test])),
        rec.report_["strategy"],
        rec.report_["m"],
    ]

# white-box: a small real family on digits 5-9 (base) and tasks from them
torch.manual_seed(0)
img = np.repeat(np.repeat((X.reshape(-1, 8, 8) * 255).astype(np.uint8), 3, 1), 3, 2)[:, 2:30, 2:30]
b = np.flatnonzero(y >= 5)[:400]
base = pretrain_base(img[b], y[b] - 5, FamilyConfig(channels=(4, 8)), epochs=1, batch_size=32)
fam = [
    train_source(
        base, img[b[k::2]], (y[b[k::2]] >= 7).astype(int), ["lo", "hi"], epochs=1, name=f"s{k}"
    )
    for k in range(2)
]
tr = np.r_[[np.flatnonzero(y == c)[:8] for c in range(4)]].ravel()
te = np.flatnonzero(y < 4)[-200:]
for name in ["module_mixing", "independent_adapters", "finetune_source"]:
    cls = get_strategy(name)
    est = cls(fam, seed=0, **epochs_kw(cls, 4)).fit(img[tr], y[tr])
    out[f"{name}@wb"] = [digest(est.predict_proba(img[te])), int(est.trainable_params_)]
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
