"""The web front end over HTTP on a real server: sign-in, roles, CSRF, escaping, limits, errors.

The browser walks (provider, user, XSS and CSRF in Chromium) are in test_web_browser.py; these
check the same server-side rules without a browser, so they run where chromium is absent.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recycle.errors import DataError
from recycle.service.auth import KeyInfo
from recycle.service.web import uploads
from web_helpers import Site, digits_csv, model_files, register_api, serve

MAX_UPLOAD = 400_000  # bytes: a few hundred digits rows fit, a bigger file does not
XSS = '<script>alert("pwned")</script><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve(tmp_path_factory.mktemp("web"), max_upload_bytes=MAX_UPLOAD) as s:
        yield s


@pytest.fixture(scope="module")
def models(site: Site) -> list[dict[str, Any]]:
    """Three digits models of two providers; one card carries a script in its description."""
    return [
        register_api(site, "provider", "digits.mlp-a", 1, description=XSS, license="MIT"),
        register_api(site, "provider", "digits.mlp-b", 2, license="Apache-2.0"),
        register_api(site, "provider2", "digits.mlp-c", 3, description="globex features"),
    ]


def test_pages_need_sign_in_and_root_leads_there(site: Site) -> None:
    c = site.browser()
    assert c.get("/").headers["location"] == "/web/zoo"
    r = c.get("/web/zoo")
    assert r.status_code == 303 and r.headers["location"] == "/web/signin?next=/web/zoo"
    assert c.get("/web/jobs/" + "0" * 32 + "/status").status_code == 303


def test_wrong_key_is_shown_next_to_the_field(site: Site) -> None:
    c = site.browser()
    r = c.sign_in("rk_0123456789abcdef_" + "A" * 43)
    assert r.status_code == 401
    assert 'id="api_key-error"' in r.text and "Invalid API key" in r.text
    assert "recycle_session" not in r.headers.get("set-cookie", "")


def test_session_cookie_is_httponly_strict_and_sign_out_ends_it(site: Site) -> None:
    c = site.browser()
    r = c.sign_in(site.keys["user"])
    cookie = r.headers["set-cookie"].lower()
    assert "recycle_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert site.keys["user"] not in r.headers["set-cookie"]  # the key never goes to the browser
    session = c.cookies["recycle_session"]
    assert c.page("/web/zoo").status_code == 200
    assert c.post("/web/signout", data={"csrf": c.csrf}).headers["location"] == "/web/signin"
    c.cookies.set("recycle_session", session)  # a stolen cookie is dead after sign-out
    assert c.get("/web/zoo").status_code == 303


def test_revoked_key_stops_the_session_on_the_next_page(site: Site) -> None:
    from recycle.service.auth import create_key

    key, info = create_key(site.db, "user", "temp")
    c = site.browser()
    assert c.sign_in(key).status_code == 303
    assert c.get("/web/zoo").status_code == 200
    site.db.revoke_key(info.id)
    assert c.get("/web/zoo").headers["location"].startswith("/web/signin")


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [("user", "/web/register", 403), ("user", "/web/admin/keys", 403),
     ("provider", "/web/recycle", 403), ("provider", "/web/admin/audit", 403),
     ("admin", "/web/register", 200), ("admin", "/web/recycle", 200)],
)  # fmt: skip
def test_roles_are_the_apis(site: Site, who: str, path: str, status: int) -> None:
    r = site.browser(who).get(path)
    assert r.status_code == status
    if status == 403:
        assert "has role" in r.text and "<h1>Something went wrong" in r.text


def test_card_text_is_escaped_on_every_page(site: Site, models: list[dict[str, Any]]) -> None:
    c = site.browser("user")
    for path in ("/web/zoo", f"/web/models/{models[0]['id']}"):
        r = c.get(path)
        assert r.status_code == 200
        assert "<script>alert" not in r.text and "<img src=x" not in r.text
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]


def test_csrf_token_is_required_on_every_post(site: Site, models: list[dict[str, Any]]) -> None:
    admin = site.browser("admin")
    admin.page("/web/admin/keys")
    before = len(site.db.list_keys())
    for data in (
        {"role": "admin", "owner": "evil"},
        {"role": "admin", "owner": "evil", "csrf": "x"},
    ):
        r = admin.post("/web/admin/keys", data=data)
        assert r.status_code == 403 and "security token" in r.text
    r = admin.post(
        "/web/admin/keys",
        data={"role": "admin", "owner": "evil", "csrf": admin.csrf},
        headers={"Origin": "http://evil.example"},
    )
    assert r.status_code == 403 and "another site" in r.text
    provider = site.browser("provider")
    r = provider.post(f"/web/models/{models[1]['id']}/remove", data={"csrf": "stale"})
    assert r.status_code == 403
    assert len(site.db.list_keys()) == before
    assert site.zoo.get(models[1]["id"]).name == "digits.mlp-b"  # not removed
    c = site.browser()  # sign-in without the double-submit cookie's token
    r = c.post("/web/signin", data={"api_key": site.keys["admin"], "csrf": ""})
    assert r.status_code == 403 and "recycle_session" not in c.cookies


def test_zoo_search_filters_sort_and_pages(site: Site, models: list[dict[str, Any]]) -> None:
    c = site.browser("user")

    def names(query: str) -> list[str]:
        text = c.get("/web/zoo?" + query).text
        return [n for n in ("digits.mlp-a", "digits.mlp-b", "digits.mlp-c") if f">{n}</a>" in text]

    assert names("q=globex") == ["digits.mlp-c"]
    assert names("provider=acme") == ["digits.mlp-a", "digits.mlp-b"]
    assert names("license=Apache-2.0") == ["digits.mlp-b"]
    assert names("modality=image") == []
    text = c.get("/web/zoo?sort=provider&per_page=2&page=2").text
    assert ">digits.mlp-c</a>" in text and ">digits.mlp-a</a>" not in text
    assert "page 2 of 2" in text and 'rel="prev"' in text
    assert c.get("/web/zoo?sort=nonsense").status_code == 422


def test_model_page_shows_card_licence_provider_lineage_spec(
    site: Site, models: list[dict[str, Any]]
) -> None:
    text = site.browser("user").get(f"/web/models/{models[1]['id']}").text
    assert '<dd id="license">Apache-2.0</dd>' in text and '<dd id="provider">acme</dd>' in text
    assert "<dt>Rows summarised</dt><dd>200</dd>" in text  # the spec of 200 digits rows
    assert "<dt>Reduced points</dt><dd>10</dd>" in text and "Trained directly" in text
    r = site.browser("user").get("/web/models/" + "f" * 32)
    assert r.status_code == 404 and "No zoo entry &#39;ffff" in r.text


def test_try_it_runs_the_model_on_a_sample(
    site: Site, models: list[dict[str, Any]], tmp_path: Path
) -> None:
    import pandas as pd

    model_id = models[1]["id"]
    sample = digits_csv(tmp_path / "sample.csv", n=3, seed=5, label=False)
    c = site.browser("user")
    c.page(f"/web/models/{model_id}")
    files = {"sample": ("sample.csv", sample.read_bytes())}
    r = c.post(f"/web/models/{model_id}/try", data={"csrf": c.csrf}, files=files)
    assert r.status_code == 200
    X = pd.read_csv(sample).to_numpy(dtype=np.float32)
    expected = site.zoo.load(model_id).embed(X)  # the library's features of the same rows
    cells = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td></tr>", r.text)
    assert [row for row, _ in cells] == ["1", "2", "3"]
    assert [float(v) for v in cells[0][1].split(", ")] == pytest.approx(expected[0, :6], rel=1e-2)
    bad = {"sample": ("sample.csv", b"px0,px1\n1,2\n")}
    r = c.post(f"/web/models/{model_id}/try", data={"csrf": c.csrf}, files=bad)
    assert r.status_code == 422 and 'id="sample-error"' in r.text
    assert "has 2 columns; this model was fitted on 64" in r.text  # checked before the model
    p = site.browser("provider")  # providers do not query models; users do (the API's roles)
    p.page(f"/web/models/{model_id}")
    r = p.post(f"/web/models/{model_id}/try", data={"csrf": p.csrf}, files=files)
    assert r.status_code == 403 and "has role &#39;provider&#39;" in r.text


def test_upload_errors_are_shown_next_to_the_file(site: Site, tmp_path: Path) -> None:
    c = site.browser("user")
    c.page("/web/recycle")
    no_label = digits_csv(tmp_path / "x.csv", n=40, label=False)
    r = c.post(
        "/web/upload", data={"csrf": c.csrf}, files={"dataset": ("x.csv", no_label.read_bytes())}
    )
    assert (
        r.status_code == 422
        and 'id="dataset-error"' in r.text
        and "no &#39;label&#39; column" in r.text
    )
    r = c.post("/web/upload", data={"csrf": c.csrf}, files={"dataset": ("x.exe", b"MZ")})
    assert r.status_code == 422 and "not a CSV" in r.text


def test_text_csv_upload_is_a_text_dataset(site: Site, tmp_path: Path) -> None:
    import pandas as pd

    from recycle import datasets

    d = datasets.load("rotten-tomatoes")
    labels = [d.classes[y] for y in d.y_train[:60]]
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"text": list(d.X_train[:60]), "label": labels}).to_csv(path, index=False)
    c = site.browser("user")
    c.page("/web/recycle")
    files = {"dataset": ("reviews.csv", path.read_bytes())}
    r = c.post("/web/upload", data={"csrf": c.csrf}, files=files)
    assert r.status_code == 303
    page = c.get(r.headers["location"]).text
    assert '<span class="tag">text</span><span class="tag">60 rows</span>' in page
    assert "The zoo has no text model yet." in page


@pytest.mark.parametrize(
    ("next_url", "goes_to"),
    [("/web/mine", "/web/mine"), ("//evil.example/x", "/web/zoo"),
     ("https://evil.example", "/web/zoo"), ("/\\evil.example", "/web/zoo")],
)  # fmt: skip
def test_sign_in_only_returns_to_a_local_page(site: Site, next_url: str, goes_to: str) -> None:
    c = site.browser()
    c.page("/web/signin")
    form = {"csrf": c.csrf, "api_key": site.keys["provider"], "next": next_url}
    r = c.post("/web/signin", data=form)
    assert r.headers["location"] == goes_to


def test_ranking_and_fit_errors_are_shown_next_to_their_forms(
    site: Site, models: list[dict[str, Any]], tmp_path: Path
) -> None:
    import time

    c = site.browser("user")
    c.page("/web/recycle")
    train = digits_csv(tmp_path / "train.csv", n=60)
    r = c.post(
        "/web/upload", data={"csrf": c.csrf}, files={"dataset": ("t.csv", train.read_bytes())}
    )
    upload_id = r.headers["location"].rsplit("/", 1)[1]
    r = c.post("/web/select", data={"csrf": c.csrf, "upload_id": upload_id})
    assert r.status_code == 422 and 'id="select-error"' in r.text and "Tick at least one" in r.text
    form = {"csrf": c.csrf, "upload_id": upload_id, "sources": [models[1]["id"]]}
    job_url = c.post("/web/select", data=form).headers["location"]
    deadline = time.monotonic() + 60
    while "Working" in c.page(job_url).text and time.monotonic() < deadline:
        time.sleep(0.3)
    status = c.get(job_url + "/status").json()  # what the page's progress bar polls
    assert status["status"] == "done" and status["done"] == status["total"] > 0
    other = site.browser("user2")  # another user's job does not exist for them (the API's rule)
    assert other.get(job_url).status_code == 404
    assert other.get(job_url + "/status").status_code == 404
    assert site.browser("admin").get(job_url).status_code == 200
    wrong = {"predict": ("new.csv", b"px0,px1\n1,2\n")}  # lacks 62 of the training columns
    form = {**form, "strategy": "linear_probe", "m": "1", "ranking_job": job_url.rsplit("/", 1)[1]}
    r = c.post("/web/fit", data=form, files=wrong)
    assert r.status_code == 422 and 'id="fit-error"' in r.text
    assert "lacks column(s) 'px2', 'px3'" in html.unescape(r.text) and 'id="ranking"' in r.text


def test_web_uploads_obey_the_apis_body_limit(site: Site, tmp_path: Path) -> None:
    kept = Path(site.folder) / "zoo" / "service-jobs" / "web-uploads"
    before = set(kept.glob("*/meta.json"))
    c = site.browser("user")
    c.page("/web/recycle")
    big = digits_csv(tmp_path / "big.csv", n=1700)
    assert big.stat().st_size > MAX_UPLOAD
    r = c.post(
        "/web/upload", data={"csrf": c.csrf}, files={"dataset": ("big.csv", big.read_bytes())}
    )
    assert r.status_code == 413 and "exceeds the limit" in r.text
    assert set(kept.glob("*/meta.json")) == before  # nothing kept of a refused upload


def test_register_form_shows_the_card_error_next_to_its_field(site: Site, tmp_path: Path) -> None:
    m = model_files("digits.mlp-form", 4, tmp_path)
    c = site.browser("provider")
    c.page("/web/register")
    form = {"csrf": c.csrf, "name": "Bad Name!", "version": "1.0.0", "modality": "tabular",
            "task": "classification", "access": "white-box", "license": "MIT",
            "input_shape": "64", "input_dtype": "float32", "feature_dim": "16"}  # fmt: skip
    files = [("files", (p.name, p.read_bytes())) for p in m["files"]]
    files.append(("config", ("config.json", m["config"].read_bytes())))
    r = c.post("/web/register", data=form, files=files)
    assert r.status_code == 422
    assert 'id="name-error"' in r.text and "Card field &#39;name&#39;" in r.text
    assert 'value="Bad Name!"' in r.text  # what the provider typed is kept
    r = c.post("/web/register", data={**form, "name": "digits.mlp-form"}, files=files)
    assert r.status_code == 422 and 'id="value_low-error"' in r.text  # an image/tabular range
    r = c.post("/web/register", data={**form, "name": "digits.mlp-form", "value_low": "0",
                                      "value_high": "16"}, files=files)  # fmt: skip
    assert r.status_code == 303, re.findall(r"role=.alert.>[^<]*(?:<p>)?[^<]*", r.text)
    entry = site.zoo.get("digits.mlp-form")
    assert entry.card.provider == "acme" and r.headers["location"].startswith(
        f"/web/models/{entry.id}"
    )


def test_admin_creates_a_key_shown_once_and_revokes_it(site: Site) -> None:
    c = site.browser("admin")
    c.page("/web/admin/keys")
    r = c.post("/web/admin/keys", data={"csrf": c.csrf, "role": "user", "owner": "dana"})
    new_key = r.text.split('id="new-key" class="mono" value="')[1].split('"')[0]
    info = site.browser().sign_in(new_key)
    assert info.status_code == 303
    key_id = new_key.split("_")[1]
    assert c.page("/web/admin/keys").text.count(new_key) == 0  # shown once
    c.post(f"/web/admin/keys/{key_id}/revoke", data={"csrf": c.csrf})
    assert site.db.get_key(key_id)["revoked"] is not None
    audit = c.get("/web/admin/audit").text
    assert f"POST /web/admin/keys/{key_id}/revoke" in audit
    r = c.post("/web/admin/keys", data={"csrf": c.csrf, "role": "user", "owner": "bad owner!"})
    assert r.status_code == 422 and 'id="owner-error"' in r.text


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../evil.png", "/etc/evil.png", "a/../../evil.png"])
def test_zip_entries_outside_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match="points outside"):
        uploads.unzip(_zip({name: b"x"}), tmp_path / "out", max_bytes=10_000)
    assert not (tmp_path / "evil.png").exists()


def test_zip_of_an_image_folder_is_a_labelled_dataset(tmp_path: Path) -> None:
    from PIL import Image

    def png(v: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(np.full((8, 8), v, np.uint8)).save(buf, format="PNG")
        return buf.getvalue()

    raw = _zip({f"photos/{c}/{i}.png": png(40 * i) for c in ("cat", "dog") for i in range(3)})
    key = KeyInfo("k", "user", "alice")
    upload_id = uploads.save_labelled(tmp_path, "photos.zip", raw, key, max_bytes=10**6)
    meta, X, y = uploads.load_upload(tmp_path, upload_id, key)
    assert y.tolist() == ["cat"] * 3 + ["dog"] * 3
    assert (
        meta["modality"] == "image" and meta["classes"] == ["cat", "dog"] and X.shape == (6, 8, 8)
    )
    with pytest.raises(LookupError):  # another user cannot read it
        uploads.load_upload(tmp_path, upload_id, KeyInfo("k2", "user", "bob"))


def test_unlabelled_columns_are_matched_by_name(tmp_path: Path) -> None:
    import pandas as pd

    meta = {"modality": "tabular", "columns": ["a", "b"], "shape": [2]}
    X1, _ = uploads.read_unlabelled("p.csv", b"a,b\n1,2\n3,4\n", meta, 10**6)
    X2, ids = uploads.read_unlabelled("p.csv", b"b,extra,a\n2,9,1\n4,9,3\n", meta, 10**6)
    assert np.array_equal(X1, X2) and ids == ["1", "2"]
    with pytest.raises(DataError, match=r"lacks column\(s\) 'b' that the model needs"):
        uploads.read_unlabelled("p.csv", pd.DataFrame({"a": [1]}).to_csv().encode(), meta, 10**6)
