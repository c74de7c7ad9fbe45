"""Uploads, names and untrusted inference under hostile use, on a real server (issue #20).

Each test reproduces an attack that worked before: an ``.npz`` bomb inflated inside the request,
deep JSON answered 500, a provider publishing a new version of another provider's name, non-ASCII
version digits, ONNX external data, an ONNX graph whose memory grows with the batch running in
the server process, a 1 s ``Retry-After``, and temp upload folders nobody cleaned.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recycle.errors import CardError
from recycle.service import Settings, create_app
from recycle.service.auth import create_key
from recycle.sources import OnnxSource, serialize
from recycle.zoo import ModelCard, Zoo
from service_attacks import nested_json, npz_bomb, npz_lying_shape, onnx_bomb, onnx_external
from service_helpers import Served, ServerThread, digits_rows, upload_form, wait_until

MIB = 1024 * 1024
MAX_ARRAY = 32 * MIB  # test server's max_array_bytes
BATCH = 64  # test server's inference_batch (rows per model call)
SANDBOX_MB = 3072  # test server's sandbox and checker memory limit
BOMB_FLOATS = 1 << 24  # the ONNX bomb's float32 per row: 64 MB a row, 4 GB at BATCH rows
RSS_SLACK = 200 * MIB  # what the server may grow by while it refuses or isolates a bomb


def rss() -> int:
    """Resident memory of this process (the in-thread server) in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Sample this process's RSS every 20 ms while the block runs; ``peak`` - ``base``."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("hostile-up") / "zoo"
    zoo = Zoo.open(folder)
    zoo.check_memory_mb = SANDBOX_MB
    settings = Settings(
        zoo=str(folder), max_upload_bytes=4 * MIB, max_json_bytes=4 * MIB, max_batch=BATCH,
        max_array_bytes=MAX_ARRAY, max_json_depth=32, inference_batch=BATCH,
        sandbox_memory_mb=SANDBOX_MB, rate_per_minute=600, rate_burst=100,
    )  # fmt: skip
    app = create_app(settings, zoo=zoo)
    db = app.state.service.db
    keys = {
        "acme": create_key(db, "provider", "acme")[0],
        "evil": create_key(db, "provider", "evil")[0],
        "user": create_key(db, "user", "alice")[0],
        "slow": create_key(db, "user", "bob", rate_per_minute=2)[0],
    }
    with ServerThread(app) as server:
        yield Served(server.url, zoo, db, keys, app.state.service.jobs)


@pytest.fixture(scope="module")
def acme_model(hostile: Served) -> dict[str, Any]:
    with hostile.client("acme") as c:
        r = c.post("/models", **upload_form("acme.pca", seed=1))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _onnx_form(name: str, model: bytes, extra_files: dict[str, bytes] | None = None) -> dict:
    plain = OnnxSource(onnx_bomb(1), "tabular:identity", pooling="none", feature_dim=16)
    config, files = serialize(plain)  # the config of any such model; its bytes replaced
    files = {name: model for name in files}
    card = ModelCard(
        name=name, modality="tabular", task="feature-extraction", access="black-box",
        input={"shape": [64], "dtype": "float32", "value_range": [0, 16]},
        output={"feature_dim": 16}, license="MIT",
    )  # fmt: skip
    files = {**files, **(extra_files or {})}
    return {
        "data": {"card": card.to_json(), "config": json.dumps(config)},
        "files": [("files", (n, b, "application/octet-stream")) for n, b in files.items()],
    }


# -- uploads -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "status"),
    [(lambda: npz_bomb(256 * MIB), 413), (npz_lying_shape, 422)],
    ids=["bomb-256MiB", "lying-shape"],
)
def test_npz_bombs_are_refused_before_inflating(hostile: Served, payload: Any, status: int):
    body = payload()
    assert len(body) < 1 * MIB
    with hostile.client("user") as c, PeakRss() as mem:
        r = c.post("/jobs/fit", files={"data": ("t.npz", body)})
        assert c.get("/health").status_code == 200
    assert r.status_code == status, r.text
    assert mem.growth < RSS_SLACK, f"server grew by {mem.growth / MIB:.0f} MiB"


@pytest.mark.parametrize("field", ["card", "config", "spec"])
def test_deep_json_in_form_fields_is_422(hostile: Served, field: str) -> None:
    form = upload_form("deep.json")
    form["data"][field] = '{"a": ' + nested_json(100_000) + "}"
    with hostile.client("acme") as c:
        r = c.post("/models", **form)
    assert r.status_code == 422, r.text
    assert "deep" in r.json()["detail"]


