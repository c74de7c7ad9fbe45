"""Reuse without labels (issue #23): ``recycle reuse DATA --classes A,B --out DIR`` and
``recycle zoo build-demo --modality tabular``, through the real CLI on a real zoo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import run_cli
from recycle.adapt import Recycler
from recycle.cli import main
from recycle.tabular.reuse import reuse
from recycle.tabular.zoo import provider_split, table
from recycle.zoo import Zoo


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The quick tabular demo zoo (both churn tables), built by the CLI, and users' files."""
    root = tmp_path_factory.mktemp("reuse")
    zoo = root / "zoo"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECYCLE_CACHE", str(root / "cache"))
        argv = ["zoo", "build-demo", "--modality", "tabular", "--quick", "--zoo", str(zoo)]
        assert main([*argv, "--json"]) == 0
    files = {"zoo": zoo, "root": root}
    for name in ("mlc_churn", "wa_churn"):
        ds = provider_split(table(name))
        frame = pd.DataFrame(ds.X_test, columns=ds.feature_names)
        frame.to_csv(root / f"{name}_new.csv", index=False)
        frame.assign(label=np.asarray(ds.classes)[ds.y_test]).to_csv(
            root / f"{name}_labelled.csv", index=False
        )
    return files


def test_build_demo_registers_the_tabular_zoo_once(
    market: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    zoo = Zoo.open(market["zoo"], create=False)
    card = zoo.get("hgb.mlc_churn").card
    assert card.input.columns and len(card.input.columns) == 22
    assert card.input.column_units[card.input.columns.index("total_day_charge")] == "USD"
    assert card.input.column_types[card.input.columns.index("international_plan=yes")] == "binary"
    assert zoo.get("hgb.wa_churn").spec_space == "input:40"
    argv = ["zoo", "build-demo", "--modality", "tabular", "--quick", "--zoo", str(market["zoo"])]
    code, out, _ = run_cli(capsys, [*argv, "--json"])
    assert code == 0 and json.loads(out)["registered"] == []
    code, out, _ = run_cli(capsys, argv)
    said = " ".join(out.split())
    assert code == 0 and said.startswith(f"Tabular demo zoo at {market['zoo']}: 0 registered, 2 ")
    assert re.fullmatch(r".*: 0 registered, 2 already there \(\d+ s\)\.", said), said


def test_reuse_without_labels_predicts_each_table_from_its_own_source(
    market: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    root, zoo = market["root"], str(market["zoo"])
    for name, classes in (("mlc_churn", "no,yes"), ("wa_churn", "No,Yes")):
        out = root / f"model_{name}"
        code, text, err = run_cli(
            capsys, ["reuse", str(root / f"{name}_new.csv"), "--classes", classes,
                     "--out", str(out), "--zoo", zoo, "--json"],
        )  # fmt: skip
        assert code == 0, err
        report = json.loads(text)
        assert [s["name"] for s in report["sources"]] == [f"hgb.{name}"]
        assert report["trainable_params"] == 0 and report["n_train"] == 0
        code, text, err = run_cli(
            capsys, ["evaluate", str(out), str(root / f"{name}_labelled.csv"), "--zoo", zoo,
                     "--json"],
        )  # fmt: skip
        assert code == 0, err
        majority = {"mlc_churn": 0.859, "wa_churn": 0.735}[name]  # share of "no" in the rows
        assert json.loads(text)["accuracy"] > majority + 0.05


def test_reused_model_matches_the_library_and_reloads(market: dict[str, Path]) -> None:
    zoo = Zoo.open(market["zoo"], create=False)
    frame = pd.read_csv(market["root"] / "mlc_churn_new.csv")
    rec = reuse(zoo, frame, ["no", "yes"])
    folder = rec.save(market["root"] / "lib_model")
    back = Recycler.load(folder, zoo=zoo)
    shuffled = frame[frame.columns[::-1]]
    assert np.allclose(back.predict_proba(shuffled), rec.predict_proba(frame))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--classes", "no,maybe"], "classes ['maybe'] are known by no source"),
        (["--classes", "yes"], "--classes must name at least two distinct classes"),
        (["--classes", "no,yes", "--zoo", "{root}/nozoo"], "No zoo at"),
    ],
)
def test_reuse_errors_are_one_line_exit_2(
    market: dict[str, Path], capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    root = market["root"]
    argv = ["reuse", str(root / "mlc_churn_new.csv"), "--out", str(root / "bad")]
    extra = [a.format(root=root) for a in args]
    if "--zoo" not in extra:
        extra += ["--zoo", str(market["zoo"])]
    code, _, err = run_cli(capsys, argv + extra)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not (root / "bad").exists() and not (root / "nozoo").exists()


def test_reuse_refuses_a_table_no_source_can_read(
    market: dict[str, Path], capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    other = tmp_path / "other.csv"
    pd.DataFrame({"height_cm": [170.0, 180.5], "weight_kg": [60.2, 80.1]}).to_csv(other)
    code, _, err = run_cli(
        capsys, ["reuse", str(other), "--classes", "no,yes", "--out", str(tmp_path / "m"),
                 "--zoo", str(market["zoo"])],
    )  # fmt: skip
    assert code == 2 and err.startswith("Error: No source can be reused for this table"), err
    assert "hgb.mlc_churn@1.0.0: only 0 of its 22 columns match the table" in err


def test_quick_tabular_protocol_runs_every_kind_of_user(market: dict[str, Path]) -> None:
    from recycle.bench.protocols import run_protocol

    results = run_protocol(
        "tabular", quick=True, seeds=1, shots=(25,), methods=("gb", "no_source", "auto"),
        cache_dir=str(market["root"] / "cache"),
    )  # fmt: skip
    assert results.meta["failures"] == []
    rows = {(r.target, r.method): r for r in results.rows}
    kinds = {t.split(":")[0] for t, _ in rows}
    assert kinds == {"rows", "table", "subset", "superset", "renamed", "related"}
    # held-out tables and the related table have no usable source: auto says so and falls back
    for target in ("table:mlc_churn", "table:wa_churn", "related:wa_churn"):
        assert rows[(target, "auto")].extra["strategy"] == "no_source"
        assert rows[(target, "auto")].extra["selected"] == []
    # held-out rows of a table whose own source is in the zoo: auto uses it
    assert rows[("rows:mlc_churn", "auto")].extra["selected"] == ["hgb.mlc_churn"]
