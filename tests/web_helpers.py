"""Helpers of the web front end's tests: a served zoo with keys, and a signed-in HTTP session."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from recycle.service import Settings, create_app
from recycle.service.auth import create_key
from recycle.sources import serialize
from recycle.zoo import Zoo
from service_helpers import ServerThread, digits_rows, mlp_model

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')
ROLES_OWNERS = {"provider": "acme", "user": "alice", "admin": "root", "provider2": "globex",
                "user2": "carol"}  # fmt: skip


class Site:
    """A running server with its zoo, service DB and one key per role."""

    def __init__(self, url: str, zoo: Any, db: Any, keys: dict[str, str], folder: Path) -> None:
        self.url, self.zoo, self.db, self.keys, self.folder = url, zoo, db, keys, folder

    def browser(self, who: str | None = None) -> WebClient:
        """An HTTP client that signed in with ``who``'s key (or not signed in)."""
        client = WebClient(base_url=self.url, timeout=120, follow_redirects=False)
        if who is not None:
            r = client.sign_in(self.keys[who])
            assert r.status_code == 303, r.text
        return client


class WebClient(httpx.Client):
    """httpx with the front end's forms: reads the CSRF token from the last page."""

    csrf = ""

    def page(self, path: str) -> httpx.Response:
        r = self.get(path)
        m = CSRF_FIELD.search(r.text)
        if m and m.group(1):
            self.csrf = m.group(1)
        return r

    def sign_in(self, key: str) -> httpx.Response:
        self.page("/web/signin")
        return self.post("/web/signin", data={"csrf": self.csrf, "api_key": key})


@contextmanager
def serve(folder: Path, **settings: Any) -> Iterator[Site]:
    """A zoo in ``folder`` served on 127.0.0.1 with provider, user and admin keys."""
    zoo = Zoo.open(folder / "zoo")
    app = create_app(Settings(zoo=str(folder / "zoo"), job_workers=1, **settings), zoo=zoo)
    db = app.state.service.db
    keys = {who: create_key(db, who.rstrip("2"), owner)[0] for who, owner in ROLES_OWNERS.items()}
    with ServerThread(app) as server:
        yield Site(server.url, zoo, db, keys, folder)
    zoo.close()


def model_files(name: str, seed: int, folder: Path, **card: Any) -> dict[str, Any]:
    """A real small tabular model (digits' 64 features) as the files a provider uploads."""
    from recycle.spec import build_spec

    src, model_card = mlp_model(name, seed)
    config, files = serialize(src)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
        paths.append(folder / file_name)
    (folder / "config.json").write_text(json.dumps(config))
    spec = build_spec(digits_rows(200, seed=seed), m=10, seed=seed)
    (folder / "spec.json").write_text(json.dumps(spec.to_dict()))
    return {"card": {**model_card.to_dict(), **card}, "files": paths,
            "config": folder / "config.json", "spec": folder / "spec.json"}  # fmt: skip


def register_api(site: Site, who: str, name: str, seed: int, **card: Any) -> dict[str, Any]:
    """Register a model through the API (as a provider would with the client)."""
    m = model_files(name, seed, site.folder / "upload" / name, **card)
    files = [("files", (p.name, p.read_bytes())) for p in m["files"]]
    data = {"card": json.dumps(m["card"]), "config": m["config"].read_text(),
            "spec": m["spec"].read_text()}  # fmt: skip
    headers = {"Authorization": f"Bearer {site.keys[who]}"}
    r = httpx.post(f"{site.url}/models", data=data, files=files, headers=headers, timeout=120)
    assert r.status_code == 201, r.text
    return r.json()


def digits_csv(path: Path, n: int = 240, seed: int = 0, label: bool = True) -> Path:
    """Real rows of scikit-learn's digits as the spreadsheet a user uploads."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_digits

    d = load_digits()
    idx = np.random.default_rng(seed).choice(len(d.target), size=n, replace=False)
    frame = pd.DataFrame(d.data[idx], columns=[f"px{i}" for i in range(64)])
    if label:
        frame["label"] = [f"digit-{t}" for t in d.target[idx]]
    frame.to_csv(path, index=False)
    return path
