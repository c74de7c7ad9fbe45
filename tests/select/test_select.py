"""The two-phase selector, automatic m, failures, schema errors and the CLI, on real digits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from recycle.errors import ConfigError, IncompatibleError, SourceFailedError
from recycle.select import Selection, choose_m, select_sources
from recycle.select.quality import selection_quality
from recycle.sources.arch import build_architecture
from recycle.sources.torch_source import TorchSource

SOURCE_CLASSES = [0, 1, 2, 3, 4]
TARGET_CLASSES = [5, 6, 7, 8, 9]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


def _train_mlp(classes: list[int], seed: int, sid: str, hidden: int = 32) -> TorchSource:
    """A 64-32 MLP + head trained (1 s) on the digits of ``classes``: a real, small source."""
    X, y = _digits()
    keep = np.isin(y, classes)
    Xs, ys = torch.from_numpy(X[keep]), torch.from_numpy(np.searchsorted(classes, y[keep]))
    torch.manual_seed(seed)
    body = build_architecture("mlp", in_features=64, hidden=[64], out_features=hidden)
    head = nn.Linear(hidden, len(classes))
    opt = torch.optim.Adam([*body.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(torch.relu(body(Xs))), ys)
        loss.backward()
        opt.step()
    return TorchSource(
        body,
        "tabular:identity",
        hidden,
        source_id=sid,
        head=head,
        source_classes=[str(c) for c in classes],
    )


def _blind(sid: str) -> TorchSource:
    """A source whose features ignore the input (all weights zero): useless for any target."""
    net = build_architecture("mlp", in_features=64, hidden=[16], out_features=8)
    for p in net.parameters():
        nn.init.zeros_(p)
    return TorchSource(net, "tabular:identity", 8, source_id=sid)


class Exploding:
    """A source that fails at inference."""

    source_id = "broken.source"
    modality = "tabular"
    access = "black-box"
    feature_dim = 4

    def embed(self, X: np.ndarray) -> np.ndarray:
        raise RuntimeError("GPU on fire")


@pytest.fixture(scope="module")
def sources() -> dict[str, TorchSource]:
    torch.set_num_threads(1)
    return {
        "good": _train_mlp(SOURCE_CLASSES, 0, "mlp.digits04"),
        "blind": _blind("mlp.blind"),
    }


@pytest.fixture(scope="module")
def target() -> tuple[np.ndarray, np.ndarray]:
    X, y = _digits()
    rng = np.random.default_rng(0)
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), 15, replace=False) for c in TARGET_CLASSES]
    )
    return X[idx], y[idx]


@pytest.mark.parametrize("score", ["knn", "logme", "hscore", "gbc", "linear"])
def test_trained_source_ranked_above_blind_one(sources, target, score: str) -> None:
    X, y = target
    sel = select_sources([sources["blind"], sources["good"]], X, y, score=score, m=1)
    assert [r.source_id for r in sel.ranking] == ["mlp.digits04", "mlp.blind"]
    assert sel.selected == ["mlp.digits04"]
    assert sel.features["mlp.digits04"].shape == (75, 32)
    assert sel.sources["mlp.digits04"] is sources["good"]
    assert all(r.seconds >= 0 and r.error is None for r in sel.ranking)


@pytest.mark.parametrize("score", ["leep", "nce"])
def test_probability_scores_use_the_head(sources, target, score: str) -> None:
    X, y = target
    with pytest.warns(UserWarning, match="needs a source head"):
        sel = select_sources([sources["blind"], sources["good"]], X, y, score=score, m=1)
    assert sel.selected == ["mlp.digits04"]
    assert sel.failed[0].source_id == "mlp.blind"
    with pytest.warns(UserWarning), pytest.raises(SourceFailedError, match="All 1 candidate"):
        select_sources([sources["blind"]], X, y, score=score)


def test_failing_source_is_skipped_with_a_warning(sources, target) -> None:
    X, y = target
    with pytest.warns(UserWarning) as caught:
        sel = select_sources([Exploding(), sources["good"]], X, y, m=2)
    messages = [str(w.message) for w in caught]
    assert any(
        "'broken.source' failed and was skipped" in t and "GPU on fire" in t for t in messages
    )
    assert any("m=2 but only 1 source(s) could be scored" in t for t in messages)
    assert sel.selected == ["mlp.digits04"]  # m=2 asked, one source left
    bad = sel.ranking[-1]
    assert bad.source_id == "broken.source" and bad.score is None
    assert "RuntimeError: GPU on fire" in (bad.error or "")
    json.dumps(sel.to_dict())  # the report stays JSON-able with a failure in it


def test_incompatible_target_names_available_schemas(sources, target) -> None:
    X, y = target
    images = (X.reshape(-1, 8, 8) * 255).astype(np.uint8)
    with pytest.raises(IncompatibleError, match=r"source input schemas available: tabular"):
        select_sources([sources["good"]], images, y)
    with pytest.raises(IncompatibleError, match=r"No source accepts the target \(text"):
        select_sources([sources["good"]], [f"text {i}" for i in range(len(y))], y)


def test_bad_arguments(sources, target) -> None:
    X, y = target
    with pytest.raises(ConfigError, match="Unknown score 'knnn'"):
        select_sources([sources["good"]], X, y, score="knnn")
    with pytest.raises(ConfigError, match="'m' parameter must be an int >= 1 or 'auto'"):
        select_sources([sources["good"]], X, y, m=0)
    with pytest.raises(ConfigError, match="unique"):
        select_sources([sources["good"], sources["good"]], X, y)


def test_auto_m_keeps_complementary_and_drops_duplicate_sources() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 20)
    parity = rng.normal(size=(80, 8))
    parity[:, 0] += 3 * (y % 2)
    half = rng.normal(size=(80, 8))
    half[:, 0] += 3 * (y // 2)
    noise = rng.normal(size=(80, 8))
    res = choose_m([parity, 2.0 * parity, noise, half], y, max_m=5)
    assert res.chosen == [0, 3]
    assert any(t["action"] == "redundant" and t["index"] == 1 for t in res.trace)
    assert res.cv_accuracy > res.trace[0]["accuracy"] + 0.15
    assert choose_m([parity, half], y, max_m=1).chosen == [0]


def test_auto_m_in_selector_keeps_one_of_two_identical_sources(sources, target) -> None:
    X, y = target
    twin = _train_mlp(SOURCE_CLASSES, 0, "mlp.twin")  # same seed: same weights, other id
    sel = select_sources([sources["good"], twin, sources["blind"]], X, y, m="auto")
    assert sel.m_mode == "auto" and sel.m == len(sel.selected) == 1
    assert sel.selected[0] in {"mlp.digits04", "mlp.twin"}
    assert sel.auto is not None and sel.to_dict()["auto"]["m"] == 1


def test_top_truncates_ranking_and_progress_is_reported(sources, target) -> None:
    X, y = target
    seen: list[tuple[str, int, int]] = []
    sel = select_sources(
        [sources["good"], sources["blind"]], X, y, m=1, top=1, progress=lambda *a: seen.append(a)
    )
    assert [r.source_id for r in sel.ranking] == ["mlp.digits04"]
    assert seen[-1] == ("score:knn", 2, 2)


def test_selection_quality_on_selector_output(sources, target) -> None:
    X, y = target
    extra = _train_mlp([0, 1, 2, 3, 4, 5], 1, "mlp.digits05")
    srcs = [sources["blind"], sources["good"], extra]
    sel = select_sources(srcs, X, y, m=2)
    order = [s.source_id for s in srcs]
    scores = [next(r.score for r in sel.ranking if r.source_id == sid) for sid in order]
    truth = [0.2, 0.8, 0.9]  # a made-up ground truth to exercise the report
    q = selection_quality({"knn": scores}, truth, {"knn": [order.index(s) for s in sel.selected]})
    assert q["knn"]["contains_best"] is True
    assert q["knn"]["top1_regret"] <= 0.1


# -- zoo and CLI ---------------------------------------------------------------------------


def _card(name: str, src: TorchSource):
    from recycle.zoo import ModelCard

    return ModelCard(
        name=name,
        modality="tabular",
        task="classification",
        input={"shape": [64], "dtype": "float32", "value_range": [0, 1]},
        output={"feature_dim": src.feature_dim, "source_classes": src.source_classes},
    )


@pytest.fixture(scope="module")
def tiny_zoo(sources, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recycle.zoo import Zoo

    root = tmp_path_factory.mktemp("select-zoo") / "zoo"
    zoo = Zoo.open(str(root))
    zoo.register(sources["good"], _card("mlp.digits04", sources["good"]), validate=False)
    blind = _blind("mlp.blind")
    zoo.register(blind, _card("mlp.blind", blind), validate=False)
    zoo.close()
    return root


def test_select_from_a_zoo(tiny_zoo: Path, target) -> None:
    from recycle.zoo import Zoo

    X, y = target
    zoo = Zoo.open(str(tiny_zoo))
    sel = select_sources(zoo, X, y, score="logme", m=1)
    assert isinstance(sel, Selection)
    assert sel.ranking[0].name == "mlp.digits04" and sel.ranking[0].entry_id is not None
    assert len(sel.selected) == 1 and sel.selected[0] in sel.sources
    with pytest.raises(IncompatibleError, match=r"tabular\[64\]"):
        select_sources(zoo, X[:, :10], y)


def test_cli_select_json_and_table(tiny_zoo: Path, target, tmp_path: Path, capsys) -> None:
    from recycle.cli import main

    X, y = target
    data = tmp_path / "target.npz"
    np.savez(data, X=X, y=y)
    code = main(
        ["select", str(data), "--score", "knn", "--m", "1", "--zoo", str(tiny_zoo), "--json"]
    )
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["ranking"][0]["name"] == "mlp.digits04" and report["m"] == 1
    assert main(["select", str(data), "--top", "1", "--zoo", str(tiny_zoo)]) == 0
    assert "mlp.digits04" in capsys.readouterr().out
    assert main(["select", str(data), "--score", "nope", "--zoo", str(tiny_zoo)]) == 2
    assert "Unknown --score 'nope'" in capsys.readouterr().err
    assert main(["select", str(data), "--m", "0", "--zoo", str(tiny_zoo)]) == 2
