"""An export job's body: a fit job's model as one ONNX file (run in a job worker).

A fit job's model names its sources as the API serves them
(``remote:<server>/models/<entry id>@<version>``, see
:class:`recycle.service.job_worker.BlackBoxView`), because the job only saw their outputs. To
put the sources' graphs into the ONNX file, :func:`export_model` loads those zoo entries
themselves (white-box) by entry id, under the ids the model knows them by, and hands the
model to :func:`recycle.deploy.export_onnx`: the same exporter as ``recycle export``. Loading
and tracing zoo models runs foreign code, so this runs in the sandboxed job worker, never in
the server.

Examples
--------
>>> entry_of({"source_id": "remote:http://h/models/" + "a" * 32 + "@1.0.0"})
'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from recycle.errors import DataError

ONNX_FILE = "model.onnx"  # what an export job leaves in its folder
_ENTRY = re.compile(r"/models/([0-9a-f]{32})@")


def entry_of(record: dict[str, Any]) -> str:
    """The zoo entry id of a saved model's source record (DataError when it names none)."""
    if record.get("entry_id"):
        return str(record["entry_id"])
    match = _ENTRY.search(str(record.get("source_id", "")))
    if match is None:
        raise DataError(
            f"The model's source {str(record.get('source_id'))[:120]!r} is not a zoo entry of "
            "this server; export it with `recycle export` where its sources live."
        )
    return match.group(1)


def zoo_sources(zoo: Any, model_dir: Path) -> list[Any]:
    """The model's sources loaded from ``zoo`` by entry id, each under the model's source id."""
    meta = json.loads((model_dir / "recycler.json").read_text())
    sources = []
    for record in meta["sources"]:
        source = zoo.load(entry_of(record))
        source.source_id = record["source_id"]  # how the saved model refers to it
        sources.append(source)
    return sources


def export_model(zoo: Any, model_dir: Path, out: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Write ``out/model.onnx`` from the model folder ``model_dir``; return the job's result."""
    from recycle.adapt.recycler import Recycler
    from recycle.deploy import export_onnx
    from recycle.service.job_params import ExportParams

    options = ExportParams.model_validate(params)
    rec = Recycler.load(model_dir, zoo=zoo, sources=zoo_sources(zoo, model_dir))
    for record in rec.report_.get("sources", []):  # so the file's metadata names each entry's
        record["entry_id"] = entry_of(record)  # licence and hash (the job saw only outputs)
    path = export_onnx(rec, out / ONNX_FILE, quantize=options.quantize)
    return {
        "file": ONNX_FILE,
        "bytes": path.stat().st_size,
        "quantize": options.quantize,
        "strategy": rec.report_.get("strategy"),
        "classes": [str(c) for c in rec.classes_],
    }
