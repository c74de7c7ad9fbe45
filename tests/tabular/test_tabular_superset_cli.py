"""A superset table through the CLI: ``recycle fit`` / ``recycle select`` keep the user's extra
columns (issue #23).

On the code before this change the CLI read the table with the card's columns only and said
"dropped column(s) ... that the model does not use": the user's own columns never reached
``feature_augment``, and the model's schema did not name them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_helpers import run_cli
from recycle.adapt import Recycler
from recycle.tabular.zoo import build_tabular_zoo, provider_split, table
from recycle.zoo import Zoo

#: The user's own columns, beside mlc_churn's 22: ``signal`` carries the label (a column the
#: provider never had, e.g. a churn survey answer), the others are noise.
EXTRA = ("signal", "region_index", "web_visits")


@pytest.fixture(scope="module")
def superset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("superset")
    zoo = Zoo.open(root / "zoo")
    build_tabular_zoo(zoo, tables=["mlc_churn"], quick=True, cache_dir=root / "cache")
    ds = provider_split(table("mlc_churn"))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(ds.X_test, columns=ds.feature_names)
    frame["signal"] = ds.y_test + rng.normal(0, 0.1, len(frame))
    frame["region_index"] = rng.normal(size=len(frame))
    frame["web_visits"] = rng.poisson(3, len(frame)).astype(float)
    frame["label"] = np.asarray(ds.classes)[ds.y_test]
    frame.iloc[:200].to_csv(root / "train.csv", index=False)
    frame.iloc[200:].to_csv(root / "new.csv", index=False)
    return {"root": root, "zoo": str(root / "zoo"), "columns": list(ds.feature_names)}


def test_fit_keeps_the_extra_columns_for_feature_augment(
    superset: dict[str, Any], capsys: pytest.CaptureFixture
) -> None:
    root: Path = superset["root"]
    argv = ["fit", str(root / "train.csv"), "--out", str(root / "model"),
            "--strategy", "feature_augment", "--json", "--zoo", superset["zoo"]]  # fmt: skip
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    assert "dropped column" not in err
    report = json.loads(out)
    assert [s["name"] for s in report["sources"]] == ["hgb.mlc_churn"]
    rec = Recycler.load(root / "model", zoo=Zoo.open(superset["zoo"], create=False))
    assert list(rec.feature_names_in_) == [*superset["columns"], *EXTRA]
    new = pd.read_csv(root / "new.csv")
    # the label-carrying column is used beside the source's outputs: near-perfect accuracy
    assert rec.score(new.drop(columns="label"), new["label"].to_numpy()) > 0.99


def test_select_reads_the_superset_table(
    superset: dict[str, Any], capsys: pytest.CaptureFixture
) -> None:
    argv = ["select", str(superset["root"] / "train.csv"), "--json", "--zoo", superset["zoo"]]
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    assert "dropped column" not in err
    (chosen,) = json.loads(out)["selected"]
    assert chosen.startswith("hgb.mlc_churn@1.0.0")  # the source, its columns mapped by name