def test_deep_json_bodies_and_params_are_422(hostile: Served) -> None:
    with hostile.client("user") as c:
        r = c.post("/specs/search", content='{"spec": ' + nested_json(100_000) + "}",
                   headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code == 422, r.text
        target = {"data": ("t.npz", npz_lying_shape(rows=4, features=1))}
        r = c.post("/jobs/select", files=target, data={"params": nested_json(50_000)})
        assert r.status_code == 422, r.text
        assert c.get("/health").status_code == 200


# -- names and versions --------------------------------------------------------------------------


def test_another_provider_cannot_publish_a_name(hostile: Served, acme_model: dict) -> None:
    with hostile.client("evil") as c:
        r = c.post("/models", **upload_form("acme.pca", seed=9, card_extra={"version": "2.0.0"}))
    assert r.status_code == 403, r.text
    assert hostile.zoo.get("acme.pca").card.provider == "acme"
    with hostile.client("acme") as c:  # the owner still can
        r = c.post("/models", **upload_form("acme.pca", seed=2, card_extra={"version": "1.1.0"}))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("version", ["\u0669.\u0660.\u0660", "1.\uff12.3", "1.2.3-\u00e9"])
def test_versions_are_ascii_semver(hostile: Served, version: str) -> None:
    with pytest.raises(CardError, match="version"):
        ModelCard.from_dict({**upload_form_card(), "version": version})
    with hostile.client("acme") as c:
        r = c.post("/models", **upload_form("acme.unicode", card_extra={"version": version}))
    assert r.status_code == 422, r.text


def upload_form_card() -> dict[str, Any]:
    return json.loads(upload_form("acme.card")["data"]["card"])  # type: ignore[no-any-return]


# -- untrusted models ----------------------------------------------------------------------------


def test_onnx_with_external_data_is_refused(hostile: Served) -> None:
    model, data = onnx_external("weights.json")
    with hostile.client("acme") as c:
        r = c.post("/models", **_onnx_form("acme.external", model, {"weights.json": data}))
    assert r.status_code == 422, r.text
    assert "external data" in r.json()["detail"]
    assert hostile.zoo.store.url not in r.text


def test_the_checker_runs_a_batch_at_the_servers_batch_size(hostile: Served) -> None:
    with hostile.client("acme") as c, PeakRss() as mem:
        r = c.post("/models", **_onnx_form("acme.bomb", onnx_bomb(BOMB_FLOATS)))
    assert r.status_code == 422, r.text
    assert "memory" in r.json()["detail"]
    assert mem.growth < RSS_SLACK


def test_untrusted_inference_runs_in_a_limited_worker(hostile: Served, acme_model: dict):
    src = OnnxSource(onnx_bomb(BOMB_FLOATS), "tabular:identity", pooling="none", batch_size=4096)
    card = ModelCard(
        name="evil.bomb", modality="tabular", task="feature-extraction", access="black-box",
        input={"shape": [64], "dtype": "float32", "value_range": [0, 16]},
        output={"feature_dim": 16}, provider="evil",
    )  # fmt: skip
    bomb = hostile.zoo.register(src, card, validate=False)  # as if an older checker passed it
    rows = digits_rows(BATCH).tolist()
    try:
        with hostile.client("user") as c, PeakRss() as mem:
            r = c.post(f"/models/{bomb.id}/embed", json={"data": rows})
            health = c.get("/health").status_code
            good = c.post(f"/models/{acme_model['id']}/embed", json={"data": rows})
    finally:
        hostile.zoo.remove(bomb.id)
    assert r.status_code == 502, r.text
    assert "memory" in r.json()["detail"] and hostile.zoo.store.url not in r.text
    assert health == 200 and good.status_code == 200  # a fresh worker serves the next call
    assert mem.growth < RSS_SLACK, f"server grew by {mem.growth / MIB:.0f} MiB"


# -- limits tell the real wait, temp folders are cleaned -------------------------------------------


def test_retry_after_tells_the_real_wait(hostile: Served) -> None:
    with hostile.client("slow") as c:
        codes = [c.get("/models") for _ in range(3)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited
    assert int(limited[0].headers["Retry-After"]) >= 20  # 2/minute: a token every 30 s


KILLED_REGISTRATION = """
import sys, time
sys.path.insert(0, sys.argv[2])
from service_helpers import mlp_model
from recycle.zoo import Zoo
zoo = Zoo.open(sys.argv[1])
src, card = mlp_model("killed.reg", 0)
zoo.register(src, card)  # validates in the checker; we are killed meanwhile
"""


def test_killed_registration_temp_folders_are_cleaned(tmp_path: Path) -> None:
    folder = tmp_path / "zoo"
    zoo = Zoo.open(folder)
    tests = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_REGISTRATION, str(folder), tests], start_new_session=True
    )
    try:
        wait_until(lambda: bool(zoo.store.temp_files()), 60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    left = zoo.store.temp_files()
    assert left and zoo.fsck().temp_files == left  # fsck sees them
    create_app(Settings(zoo=str(folder)), zoo=zoo)  # a server start cleans them
    assert zoo.store.temp_files() == []
    assert zoo.fsck().clean
