"""Saving and loading recycled models (safetensors + JSON; never pickle).

A saved model is two files, built in memory by :func:`to_payload` and read back by
:func:`from_payload` (a zoo entry stores the same bytes, see :mod:`recycle.adapt.export`)::

    recycler.json        format, strategy config, classes, input schema, sources, report
    model.safetensors    the strategy's tensors

Sources are not copied: each is recorded by zoo entry id, name, version and the sha256 of its
artifact (or by source id for builtins and plain sources), never by a path. Loading resolves
them in the zoo the caller hands over, checking the hash; of the zoo the model was fitted with
only a hint is kept (its folder name), shown in errors and never opened. :func:`write_folder`
writes the files under a temporary name and renames it, so a crash never leaves half a model,
and it never replaces anything but an older model folder (and that only when asked).

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
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from recycle.adapt.strategies import get_strategy
from recycle.errors import ConfigError, DataError, IntegrityError, ModelNotFoundError, StorageError
from recycle.tabular.mapped import MappedSource

FORMAT = "recycle.recycler"
#: 2: sources by entry id + sha256, the zoo only as ``zoo_hint``, and the input ``schema``.
FORMAT_VERSION = 2
CONFIG_FILE = "recycler.json"
TENSORS_FILE = "model.safetensors"
FILES = (CONFIG_FILE, TENSORS_FILE)
#: Recycler constructor arguments restored by load (the rest are objects or callbacks).
SAVED_PARAMS = ("m", "selection_score", "strategy", "seed", "cv", "cv_repeats", "time_budget")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def zoo_hint(location: Any) -> str | None:
    """What a model folder keeps of its zoo's location, to show in errors: a folder's name
    (never an absolute path), or a URL without its credentials and path.

    Examples
    --------
    >>> zoo_hint("/home/me/projects/zoo"), zoo_hint(None)
    ('zoo', None)
    >>> zoo_hint("postgresql+psycopg2://me:secret@db.example:5432/zoo")
    'postgresql+psycopg2://db.example:5432/zoo'
    """
    if location is None:
        return None
    text = str(location)
    if "://" not in text:
        return Path(text).name or text
    scheme, rest = text.split("://", 1)
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}"


def to_payload(rec: Any) -> dict[str, bytes]:
    """The files of fitted ``rec``: ``{file name: bytes}``."""
    config, tensors = rec.strategy_.to_state()
    hint = zoo_hint(rec.report_.get("zoo"))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "strategy": config,
        "classes": rec.report_["classes"],
        "schema": getattr(rec, "schema_", None),
        "sources": rec.report_["sources"],
        "zoo_hint": hint,
        "params": {k: getattr(rec, k) for k in SAVED_PARAMS},
        "report": {**rec.report_, "zoo": hint},
    }
    flat = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    return {
        CONFIG_FILE: json.dumps(meta, indent=2, default=_json_default).encode("utf-8"),
        TENSORS_FILE: save_tensors(flat),
    }


def is_model_folder(path: Path) -> bool:
    """True when ``path`` is a folder holding a saved recycled model."""
    try:
        meta = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def check_writable(target: Path, overwrite: bool) -> None:
    """Raise ConfigError unless a model may be written to ``target``.

    A new path or an empty folder is fine; an existing model folder only with ``overwrite``;
    anything else (a file, a folder with other files, the current folder) never.
    """
    if not target.exists() and not target.is_symlink():
        return
    if target.resolve() == Path.cwd().resolve():
        raise ConfigError(
            f"Refusing to write the model into the current folder {str(target)!r}; give a new "
            "folder name, e.g. --out model."
        )
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return
    if target.is_dir() and is_model_folder(target):
        if overwrite:
            return
        raise ConfigError(
            f"{str(target)!r} already holds a model; give a new folder, or pass --force "
            "(overwrite=True in Python) to replace it."
        )
    kind = "a file" if target.is_file() else "a folder that is not a recycle model"
    raise ConfigError(
        f"{str(target)!r} already exists and is {kind}; refusing to overwrite it. Give a new "
        "folder name (--force only replaces a model folder)."
    )


def write_folder(files: dict[str, bytes], path: str | Path, overwrite: bool = False) -> Path:
    """Write ``files`` into folder ``path`` atomically (temporary folder, then rename)."""
    target = Path(path)
    check_writable(target, overwrite)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if target.exists():  # an empty folder, or a model folder with overwrite
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=tmp.parent))
            os.replace(target, old / "model")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise StorageError(
            f"Could not write the model to {target}: {exc}; check the path."
        ) from exc
    except BaseException:  # Ctrl-C: leave nothing half-written
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_folder(path: str | Path) -> dict[str, bytes]:
    """The files of a model folder (DataError if ``path`` is not one)."""
    folder = Path(path)
    if not all((folder / name).is_file() for name in FILES):
        raise DataError(
            f"{str(folder)!r} is not a saved recycled model (needs {CONFIG_FILE} and "
            f"{TENSORS_FILE}); pass the folder written by `recycle fit --out` or Recycler.save."
        )
    return {name: (folder / name).read_bytes() for name in FILES}


def _parse(files: dict[str, bytes], where: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        meta = json.loads(files[CONFIG_FILE].decode("utf-8"))
        tensors = load_tensors(files[TENSORS_FILE])
    except (ValueError, KeyError, SafetensorError) as exc:
        raise DataError(f"{where} is not a readable model ({exc}); re-save the model.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{where}: {CONFIG_FILE} is not a {FORMAT!r} file; re-save the model.")
    return meta, tensors


def _from_zoo(zoo: Any, record: dict[str, Any], hint: str | None) -> Any:
    try:
        entry = zoo.get(record["entry_id"])
    except ModelNotFoundError:
        if not record.get("name") or not record.get("version"):
            raise
        entry = zoo.get(record["name"], record["version"])
    want = record.get("sha256")
    if not want and "#" in record["source_id"]:  # format 1: 8 hex of the hash in the id
        want = record["source_id"].rpartition("#")[2]
    if want and not entry.artifact_sha256.startswith(want):
        raise IntegrityError(
            f"Zoo entry {entry.name}@{entry.version} holds other weights (sha256 "
            f"{entry.artifact_sha256[:12]}) than the model was fitted with ({want[:12]}); "
            f"use the zoo the model was fitted with (it was at {hint!r})."
        )
    return zoo.load(entry.id)


def _open_zoo(zoo: Any, record: dict[str, Any], hint: str | None) -> Any:
    """``zoo`` opened (never created) when it is a location; an error naming the hint if none."""
    needed = f"The model uses zoo entry {record.get('name')}@{record.get('version')}"
    if zoo is None:
        raise ModelNotFoundError(
            f"{needed}; pass the zoo it came from (--zoo / zoo=; it was fitted with {hint!r})."
        )
    if not isinstance(zoo, str | Path):
        return zoo
    from recycle.zoo import Zoo

    try:
        return Zoo.open(zoo, create=False)
    except ModelNotFoundError:
        raise ModelNotFoundError(
            f"{needed}, but there is no zoo at {zoo_hint(zoo)!r}; pass --zoo (zoo=) with the zoo "
            f"it came from (it was fitted with {hint!r})."
        ) from None


def resolve_sources(meta: dict[str, Any], zoo: Any = None, sources: Any = None) -> list[Any]:
    """The source models of a saved model: from ``sources`` by id, else from ``zoo`` (opened
    when a location, never created), else builtins; the recorded zoo is never opened."""
    records = meta["sources"]
    hint = meta.get("zoo_hint") or meta.get("zoo")
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
    out = []
    for record in records:
        if record.get("entry_id"):
            zoo = _open_zoo(zoo, record, hint)
            source = _from_zoo(zoo, record, hint)
            if "column_map" in record:  # a tabular source fed through a column map
                source = MappedSource.from_record(source, record)
            out.append(source)
            continue
        from recycle.sources import builtin

        try:
            out.append(builtin(record["source_id"]))
        except (ImportError, ModelNotFoundError) as exc:
            raise ModelNotFoundError(
                f"Cannot resolve source {record['source_id']!r}: not a zoo entry and no builtin "
                "of that name; pass sources=[...] to Recycler.load."
            ) from exc
    return out


def restore(
    cls: Any, files: dict[str, bytes], zoo: Any = None, sources: Any = None, where: str = "model"
) -> Any:
    """A fitted ``cls`` (the Recycler class) from a model's files (``{file name: bytes}``);
    its sources resolved as :func:`resolve_sources` says."""
    meta, tensors = _parse(files, where)
    srcs = resolve_sources(meta, zoo, sources)
    cfg = meta["strategy"]
    params = dict(meta.get("params", {}))
    if "score" in params:  # saved before the parameter was renamed
        params["selection_score"] = params.pop("score")
    rec = cls(zoo=zoo, **params)
    rec.strategy_ = get_strategy(cfg["strategy"]).from_state(cfg, tensors, srcs)
    rec.classes_ = np.asarray(meta["classes"])
    rec.selection_ = None
    rec.report_ = meta["report"]
    rec._set_schema(meta.get("schema"))
    return rec
