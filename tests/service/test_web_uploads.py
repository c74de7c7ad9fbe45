"""Web uploads are bounded: an owner's cap, expiry when unused, killed requests' temp folders.

Written against the code that kept every upload under ``<jobs dir>/web-uploads/`` for ever.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from recycle.service.auth import KeyInfo
from recycle.service.web import uploads
from web_helpers import digits_csv, serve

ALICE, BOB = KeyInfo("ka", "user", "alice"), KeyInfo("kb", "user", "bob")
ALICE_OTHER_KEY = KeyInfo("ka2", "user", "alice")


@pytest.fixture(scope="module")
def csv_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return digits_csv(tmp_path_factory.mktemp("csv") / "d.csv", n=100).read_bytes()


def _ids(root: Path) -> set[str]:
    return {p.name for p in (root / uploads.UPLOADS).iterdir() if uploads.UPLOAD_ID.match(p.name)}


def _age(root: Path, upload_id: str, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(root / uploads.UPLOADS / upload_id / "meta.json", (past, past))


def test_an_owner_keeps_at_most_the_cap_and_loses_the_least_recently_used(
    tmp_path: Path, csv_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "MAX_UPLOADS_PER_OWNER", 3)
    bobs = uploads.save_labelled(tmp_path, "d.csv", csv_bytes, BOB, 10**6)
    first, second, third = (
        uploads.save_labelled(tmp_path, "d.csv", csv_bytes, ALICE, 10**6) for _ in range(3)
    )
    for i, upload_id in enumerate((first, second, third)):  # oldest first
        _age(tmp_path, upload_id, 300 - 100 * i)
    uploads.load_upload(tmp_path, first, ALICE)  # used again: now the most recent
    fourth = uploads.save_labelled(tmp_path, "d.csv", csv_bytes, ALICE_OTHER_KEY, 10**6)
    assert _ids(tmp_path) == {bobs, first, third, fourth}  # alice's LRU went; bob's stayed
    with pytest.raises(LookupError, match="upload it again"):
        uploads.load_upload(tmp_path, second, ALICE)


def test_unused_uploads_expire_and_killed_requests_leave_nothing(
    tmp_path: Path, csv_bytes: bytes
) -> None:
    old = uploads.save_labelled(tmp_path, "d.csv", csv_bytes, ALICE, 10**6)
    fresh = uploads.save_labelled(tmp_path, "d.csv", csv_bytes, ALICE, 10**6)
    _age(tmp_path, old, uploads.UPLOAD_TTL_S + 60)
    folder = tmp_path / uploads.UPLOADS
    killed = [folder / f"{uploads.TEMP_PREFIX}x1", folder / ".0123.tmp"]  # parsing, staging
    running = folder / f"{uploads.TEMP_PREFIX}x2"  # a request parsing right now
    for path in [*killed, running]:
        (path / "data").mkdir(parents=True)
        (path / "data" / "big.csv").write_bytes(b"x" * 1000)
    past = time.time() - uploads.STALE_TEMP_S - 60
    for path in killed:
        os.utime(path, (past, past))
    assert uploads.sweep(tmp_path) == 3
    assert _ids(tmp_path) == {fresh} and running.exists()
    assert not any(p.exists() for p in killed)


def test_server_start_sweeps_expired_uploads_and_each_upload_obeys_the_cap(
    tmp_path: Path, csv_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "MAX_UPLOADS_PER_OWNER", 2)
    root = tmp_path / "zoo" / "service-jobs"  # the default jobs dir of a zoo folder
    root.mkdir(parents=True)
    stale = uploads.save_labelled(root, "d.csv", csv_bytes, ALICE, 10**6)
    _age(root, stale, uploads.UPLOAD_TTL_S + 60)
    with serve(tmp_path) as site:
        assert _ids(root) == set()  # removed when the server started
        c = site.browser("user")  # alice
        for _ in range(3):
            c.page("/web/recycle")
            files = {"dataset": ("d.csv", csv_bytes)}
            r = c.post("/web/upload", data={"csrf": c.csrf}, files=files)
            assert r.status_code == 303, r.text
        assert len(_ids(root)) == 2
        assert c.get(r.headers["location"]).status_code == 200
