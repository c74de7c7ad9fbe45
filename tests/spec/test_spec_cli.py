"""``recycle spec build`` and ``recycle search`` end to end on a tiny zoo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recycle.cli import main
from recycle.spec import Spec, build_spec


@pytest.fixture
def spec_zoo(tmp_path: Path) -> str:
    from recycle.zoo import Zoo
    from zoo_helpers import mlp_card, mlp_source

    zoo = Zoo.open(str(tmp_path / "zoo"))
    rng = np.random.default_rng(0)
    for i, mu in enumerate((-3.0, 0.0, 3.0)):
        spec = build_spec(rng.normal(mu, 1.0, size=(200, 4)), m=10, seed=i)
        zoo.register(mlp_source(i), mlp_card(f"mlp.s{i}"), spec=spec, validate=False)
    return str(tmp_path / "zoo")


def test_build_then_search(
    tmp_path: Path, spec_zoo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    data = tmp_path / "user.npz"
    X = rng.normal(3.0, 1.0, size=(120, 4))
    np.savez(data, X=X, y=np.zeros(120, dtype=int))
    out = tmp_path / "user.json"
    assert main(["spec", "build", str(data), "--out", str(out), "--m", "12", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    spec = Spec.load(out)
    assert info["m"] == spec.m == 12 and spec.space == "input:4" and spec.n == 120
    for raw_row in X:  # the spec holds no data row
        assert np.abs(spec.Z - raw_row).sum(axis=1).min() > 1e-6

    assert main(["search", str(out), "--top", "2", "--zoo", spec_zoo, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [h["name"] for h in res["hits"]] == ["mlp.s2", "mlp.s1"]
    assert res["hits"][0]["related"] and not res["hits"][1]["related"]

    # DATA directly, with a mixture explanation
    assert main(["search", str(data), "--zoo", spec_zoo, "--mixture", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["hits"][0]["name"] == "mlp.s2" and res["mixture"][0]["name"] == "mlp.s2"


def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, spec_zoo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 9, "space": "input:4", "gamma": 1, "Z": [[0] * 4],
                               "beta": [1.0], "n": 3}))  # fmt: skip
    assert main(["search", str(bad), "--zoo", spec_zoo]) == 2
    err = capsys.readouterr().err.strip()
    assert "Unknown spec version 9" in err and "\n" not in err
    small = tmp_path / "small.npz"
    np.savez(small, X=np.ones((10, 3)))
    assert main(["spec", "build", str(small), "--out", str(tmp_path / "s.json")]) == 0
    other = tmp_path / "s.json"
    assert main(["search", str(other), "--zoo", spec_zoo]) == 2
    assert "input:3" in capsys.readouterr().err
