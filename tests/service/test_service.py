"""The HTTP service on a real uvicorn server (SQLite catalog): auth, roles, limits, uploads."""

from __future__ import annotations

import io
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from recycle.errors import AuthError, ForbiddenError, PayloadTooLargeError
from recycle.service import Settings, create_app
from recycle.service.auth import create_key
from recycle.zoo import Zoo
from service_helpers import Served, ServerThread, digits_rows, mlp_model, upload_form

MAX_UPLOAD = 1_000_000
MAX_BATCH = 64


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("svc") / "zoo"
    zoo = Zoo.open(folder)
    settings = Settings(
        zoo=str(folder), max_upload_bytes=MAX_UPLOAD, max_json_bytes=MAX_UPLOAD,
        max_batch=MAX_BATCH, job_workers=1,
    )  # fmt: skip
    app = create_app(settings, zoo=zoo)
    db = app.state.service.db
    keys = {
        "prov_a": create_key(db, "provider", "acme")[0],
        "prov_b": create_key(db, "provider", "globex")[0],
        "user": create_key(db, "user", "alice")[0],
        "user2": create_key(db, "user", "carol")[0],
        "admin": create_key(db, "admin", "root")[0],
        "slow": create_key(db, "user", "bob", rate_per_minute=1)[0],
    }
    revoked, info = create_key(db, "user", "mallory")
    db.revoke_key(info.id)
    keys["revoked"] = revoked
    with ServerThread(app) as server:
        yield Served(server.url, zoo, db, keys, app.state.service.jobs)


@pytest.fixture(scope="module")
def model_a(served: Served) -> dict[str, Any]:
    with served.client("prov_a") as c:
        r = c.post("/models", **upload_form("mlp.svc-a", seed=1))
    assert r.status_code == 201, r.text
    return r.json()


def test_health_ready_docs_open(served: Served) -> None:
    with served.client(None) as c:
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/ready").json() == {"status": "ready"}
        assert c.get("/docs").status_code == 200
        paths = c.get("/openapi.json").json()["paths"]
    for p in (
        "/models",
        "/models/{model_id}/embed",
        "/specs/search",
        "/jobs/fit",
        "/jobs/{job_id}",
    ):
        assert p in paths


