"""The body of a selection, fit or export job, run inside a worker process (never in the server).

:func:`run_job` opens the zoo by location, loads the job's entries as **black-box** views
(only ``embed``/``predict_proba``), runs :func:`recycle.select.select_sources` or
:class:`recycle.adapt.Recycler` on the uploaded target and reports over the pipe:
``("progress", task, done, total)`` (throttled), then one ``("done", result)`` or
``("failed", message)``. An entry that fails to load or to run is skipped with a warning in
the result (its id, name and the error class; never a server path), so one broken upload
cannot break other users' jobs. An export job (:mod:`recycle.service.job_export`) loads the
entries of a fit job's model white-box, which is why it runs here too.
"""

from __future__ import annotations

import importlib
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import DataError, RecycleError

PROGRESS_EVERY_S = 0.25  # at most this often a progress message is sent
EXTRA_ARCH_ENV = "RECYCLE_EXTRA_ARCH_MODULES"  # operator plugins (see recycle.zoo.checker)


class BlackBoxView:
    """A zoo source seen through its inference API only (``access == "black-box"``).

    Its ``source_id`` is the one a :class:`~recycle.sources.remote.RemoteSource` on
    ``base_url`` has for the same entry, so a model fitted by a job can be loaded by the user
    with ``Recycler.load(folder, sources=client.sources(ids))`` and predicts through the API.
    """

    access = "black-box"

    def __init__(self, source: Any, entry: Any, base_url: str) -> None:
        self._source = source
        self.entry_id = str(entry.id)
        self.source_id = f"remote:{base_url.rstrip('/')}/models/{entry.id}@{entry.version}"
        self.modality = source.modality
        self.feature_dim = int(source.feature_dim)
        self.source_classes = list(getattr(source, "source_classes", None) or [])

    def embed(self, X: Any) -> np.ndarray:
        return np.asarray(self._source.embed(X), dtype=np.float32)

    def predict_proba(self, X: Any) -> np.ndarray:
        if not self.source_classes:
            raise DataError(f"Source {self.source_id} has no head; it only embeds.")
        return np.asarray(self._source.predict_proba(X), dtype=np.float32)


def skipped(entry: Any, what: str, error: str) -> str:
    """The warning of a skipped entry: id, name, what failed and the error class only."""
    kind = error.split(":", 1)[0].strip() or "error"
    return f"entry {entry.id} ({entry.name}@{entry.version}) skipped: it failed to {what} ({kind})"


def load_sources(zoo: Any, ids: list[str] | None, base_url: str, batch: int):
    """Black-box views of the entries (every entry when ``ids`` is None) and the warnings."""
    entries = [zoo.get(i) for i in ids] if ids else list(zoo.list())
    views, warnings = [], []
    for entry in entries:
        try:
            source = zoo.load(entry.id)
            if hasattr(source, "batch_size"):
                source.batch_size = min(int(source.batch_size), batch)  # the server's, not theirs
            views.append(BlackBoxView(source, entry, base_url))
        except Exception as exc:  # a broken entry is one user's problem, not everyone's
            warnings.append(skipped(entry, "load", type(exc).__name__))
    if not views:
        raise DataError("No source of this job could be loaded; " + "; ".join(warnings))
    return entries, views, warnings


def _progress(conn: Any) -> Any:
    last = [0.0]

    def progress(task: str, done: int, total: int) -> None:
        t = time.monotonic()
        if t - last[0] >= PROGRESS_EVERY_S or (total and done >= total):
            last[0] = t
            conn.send(("progress", str(task)[:128], int(done), int(total)))

    return progress


def run_job(conn: Any, payload: dict[str, Any]) -> None:
    """Run one job (``payload`` from :class:`~recycle.service.jobs.JobManager`) on ``conn``."""
    try:
        conn.send(("done", _run(conn, payload)))
    except RecycleError as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    except MemoryError:
        conn.send(("failed", f"MemoryError: the job passed its {payload['memory_mb']} MB limit"))
    except Exception as exc:  # foreign code failed: report the class, not its internals
        conn.send(("failed", f"internal error: {type(exc).__name__}"))


def _run(conn: Any, payload: dict[str, Any]) -> dict[str, Any]:
    from recycle.service.job_params import JobParams
    from recycle.zoo import Zoo

    for plugin in filter(None, os.environ.get(EXTRA_ARCH_ENV, "").split(",")):
        importlib.import_module(plugin.strip())
    zoo = Zoo.open(payload["zoo"], artifacts=payload["artifacts"])
    progress = _progress(conn)
    progress("load", 0, 0)
    if payload["kind"] == "export":
        from recycle.service.job_export import export_model

        return export_model(zoo, Path(payload["model"]), Path(payload["out"]), payload["params"])
    params = JobParams.model_validate(payload["params"])
    entries, sources, warnings = load_sources(
        zoo, params.sources, payload["base_url"], payload["batch"]
    )
    target = payload["target"]
    if payload["kind"] == "select":
        result = _select(target, params, sources, progress)
    else:
        result = _fit(Path(payload["out"]), target, params, sources, progress)
    by_id = {e.id: e for e in entries}
    for row in result.get("ranking", []):
        if row.get("error") and row.get("entry_id") in by_id:
            warnings.append(skipped(by_id[row["entry_id"]], "run", row["error"]))
            row["error"] = row["error"].split(":", 1)[0]
    result["warnings"] = warnings
    return result


def _select(target: dict, params: Any, sources: list, progress: Any) -> dict[str, Any]:
    from recycle.select import select_sources

    sel = select_sources(
        sources, target["X"], target["y"], progress=progress, **params.select_kwargs()
    )
    by_sid = {s.source_id: s.entry_id for s in sources}
    ranking = [
        {
            "entry_id": by_sid.get(r.source_id),
            "source_id": r.source_id,
            "score": None if r.score is None else float(r.score),
            "seconds": float(r.seconds or 0.0),
            "error": r.error,
        }
        for r in sel.ranking
    ]
    return {"ranking": ranking, "selected": [by_sid.get(s, s) for s in sel.selected],
            "m": int(sel.m)}  # fmt: skip


def _fit(out: Path, target: dict, params: Any, sources: list, progress: Any) -> dict[str, Any]:
    from recycle.adapt.recycler import Recycler

    rec = Recycler(sources, progress=progress, **params.recycler_kwargs())
    rec.fit(target["X"], target["y"])
    model_dir = out / "model"
    rec.save(str(model_dir))
    tmp = out / "model.tar.gz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(model_dir, arcname="model")
    tmp.rename(out / "model.tar.gz")
    result: dict[str, Any] = {"report": jsonable(getattr(rec, "report_", {}))}
    if "X_test" in target:
        result["predictions"] = np.asarray(rec.predict(target["X_test"])).tolist()
    return result


def jsonable(obj: Any) -> Any:
    """Best-effort conversion of a report to JSON types.

    Examples
    --------
    >>> jsonable({"a": np.float32(0.5), "b": (1, np.arange(2))})
    {'a': 0.5, 'b': [1, [0, 1]]}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)
