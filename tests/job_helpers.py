"""Jobs on a real server for the service tests: a served zoo with job limits, hostile entries.

Shared by ``tests/service/test_service_hostile_jobs.py`` and ``test_service_ray_jobs.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recycle.service import Settings, create_app
from recycle.service.auth import create_key
from recycle.zoo import ModelCard, Zoo
from service_helpers import npz_bytes

GRACE_S = 4.0  # test server's job_grace_s: seconds a job may run past its time budget
CAP = 2  # test server's max_jobs_per_key
CANCEL_WITHIN_S = 5.0  # what "cancel takes effect within seconds" means here
START_S = 90.0  # a job's worker process starts (imports torch) within this, even on a busy box


def evil_card(name: str) -> ModelCard:
    return ModelCard(
        name=name, modality="tabular", task="feature-extraction",
        input={"shape": [4], "dtype": "float32", "value_range": [-1, 1]},
        output={"feature_dim": 6}, license="MIT", provider="acme",
    )  # fmt: skip


def serve_jobs(folder: Path, **overrides: Any) -> tuple[Any, dict[str, str], Any]:
    zoo = Zoo.open(folder)
    settings = Settings(
        zoo=str(folder), job_workers=2, max_jobs_per_key=CAP, job_grace_s=GRACE_S, **overrides
    )
    app = create_app(settings, zoo=zoo)
    db = app.state.service.db
    keys = {
        "user": create_key(db, "user", "alice")[0],
        "capped": create_key(db, "user", "mallory")[0],
    }
    return app, keys, zoo


def register_hang(zoo: Any) -> Any:
    """A zoo entry whose ``embed`` never returns (registered by trusted test code)."""
    import zoo_evil_archs  # noqa: F401  (registers evil.* to serialize it)
    from recycle.sources import TorchSource
    from recycle.sources.arch import build_architecture

    src = TorchSource(build_architecture("evil.hang"), "tabular:identity", 6)
    return zoo.register(src, evil_card("evil.hang"), validate=False)


def target_npz(features: int = 64, n: int = 40) -> bytes:
    rng = np.random.default_rng(0)
    return npz_bytes(X=rng.uniform(0, 1, (n, features)).astype(np.float32), y=np.arange(n) % 2)


def submit_job(c: Any, kind: str, params: dict, features: int = 64) -> Any:
    files = {"data": ("t.npz", target_npz(features))}
    return c.post(f"/jobs/{kind}", files=files, data={"params": json.dumps(params)})


def job_status(c: Any, job_id: str) -> dict[str, Any]:
    return c.get(f"/jobs/{job_id}").json()  # type: ignore[no-any-return]
