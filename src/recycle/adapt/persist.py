"""Saving, loading and registering recycled models (safetensors + JSON; never pickle).

A saved model is a folder::

    recycler.json        format, strategy config, classes, sources (zoo id + version), report
    model.safetensors    the strategy's tensors

Sources are not copied: they are recorded by zoo entry id, name and version (or source id for
plain sources) and resolved again at load time from a zoo (by default the zoo the model was
fitted with) or from an explicit list of sources. The folder is written under a temporary name
and renamed, so a crash never leaves half a model.

Examples
--------
>>> import numpy as np, tempfile
>>> from sklearn.datasets import load_digits
>>> from recycle.adapt import Recycler
>>> X, y = load_digits(return_X_y=True)
>>> class Pixels:
...     source_id, modality, access, feature_dim = "pixels", "tabular", "black-box", 64
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> rec = Recycler([Pixels()], m=1, strategy="mcw").fit(X[:200], y[:200])
>>> out = rec.save(tempfile.mkdtemp() + "/model")
>>> back = Recycler.load(out, sources=[Pixels()])
>>> bool(np.array_equal(back.predict_proba(X[:50]), rec.predict_proba(X[:50])))
True
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from recycle.adapt.strategies import get_strategy
from recycle.errors import DataError, ModelNotFoundError, StorageError

FORMAT = "recycle.recycler"
FORMAT_VERSION = 1
CONFIG_FILE = "recycler.json"
TENSORS_FILE = "model.safetensors"
#: Recycler constructor arguments restored by load (the rest are objects or callbacks).
SAVED_PARAMS = ("m", "selection_score", "strategy", "seed", "cv", "cv_repeats", "time_budget")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def save_recycler(rec: Any, path: str | Path) -> Path:
    """Write ``rec`` (fitted) to folder ``path``; return the folder."""
    target = Path(path)
    config, tensors = rec.strategy_.to_state()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "strategy": config,
        "classes": rec.report_["classes"],
        "sources": rec.report_["sources"],
        "zoo": rec.report_.get("zoo"),
        "params": {k: getattr(rec, k) for k in SAVED_PARAMS},
        "report": rec.report_,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        text = json.dumps(meta, indent=2, default=_json_default)
        (tmp / CONFIG_FILE).write_text(text, encoding="utf-8")
        flat = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
        save_file(flat, str(tmp / TENSORS_FILE))
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StorageError(
            f"Could not write the model to {target}: {exc}. Check the path."
        ) from exc
    return target


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    cfg_file, t_file = path / CONFIG_FILE, path / TENSORS_FILE
    if not cfg_file.is_file() or not t_file.is_file():
        raise DataError(
            f"{path} is not a saved recycled model (needs {CONFIG_FILE} and {TENSORS_FILE}); "
            "pass the folder written by `recycle fit --out` or Recycler.save."
        )
    try:
        meta = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{cfg_file} is not valid JSON ({exc}); re-save the model.") from exc
    if meta.get("format") != FORMAT:
        raise DataError(f"{cfg_file} has format {meta.get('format')!r}; expected {FORMAT!r}.")
    return meta, load_file(str(t_file))


def _resolve_sources(meta: dict[str, Any], zoo: Any, sources: Any) -> list[Any]:
    records = meta["sources"]
    if not records:
        return []
    if sources is not None:
        by_id = {s.source_id: s for s in sources}
        missing = [r["source_id"] for r in records if r["source_id"] not in by_id]
        if missing:
            raise ModelNotFoundError(
                f"The model needs source {missing[0]!r}, which is not among the given sources; "
                "pass every source the model was fitted with."
            )
        return [by_id[r["source_id"]] for r in records]
    location = zoo if zoo is not None else meta.get("zoo")
    if isinstance(location, str | Path):
        from recycle.zoo import Zoo

        zoo = Zoo.open(location)
    out = []
    for rec in records:
        if zoo is not None and rec.get("entry_id"):
            try:
                out.append(zoo.load(rec["entry_id"]))
                continue
            except ModelNotFoundError:
                if not rec.get("name") or not rec.get("version"):
                    raise
                out.append(zoo.load(rec["name"], rec["version"]))
                continue
        try:
            from recycle.sources import builtin

            out.append(builtin(rec["source_id"]))
        except (ImportError, ModelNotFoundError) as exc:
            raise ModelNotFoundError(
                f"Cannot resolve source {rec['source_id']!r}: no zoo entry and no builtin of "
                "that name; pass zoo=... or sources=[...] to Recycler.load."
            ) from exc
    return out


def load_recycler(path: str | Path, zoo: Any = None, sources: Any = None) -> Any:
    """Load a model written by :func:`save_recycler` (see :meth:`Recycler.load`)."""
    from recycle.adapt.recycler import Recycler

    meta, tensors = _read(Path(path))
    srcs = _resolve_sources(meta, zoo, sources)
    cfg = meta["strategy"]
    strategy = get_strategy(cfg["strategy"]).from_state(cfg, tensors, srcs)
    params = dict(meta.get("params", {}))
    if "score" in params:  # saved before the parameter was renamed
        params["selection_score"] = params.pop("score")
    rec = Recycler(zoo=zoo, **params)
    rec.strategy_ = strategy
    rec.classes_ = np.asarray(meta["classes"])
    rec.selection_ = None
    rec.report_ = meta["report"]
    return rec


def register_recycler(rec: Any, zoo: Any, name: str, version: str = "1.0.0", **card: Any) -> Any:
    """Register ``rec`` in ``zoo`` as a black-box source whose ``embed`` is its class
    probabilities on the target classes, with ``card.lineage.built_from`` = its sources' ids.

    The recycled model is stored through :func:`recycle.adapt.export.recycled_source` when the
    zoo's serializers know it; see that module.
    """
    from recycle.adapt.export import register

    return register(rec, zoo, name, version=version, **card)
