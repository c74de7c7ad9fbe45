"""The service checks inputs against the model as ``recycle predict`` does (#18's checks).

Over HTTP on a real server: a table sent to ``/models/{id}/embed`` is matched to the card's
columns **by name** when the request names them (reordered columns give the same output; a
missing one is a one-line 422 naming it), its width is checked before it reaches the sandbox,
and a fit job's ``X_test`` that does not match its ``X`` is refused at submit, not after the fit.
Written against the code that took columns by position only and failed such jobs late.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from service_helpers import digits_rows
from web_helpers import Site, register_api, serve

COLUMNS = [f"px{i}" for i in range(64)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve(tmp_path_factory.mktemp("schema")) as s:
        yield s


@pytest.fixture(scope="module")
def model(site: Site) -> dict[str, Any]:
    named = {"shape": [64], "dtype": "float32", "value_range": [0, 16], "columns": COLUMNS}
    return register_api(site, "provider", "digits.named", 4, input=named)


def _post(site: Site, path: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {site.keys['user']}"}
    return httpx.post(f"{site.url}{path}", headers=headers, timeout=120, **kw)


def _one_line_422(r: httpx.Response, *parts: str) -> None:
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "\n" not in detail and all(p in detail for p in parts), detail


def test_table_columns_are_matched_by_name(site: Site, model: dict[str, Any]) -> None:
    X = digits_rows(8, seed=1)
    path = f"/models/{model['id']}/embed"
    r = _post(site, path, json={"data": X.tolist()})
    assert r.status_code == 200, r.text
    plain = np.asarray(r.json()["data"])
    order = np.random.default_rng(0).permutation(64)
    shuffled = {"data": X[:, order].tolist(), "columns": [COLUMNS[i] for i in order]}
    r = _post(site, path, json=shuffled)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(np.asarray(r.json()["data"]), plain, rtol=1e-5, atol=1e-6)

    keep = [i for i in range(64) if i != 3]
    missing = {"data": X[:, keep].tolist(), "columns": [COLUMNS[i] for i in keep]}
    _one_line_422(_post(site, path, json=missing), "lacks column(s) 'px3'")
    _one_line_422(_post(site, path, json={"data": X[:, :10].tolist()}), "has 10 columns", "64")
    short = {"data": X.tolist(), "columns": COLUMNS[:5]}
    _one_line_422(_post(site, path, json=short), "'columns' names 5 columns")


def test_fit_job_refuses_an_X_test_unlike_X_at_submit(site: Site, model: dict[str, Any]) -> None:
    X = digits_rows(60, seed=2)
    y = np.arange(60) % 3
    buf = io.BytesIO()
    np.savez(buf, X=X, y=y, X_test=X[:5, :10])
    params = {"params": f'{{"sources": ["{model["id"]}"], "strategy": "linear_probe"}}'}
    r = _post(site, "/jobs/fit", files={"data": ("t.npz", buf.getvalue())}, data=params)
    _one_line_422(r, "X_test has 10 columns", "64")
    user = next(k for k in site.db.list_keys() if k["owner"] == "alice")
    assert site.db.list_jobs(user["owner"]) == []  # nothing queued
