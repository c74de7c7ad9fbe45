"""The whole Model-as-a-Service flow over HTTP on a real PostgreSQL catalog.

A provider registers real pre-trained digit CNNs (the ``ccexam`` MNIST/USPS/SVHN weights) with
specs built from its own data; a user searches by spec (no raw data sent), runs a selection job
and a fit job against the served models as black boxes, downloads the recycled model; every
result equals the in-process library's on the same data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recycle.client import Client
from recycle.service import Settings, create_app
from recycle.service.auth import create_key
from service_helpers import ServerThread

pytestmark = pytest.mark.postgres

TARGET_CLASSES = ["0", "1", "2", "3", "4"]
SHOTS = 20  # per class: a few-shot target
SPEC_M = 20  # reduced points per spec


def digit_models() -> list[tuple[Any, Any]]:
    """The real pre-trained digit CNNs as provider-owned sources with their cards."""
    from recycle.sources import TorchSource, builtin
    from recycle.zoo import ModelCard

    out = []
    for variant in ("mnist", "usps", "svhn"):
        b = builtin(f"digitcnn.{variant}")
        name = f"digits.{variant}-cnn"
        src = TorchSource(
            b.torch_module(), b.preprocess_id, b.feature_dim, source_id=name, head=b.head,
            source_classes=b.source_classes,
        )  # fmt: skip
        card = ModelCard(
            name=name, modality="image", task="classification",
            input={"shape": [28, 28], "dtype": "uint8", "value_range": [0, 255]},
            output={"feature_dim": b.feature_dim, "source_classes": list(b.source_classes)},
            license="MIT", description=f"digit CNN trained on {variant.upper()}",
        )  # fmt: skip
        out.append((src, card))
    return out


def target(seed: int = 0) -> dict[str, np.ndarray]:
    """A 5-way few-shot MNIST target (real data) and a test split."""
    from recycle import datasets

    d = datasets.load("mnist")
    rng = np.random.default_rng(seed)
    classes = [d.classes.index(c) for c in TARGET_CLASSES]
    tr = np.concatenate([rng.choice(np.flatnonzero(d.y_train == c), SHOTS, False) for c in classes])
    te = np.concatenate([rng.choice(np.flatnonzero(d.y_test == c), 20, False) for c in classes])
    return {"X": d.X_train[tr], "y": d.y_train[tr], "X_test": d.X_test[te], "y_test": d.y_test[te]}


@pytest.fixture
def served_pg(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Any]]:
    from recycle.zoo import Zoo

    zoo = Zoo.open(pg_url, artifacts=str(tmp_path / "artifacts"))
    settings = Settings(zoo=pg_url, artifacts=str(tmp_path / "artifacts"),
                        jobs_dir=str(tmp_path / "jobs"), job_workers=1)  # fmt: skip
    app = create_app(settings, zoo=zoo)
    db = app.state.service.db
    keys = {"provider": create_key(db, "provider", "digits-lab")[0],
            "user": create_key(db, "user", "alice")[0]}  # fmt: skip
    with ServerThread(app) as server:
        yield server.url, keys, zoo
    zoo.close()


@pytest.mark.slow  # ~60 s: three checker runs and two jobs; quick variant in test_service.py
def test_whole_flow_on_postgres_matches_the_library(served_pg: Any, tmp_path: Path) -> None:
    from recycle import datasets
    from recycle.adapt import Recycler
    from recycle.select import select_sources
    from recycle.spec import build_spec

    url, keys, zoo = served_pg
    assert zoo.engine.dialect.name == "postgresql"
    provider, user = Client(url, keys["provider"]), Client(url, keys["user"])
    mnist = datasets.load("mnist")

    # Provider: register real pre-trained models; the MNIST one with a spec of its own data.
    ids = []
    for src, card in digit_models():
        spec = build_spec(mnist.X_train[:400], m=SPEC_M) if "mnist" in card.name else None
        entry = provider.register(src, card, spec=spec)
        assert entry["card"]["provider"] == "digits-lab"
        ids.append(entry["id"])
    assert sorted(e["id"] for e in user.list(modality="image")) == sorted(ids)

    # User: search by spec (only the spec leaves the user's machine).
    t = target()
    query = build_spec(t["X"], m=SPEC_M)
    hits = user.search_spec(query, top=3)
    local_hits = zoo.search(query, top=3)
    assert [h["id"] for h in hits] == [h.entry.id for h in local_hits]
    assert hits[0]["id"] == ids[0]  # the MNIST model's spec is the match
    np.testing.assert_allclose([h["score"] for h in hits], [h.score for h in local_hits])

    # Selection job over the served models as black boxes == in-process selection.
    params = {"sources": ids, "score": "knn", "m": "auto", "seed": 0}
    job = user.wait(user.submit_select(t["X"], t["y"], params)["id"])
    remote = user.sources(ids)
    sel = select_sources(remote, t["X"], t["y"], score="knn", m="auto", seed=0)
    by_sid = {s.source_id: s.model_id for s in remote}
    assert job["result"]["selected"] == [by_sid[s] for s in sel.selected]
    assert [r["entry_id"] for r in job["result"]["ranking"]] == [
        by_sid[r.source_id] for r in sel.ranking
    ]
    np.testing.assert_allclose(
        [r["score"] for r in job["result"]["ranking"]], [r.score for r in sel.ranking]
    )
    assert job["result"]["ranking"][0]["entry_id"] == ids[0]  # MNIST CNN first on MNIST
    whitebox = select_sources([zoo.load(i) for i in ids], t["X"], t["y"], m="auto", seed=0)
    assert [r.score for r in whitebox.ranking] == pytest.approx([r.score for r in sel.ranking])

    # Fit job (black-box recycling on the server) == Recycler in process on RemoteSources.
    fit_params = {"sources": ids, "m": 2, "strategy": "linear_probe", "seed": 0}
    job = user.submit_fit(t["X"], t["y"], fit_params, X_test=t["X_test"])
    assert job["status"] in ("queued", "running", "done")
    job = user.wait(job["id"])
    rec = Recycler(remote, m=2, strategy="linear_probe", seed=0).fit(t["X"], t["y"])
    local_pred = rec.predict(t["X_test"])
    server_pred = np.asarray(job["result"]["predictions"])
    np.testing.assert_array_equal(server_pred.astype(str), local_pred.astype(str))
    assert (local_pred.astype(int) == t["y_test"]).mean() > 0.8  # the recycled model works

    # Download the recycled model; it loads against the remote sources and predicts the same.
    folder = user.download(job["id"], tmp_path / "download")
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "recycler.json"]
    loaded = Recycler.load(folder, sources=remote)
    np.testing.assert_array_equal(loaded.predict(t["X_test"]), local_pred)
    assert json.dumps(job["result"]["report"])  # JSON-able report


def test_postgres_keys_audit_and_readiness(served_pg: Any) -> None:
    """Quick PostgreSQL check: service tables beside the zoo's, auth, audit, /ready."""
    import httpx
    import sqlalchemy as sa

    url, keys, zoo = served_pg
    tables = set(sa.inspect(zoo.engine).get_table_names())
    assert {"service_keys", "service_audit", "service_jobs", "entries"} <= tables
    assert httpx.get(f"{url}/ready").json() == {"status": "ready"}
    assert httpx.get(f"{url}/models").status_code == 401
    user = {"Authorization": f"Bearer {keys['user']}"}
    assert httpx.get(f"{url}/models", headers=user).json() == {"items": []}
    assert httpx.post(f"{url}/models", headers=user, data={"card": "{}"}).status_code == 403
    with zoo.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT method, status FROM service_audit")).all()
    assert ("POST", 403) in [tuple(r) for r in rows]