@pytest.mark.parametrize("who", [None, "wrong", "malformed", "revoked"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/models"), ("POST", "/models")])
def test_bad_keys_get_401(served: Served, who: str | None, method: str, path: str) -> None:
    keys = {
        None: None,
        "wrong": "rk_0123456789abcdef_" + "A" * 43,
        "malformed": "hunter2",
        "revoked": served.keys["revoked"],
    }
    headers = {"X-API-Key": keys[who]} if keys[who] else {}
    r = httpx.request(method, served.url + path, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "AuthError" and r.json()["detail"]


def test_wrong_secret_of_existing_key_is_401(served: Served) -> None:
    key = served.keys["user"]
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    r = httpx.get(served.url + "/models", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_user_key_on_provider_route_is_403(served: Served, model_a: dict) -> None:
    with served.client("user") as c:
        r = c.post("/models", **upload_form("mlp.svc-user"))
        assert r.status_code == 403 and r.json()["error"] == "ForbiddenError"
        assert c.delete(f"/models/{model_a['id']}").status_code == 403
    with served.client("prov_a") as c:  # a provider cannot query models as a user
        r = c.post(f"/models/{model_a['id']}/embed", json={"data": [[0.0] * 64]})
        assert r.status_code == 403


def test_register_sets_owner_and_is_listed(served: Served, model_a: dict) -> None:
    assert model_a["card"]["provider"] == "acme"
    with served.client("user") as c:
        items = c.get("/models", params={"provider": "acme"}).json()["items"]
        assert model_a["id"] in [m["id"] for m in items]
        assert c.get("/models", params={"provider": "nobody"}).json()["items"] == []
        assert c.get(f"/models/{model_a['id']}").json()["name"] == "mlp.svc-a"


def test_provider_cannot_remove_another_providers_model(served: Served) -> None:
    with served.client("prov_a") as c:
        created = c.post("/models", **upload_form("mlp.svc-owned", seed=2)).json()
    with served.client("prov_b") as c:
        r = c.delete(f"/models/{created['id']}")
        assert r.status_code == 403 and "acme" in r.json()["detail"]
    assert served.zoo.get(created["id"]).name == "mlp.svc-owned"  # still there
    with served.client("prov_a") as c:
        assert c.delete(f"/models/{created['id']}").status_code == 204
        assert c.get(f"/models/{created['id']}").status_code == 404


def test_embed_matches_the_library_and_batch_limit(served: Served, model_a: dict) -> None:
    X = digits_rows(40)
    local = served.zoo.load(model_a["id"]).embed(X)
    with served.client("user") as c:
        as_json = c.post(f"/models/{model_a['id']}/embed", json={"data": X.tolist()}).json()
        np.testing.assert_array_equal(np.asarray(as_json["data"], dtype=np.float32), local)
        from recycle.client import Client

        remote = Client(served.url, served.keys["user"]).embed(model_a["id"], X)
        np.testing.assert_array_equal(remote, local)
        big = digits_rows(MAX_BATCH + 1)
        r = c.post(f"/models/{model_a['id']}/embed", json={"data": big.tolist()})
        assert r.status_code == 413 and r.json()["error"] == "PayloadTooLargeError"
        r = c.post(f"/models/{model_a['id']}/predict", json={"data": X.tolist()})
        assert r.status_code == 422 and "head" in r.json()["detail"]  # no head: clear error
        r = c.post(f"/models/{model_a['id']}/embed", json={"data": [[1.0, 2.0]]})
        assert r.status_code == 422  # wrong input width: the client's error, not a 500


def test_oversized_upload_is_413(served: Served) -> None:
    form = upload_form("mlp.svc-big")
    form["files"].append(("files", ("extra.json", b"0" * (MAX_UPLOAD + 10), "application/json")))
    with served.client("prov_a") as c:
        r = c.post("/models", **form)
        assert r.status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield (
                b'--b\r\nContent-Disposition: form-data; name="files"; filename="x.json"\r\n'
                b"Content-Type: application/json\r\n\r\n"
            )
            for _ in range(40):
                yield b"0" * 50_000

        r = c.post(
            "/models", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert r.status_code == 413
    assert all(e.name != "mlp.svc-big" for e in served.zoo.list())


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("card", "{not json", "CardError"),
        ("card", json.dumps({"name": "mlp.x"}), "CardError"),  # missing fields
        ("spec", "[1, 2]", "SpecError"),
        ("spec", json.dumps({"space": "input:64"}), "SpecError"),
        ("config", json.dumps({"format": "pickle"}), "UnsafeContentError"),
    ],
)
def test_malformed_card_spec_config_is_422(served: Served, field: str, value: str, error: str):
    form = upload_form("mlp.svc-bad")
    form["data"][field] = value
    with served.client("prov_a") as c:
        r = c.post("/models", **form)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == error and len(r.json()["detail"]) > 10


class _Payload:
    """Pickling this writes a marker file when unpickled (it must never be unpickled)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "pwned"))


@pytest.mark.parametrize("name", ["weights.safetensors", "model.pkl", "model.skops"])
def test_pickle_payload_is_rejected_and_not_run(served: Served, tmp_path: Path, name: str):
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Payload(marker))
    form = upload_form("mlp.svc-evil")
    form["files"] = [("files", (name, payload, "application/octet-stream"))]
    with served.client("prov_a") as c:
        r = c.post("/models", **form)
    assert r.status_code == 422 and r.json()["error"] in ("UnsafeContentError", "ValidationError")
    assert not marker.exists()
    assert all(e.name != "mlp.svc-evil" for e in served.zoo.list())


@pytest.mark.parametrize(
    "bad_name", ["../evil.safetensors", "..", "a/b.safetensors", ".hidden.json", "x\\y.onnx"]
)
def test_path_traversal_in_file_names_fails(served: Served, bad_name: str) -> None:
    form = upload_form("mlp.svc-trav")
    form["files"] = [("files", (bad_name, b"{}", "application/json"))]
    with served.client("prov_a") as c:
        r = c.post("/models", **form)
    assert r.status_code in (400, 422)


@pytest.mark.parametrize("card_name", ["../../etc.passwd", "a/b.c", "mlp..x", "MLP.X"])
def test_path_traversal_in_card_names_fails(served: Served, card_name: str) -> None:
    form = upload_form("mlp.svc-trav2", card_extra={"name": card_name})
    with served.client("prov_a") as c:
        r = c.post("/models", **form)
    assert r.status_code == 422 and r.json()["error"] == "CardError"


@pytest.mark.parametrize("bad_id", ["..%2F..%2Fetc%2Fpasswd", "x" * 32, "mlp.svc-a", "0" * 31])
def test_non_hex_ids_are_404(served: Served, model_a: dict, bad_id: str) -> None:
    with served.client("user") as c:
        assert c.get(f"/models/{bad_id}").status_code == 404
        assert c.post(f"/models/{bad_id}/embed", json={"data": [[0.0]]}).status_code == 404
        assert c.get(f"/jobs/{bad_id}").status_code == 404


def test_rate_limit_per_key_is_429(served: Served) -> None:
    with served.client("slow") as c:
        assert c.get("/models").status_code == 200
        r = c.get("/models")
    assert r.status_code == 429 and r.headers.get("retry-after")


def test_audit_log_records_writes_with_keys(served: Served, model_a: dict) -> None:
    with served.client("prov_b") as c:
        assert c.delete(f"/models/{model_a['id']}").status_code == 403
    with served.client("user") as c:
        assert c.get("/audit").status_code == 403
    with served.client("admin") as c:
        rows = c.get("/audit", params={"limit": 500}).json()
    prov_b_id = served.keys["prov_b"].split("_")[1]
    denied = [r for r in rows if r["key_id"] == prov_b_id and r["method"] == "DELETE"]
    assert denied and denied[0]["status"] == 403 and denied[0]["owner"] == "globex"
    created = [r for r in rows if r["method"] == "POST" and r["status"] == 201]
    assert any(json.loads(r["detail"])["model"] == model_a["id"] for r in created)
    assert any(r["key_id"] is None and r["status"] == 401 for r in rows)  # keyless attempts
    assert not any("rk_" in json.dumps(r) for r in rows)  # secrets never logged


def test_client_maps_errors_to_the_library_tree(served: Served, model_a: dict) -> None:
    from recycle.client import Client

    with pytest.raises(AuthError):
        Client(served.url, "rk_0123456789abcdef_" + "A" * 43).list()
    with pytest.raises(ForbiddenError):
        Client(served.url, served.keys["prov_b"]).remove(model_a["id"])
    with pytest.raises(PayloadTooLargeError):
        Client(served.url, served.keys["user"]).embed(model_a["id"], digits_rows(MAX_BATCH + 1))


def test_keys_are_stored_hashed(served: Served) -> None:
    secret = served.keys["user"].split("_", 2)[2]
    rows = served.db.list_keys()
    assert rows and all(secret not in json.dumps(r, default=str) for r in rows)


def test_npz_target_with_pickle_is_refused(served: Served, tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.savez(buf, X=np.array([_Payload(tmp_path / "m")], dtype=object), y=np.array([0]))
    with served.client("user") as c:
        r = c.post("/jobs/select", files={"data": ("t.npz", buf.getvalue())})
    assert r.status_code == 422 and r.json()["error"] == "DataError"
    assert not (tmp_path / "m").exists()
    assert os.environ.get("RECYCLE_CACHE")  # the conftest isolation is active


# -- jobs (quick variant of tests/service/test_service_flow.py, on SQLite) ----------------


@pytest.fixture(scope="module")
def two_models(served: Served, model_a: dict) -> list[str]:
    src, card = mlp_model("mlp.svc-b", seed=7)
    card = type(card).from_dict({**card.to_dict(), "provider": "acme"})
    entry = served.zoo.register(src, card, validate=False)  # trusted test code: no checker
    return [model_a["id"], entry.id]


def digits_target() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data.astype(np.float32), d.target
    rng = np.random.default_rng(0)
    keep = np.flatnonzero(y < 4)
    tr = rng.choice(keep, 80, replace=False)
    te = rng.choice(np.setdiff1d(keep, tr), 40, replace=False)
    return {"X": X[tr], "y": y[tr], "X_test": X[te], "y_test": y[te]}


def test_select_and_fit_jobs_match_the_library(served: Served, two_models: list[str], tmp_path):
    from recycle.adapt import Recycler
    from recycle.client import Client
    from recycle.select import select_sources

    user, t = Client(served.url, served.keys["user"]), digits_target()
    remote = user.sources(two_models)
    job = user.wait(user.submit_select(t["X"], t["y"], {"sources": two_models, "m": 1})["id"])
    sel = select_sources(remote, t["X"], t["y"], m=1, seed=0)
    assert job["result"]["selected"] == [s.model_id for s in remote if s.source_id in sel.selected]
    assert job["done"] == job["total"] and job["status"] == "done"

    params = {"sources": two_models, "m": 1, "strategy": "linear_probe", "seed": 0}
    job = user.wait(user.submit_fit(t["X"], t["y"], params, X_test=t["X_test"])["id"])
    local = Recycler(remote, m=1, strategy="linear_probe", seed=0).fit(t["X"], t["y"])
    np.testing.assert_array_equal(job["result"]["predictions"], local.predict(t["X_test"]))
    folder = user.download(job["id"], tmp_path)
    loaded = Recycler.load(folder, sources=remote)
    np.testing.assert_array_equal(loaded.predict(t["X_test"]), local.predict(t["X_test"]))

    other = Client(served.url, served.keys["admin"])
    assert other.poll(job["id"])["status"] == "done"  # admins see every job
    with served.client("user2") as c:  # another user does not see it at all
        assert c.get(f"/jobs/{job['id']}").status_code == 404


def test_queued_job_can_be_cancelled(served: Served, two_models: list[str]) -> None:
    import threading

    from recycle.client import Client

    user, t = Client(served.url, served.keys["user"]), digits_target()
    manager = served.jobs
    gate = threading.Event()
    blocker = manager._pool.submit(gate.wait, 60)  # occupy the single worker
    try:
        job = user.submit_fit(t["X"], t["y"], {"sources": two_models})
        assert job["status"] == "queued"
        assert user.cancel(job["id"])["status"] == "cancelled"
    finally:
        gate.set()
        blocker.result()
    assert user.poll(job["id"])["status"] == "cancelled"
    with pytest.raises(Exception, match="no model"):
        user.download(job["id"], "/nonexistent")


def test_bad_job_inputs_are_422(served: Served, two_models: list[str]) -> None:
    t = digits_target()
    buf = io.BytesIO()
    np.savez(buf, X=t["X"], y=t["y"])
    with served.client("user") as c:
        r = c.post("/jobs/fit", files={"data": ("t.npz", b"not a zip")})
        assert r.status_code == 422 and "npz" in r.json()["detail"]
        for params, field in (
            ({"sources": ["../../etc"]}, "sources"),
            ({"rm_rf": True}, "rm_rf"),
            ({"sources": two_models, "strategy": "no-such"}, "strategy"),
        ):
            r = c.post("/jobs/fit", files={"data": ("t.npz", buf.getvalue())},
                       data={"params": json.dumps(params)})  # fmt: skip
            assert r.status_code == 422 and field in r.json()["detail"], r.text
        unknown = {"params": json.dumps({"sources": ["0" * 32]})}
        r = c.post("/jobs/fit", files={"data": ("t.npz", buf.getvalue())}, data=unknown)
        assert r.status_code == 404


def test_export_job_gives_one_onnx_file_that_predicts_like_the_fitted_job(
    served: Served, two_models: list[str], tmp_path: Path
) -> None:
    import onnxruntime as ort

    from recycle.adapt import Recycler
    from recycle.client import Client

    user, t = Client(served.url, served.keys["user"]), digits_target()
    params = {"sources": two_models, "m": 2, "strategy": "linear_probe", "seed": 0}
    fit = user.wait(user.submit_fit(t["X"], t["y"], params, X_test=t["X_test"])["id"])
    queued = user.submit_export(fit["id"])
    assert queued["kind"] == "export" and queued["status"] in ("queued", "running")
    export = user.wait(queued["id"])
    assert export["result"]["quantize"] is None
    with served.client("user") as c:
        r = c.get(f"/jobs/{export['id']}/result")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    path = user.download_onnx(export["id"], tmp_path / "model.onnx")
    assert path.read_bytes() == r.content
    with pytest.raises(ValueError, match="already exists"):  # never over the user's file
        user.download_onnx(export["id"], path)
    session = ort.InferenceSession(r.content)
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    proba = session.run(["probabilities"], {"input": t["X_test"]})[0]
    meta = session.get_modelmeta().custom_metadata_map
    classes = json.loads(meta["classes"])
    recorded = {s["entry_id"]: s for s in json.loads(meta["recycle"])["sources"]}
    assert sorted(recorded) == sorted(two_models)
    for entry_id, record in recorded.items():  # each source's licence and weights named
        entry = served.zoo.get(entry_id)
        assert (record["license"], record["sha256"]) == (entry.card.license, entry.artifact_sha256)
    folder = user.download(fit["id"], tmp_path / "fitted")
    model = Recycler.load(folder, sources=user.sources(two_models))
    np.testing.assert_allclose(proba, model.predict_proba(t["X_test"]), atol=1e-4)
    assert [int(classes[i]) for i in proba.argmax(1)] == fit["result"]["predictions"]


def test_export_needs_a_done_fit_job_of_ones_own_and_valid_params(
    served: Served, two_models: list[str]
) -> None:
    from recycle.client import Client

    user, t = Client(served.url, served.keys["user"]), digits_target()
    select = user.wait(user.submit_select(t["X"], t["y"], {"sources": two_models, "m": 1})["id"])
    fit_params = {"sources": two_models, "m": 1, "strategy": "linear_probe"}
    fit = user.wait(user.submit_fit(t["X"], t["y"], fit_params)["id"])
    with served.client("user") as c:
        r = c.post(f"/jobs/{select['id']}/export")
        assert r.status_code == 404 and "wait until a fit job is done" in r.json()["detail"]
        r = c.post(f"/jobs/{fit['id']}/export", data={"params": '{"quantize": "int4"}'})
        assert r.status_code == 422 and "quantize" in r.json()["detail"], r.text
        assert c.get(f"/jobs/{fit['id']}").json()["status"] == "done"
    with served.client("user2") as c:  # another user's model is not there at all
        assert c.post(f"/jobs/{fit['id']}/export").status_code == 404
