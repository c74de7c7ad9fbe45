"""The `learnware` package's reusers beside ``recycle reuse`` on the tabular market (issue #23).

Same unlabelled targets (each table's user split, which no source saw), same sources (the ones
``recycle reuse`` kept for the table), each source wrapped as a learnware whose RKME table
specification is built by the package itself from the provider's own rows (the provider split
the source was trained on), with the package's defaults (``generate_rkme_table_spec``: gamma
0.1, 100 reduced points). Reusers: ``AveragingReuser(mode="vote_by_prob")`` and
``JobSelectorReuser`` (its LightGBM job selector trained on :data:`HERDING` points herded
from the specs), both
without labels. ``EnsemblePruningReuser`` needs labelled rows (it prunes on them), so it is not
a reuser without labels and is not run here.

Imported by ``benchmarks/tabular.py`` (``--zoo``); ``learnware`` is imported with ``HOME``
pointed at a temporary folder, since it creates ``~/.learnware`` and seeds every RNG on import.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np

#: Herded points of JobSelectorReuser (its default is 1000; its herding recomputes the kernel
#: of every point picked so far against 100 candidates per point, cubic in this number: 1000
#: ran > 10 min per table at load 6 without finishing, 200 takes seconds).
HERDING = 200


def _learnware() -> Any:
    """The package's modules, imported with a throwaway HOME."""
    home, old = tempfile.mkdtemp(prefix="learnware-home-"), os.environ.get("HOME")
    os.environ["HOME"] = home
    try:
        import learnware.learnware as lw_base
        import learnware.model as lw_model
        import learnware.reuse as lw_reuse
        import learnware.specification as lw_spec
    finally:
        if old is not None:
            os.environ["HOME"] = old
    return lw_base, lw_model, lw_reuse, lw_spec, home


def learnware_accuracies(zoo: Any, table: Any, source_names: list[str]) -> dict[str, float]:
    """Accuracy of learnware's AveragingReuser and JobSelectorReuser on ``table``'s user split
    (no labels used), with the sources ``source_names`` (entries of ``zoo``); also the seconds
    each took (``"*_seconds"``)."""
    from recycle.tabular.zoo import provider_split

    lw_base, lw_model, lw_reuse, lw_spec, home = _learnware()
    ds = provider_split(table)

    class Source(lw_model.BaseModel):  # type: ignore[misc,name-defined]
        """A zoo source as a learnware model: log-probabilities, so that the package's
        ``vote_by_prob`` softmax gives back the source's own probabilities."""

        def __init__(self, source: Any, n_classes: int) -> None:
            super().__init__(input_shape=(len(ds.feature_names),), output_shape=(n_classes,))
            self.source = source

        def predict(self, X: np.ndarray) -> np.ndarray:
            p = self.source.predict_proba(np.asarray(X, dtype=np.float32))
            return np.log(np.clip(p, 1e-12, 1.0))

    start = time.perf_counter()
    # one spec per provider: every source of a table was trained on the same provider rows
    spec = lw_spec.generate_rkme_table_spec(X=np.asarray(ds.X_train, dtype=np.float64))
    spec_seconds = time.perf_counter() - start
    wares = []
    for name in source_names:
        model = Source(zoo.load(name.split("@")[0]), len(ds.classes))
        wares.append(lw_base.Learnware(
            id=name, model=model, learnware_dirpath=home,
            specification=lw_spec.Specification(stat_spec={"RKMETableSpecification": spec}),
        ))  # fmt: skip
    X = np.asarray(ds.X_test, dtype=np.float64)
    out: dict[str, float] = {"spec_seconds": spec_seconds}
    reusers = {
        "averaging": lw_reuse.AveragingReuser(learnware_list=wares, mode="vote_by_prob"),
        "job_selector": lw_reuse.JobSelectorReuser(learnware_list=wares, herding_num=HERDING),
    }
    for key, reuser in reusers.items():
        t0 = time.perf_counter()
        pred = np.asarray(reuser.predict(user_data=X))
        labels = pred.argmax(axis=1) if pred.ndim == 2 else pred.astype(int)
        out[key] = float(np.mean(labels == ds.y_test))
        out[f"{key}_seconds"] = time.perf_counter() - t0
    return out
