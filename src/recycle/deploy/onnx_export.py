"""One self-contained ONNX file from a fitted recycled model (runs with onnxruntime alone).

The graph has one input, ``input``: the float32 array an ``.npz`` ``X`` gives ``recycle predict``
(tabular ``[N, d]``, images ``[N, H, W]`` or ``[N, H, W, C]`` as loaded; preprocessing is inside
the graph), and one output, ``probabilities`` ``[N, C]`` in the order of the metadata property
``classes`` (a JSON list). The property ``recycle`` (JSON) names the sources (ids, zoo entry,
version, artifact sha256, licence), the strategy and the input schema.

How it is built: each selected source's part up to the features the model uses is exported on
its own (torch modules with ``torch.onnx.export``, scikit-learn estimators with ``skl2onnx``),
so is the strategy's head (``(input, f0, f1, ...) -> probabilities``); the parts are then joined
into one graph, every part's names prefixed so they cannot clash. Sources with no graph form
(remote, text behind a tokenizer, an ONNX source) make :func:`build_onnx` raise
:class:`~recycle.errors.IncompatibleError` naming each of them.

Examples
--------
>>> import numpy as np, onnxruntime as ort
>>> from sklearn.datasets import load_digits
>>> from sklearn.decomposition import PCA
>>> from recycle.adapt import Recycler
>>> from recycle.sources import SklearnSource
>>> X, y = load_digits(return_X_y=True)
>>> X = X.astype(np.float32)
>>> src = SklearnSource(PCA(16).fit(X[:500]), source_id="pca.doc")
>>> rec = Recycler([src], m=1, strategy="linear_probe").fit(X[:300], y[:300])
>>> model = build_onnx(rec)
>>> sess = ort.InferenceSession(model.SerializeToString())
>>> p = sess.run(["probabilities"], {"input": X[300:400]})[0]
>>> float((p.argmax(1) == rec.predict(X[300:400])).mean()) >= 0.99
True
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from recycle.deploy.licences import licence_view
from recycle.deploy.sklearn_parts import OPSET, mapped_part, sklearn_head, sklearn_part
from recycle.deploy.text_export import (
    TEXT_INPUTS,
    text_source_part,
    tokenizer_file,
    tokenizer_json,
)
from recycle.deploy.text_export import graph_inputs as text_inputs
from recycle.deploy.torch_parts import (
    ADAPTER_STRATEGIES,
    FeaturesOnly,
    head_module,
    source_module,
)
from recycle.errors import ConfigError, IncompatibleError, StorageError

#: Format name and version written into the ``recycle`` metadata property.
FORMAT = "recycle.onnx"
FORMAT_VERSION = 1


def model_sources(rec: Any) -> list[Any]:
    """The sources whose features the fitted model's head reads (in the head's order)."""
    strategy = rec.strategy_
    if not getattr(strategy, "uses_sources", True):
        return []
    if strategy.name in ADAPTER_STRATEGIES and not getattr(strategy, "_mix", True):
        return []
    return list(strategy.sources or [])


def input_shape(rec: Any) -> list[int]:
    """Per-row input shape the model was fitted on (``[]`` for text)."""
    return [int(d) for d in rec.report_.get("input_shape") or []]


def _torch_part(module: torch.nn.Module, args: tuple[torch.Tensor, ...], names: list[str],
                output: str, what: str) -> onnx.ModelProto:  # fmt: skip
    buf = io.BytesIO()
    axes = {n: {0: "n"} for n in [*names, output]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        try:
            torch.onnx.export(  # a BytesIO works as the file
                module.eval(), args, buf, input_names=names, output_names=[output],  # type: ignore[arg-type]
                dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=True,
            )  # fmt: skip
        except Exception as exc:  # torch's exporter raises many kinds for unsupported ops
            raise IncompatibleError(f"{what}: torch cannot export it to ONNX ({exc})") from exc
    return onnx.load_from_string(buf.getvalue())


def _source_parts(rec: Any, shape: list[int]) -> list[tuple[onnx.ModelProto, str]]:
    """One ``(model, features output name)`` per source; IncompatibleError naming all failures."""
    parts: list[tuple[onnx.ModelProto, str] | None] = []
    problems = []
    x = torch.zeros(2, *shape)
    for src in model_sources(rec):
        try:
            if getattr(src, "column_map", None) is not None:  # recycle.tabular's MappedSource
                parts.append(mapped_part(src, int(np.prod(shape))))
                continue
            if not shape:
                parts.append(text_source_part(src, OPSET))
                continue
            module = source_module(src, shape)
            if module is None:
                parts.append(sklearn_part(src, int(np.prod(shape))))
            else:
                part = _torch_part(module, (x,), ["input"], "features", f"source {src.source_id!r}")
                parts.append((part, "features"))
        except IncompatibleError as exc:
            problems.append(str(exc))
    if problems:
        raise IncompatibleError(
            "Cannot export this model to one ONNX file: " + "; ".join(problems) + ". Refit it "
            "on exportable sources (torch, family or tabular scikit-learn ones, ONNX text "
            "encoders) to deploy it."
        )
    return [p for p in parts if p is not None]


def _prefixed(model: onnx.ModelProto, prefix: str, keep: dict[str, str]) -> onnx.GraphProto:
    """The graph with every name prefixed, except ``keep``'s keys, renamed to their values."""
    graph = onnx.compose.add_prefix(model, prefix).graph
    mapping = {prefix + old: new for old, new in keep.items()}
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    return graph


def _join(parts: list[tuple[onnx.ModelProto, str]], head: onnx.ModelProto,
          inputs: list[onnx.ValueInfoProto], n_classes: int) -> onnx.ModelProto:  # fmt: skip
    shared = {i.name: i.name for i in inputs}
    graphs = [_prefixed(m, f"s{i}/", {**shared, out: f"f{i}"}) for i, (m, out) in enumerate(parts)]
    keep = {**shared, "probabilities": "probabilities"}
    keep.update({f"f{i}": f"f{i}" for i in range(len(parts))})
    graphs.append(_prefixed(head, "head/", keep))
    graph = helper.make_graph(
        [n for g in graphs for n in g.node],
        "recycled_model",
        inputs,
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", n_classes])],
        initializer=[t for g in graphs for t in g.initializer],
    )
    opsets: dict[str, int] = {}
    for m in [*(p[0] for p in parts), head]:
        for op in m.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        producer_name="recycle",
    )
    model.ir_version = max(m.ir_version for m in [*(p[0] for p in parts), head])
    onnx.checker.check_model(model, full_check=True)
    return model


def source_records(rec: Any) -> list[dict[str, Any]]:
    """The model's sources as recorded at fit time, with artifact sha256 and licences added.

    The licence and hash come from the model's zoo entry when the zoo is at hand, from the
    builtin card for builtin sources, else ``"unknown"``. Where the card names the licence of
    the training data, ``data_license`` and ``data`` (its description) are added. A distilled
    student lists its teacher's sources too (``"via": "distillation teacher"``).
    """
    from recycle.zoo.builtin_cards import BUILTIN_INFO

    zoo = rec.zoo
    if isinstance(zoo, str | Path):
        zoo = None if not Path(zoo).exists() else _open(zoo)
    out = []
    for record in rec.report_.get("sources", []):
        row = {k: record.get(k) for k in ("source_id", "entry_id", "name", "version")}
        row["sha256"], row["license"] = None, "unknown"
        entry = None
        if zoo is not None and record.get("entry_id"):
            try:
                entry = zoo.get(record["entry_id"])
            except LookupError:
                entry = None
        data: dict[str, Any] = {}
        if entry is not None:
            row["sha256"], row["license"] = entry.artifact_sha256, entry.card.license
            data = dataclasses.asdict(entry.card.training_data)
        elif record.get("source_id") in BUILTIN_INFO:
            info = BUILTIN_INFO[record["source_id"]]
            row["license"] = info.get("license", "unknown")
            data = info.get("training_data", {})
        if data.get("license"):  # the data's terms bind the weights trained on it
            row["data_license"], row["data"] = data["license"], data.get("description") or ""
        out.append(row)
    for record in rec.report_.get("distilled_from", {}).get("sources", []):
        out.append({**record, "via": "distillation teacher"})  # its licences bind the student
    return out


def _open(location: str | Path) -> Any:
    from recycle.zoo import Zoo

    return Zoo.open(location)


def build_onnx(rec: Any, tokenizer: str = "tokenizer.json") -> onnx.ModelProto:
    """The fitted Recycler ``rec`` as one ONNX model (see the module docstring).

    A text model's graph reads token ids (:mod:`recycle.deploy.text_export`); ``tokenizer``
    is the name of the JSON file it pairs with, recorded in its metadata.

    Raises
    ------
    IncompatibleError
        A source or the strategy has no graph form; the message names each.
    """
    shape = input_shape(rec)
    if sklearn_head(rec.strategy_, shape) is None:
        head = head_module(rec.strategy_)  # first: a text model without sources fails here
    feats = tuple(torch.zeros(2, int(s.feature_dim)) for s in model_sources(rec))
    names = [f"f{i}" for i in range(len(feats))]
    schema: dict[str, Any] = {"dtype": "float32", "shape": ["n", *shape]}
    x: tuple[torch.Tensor, ...]
    if shape:
        x, names = (torch.zeros(2, *shape),), ["input", *names]
        inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", *shape])]
        schema.update(input="input", modality="tabular" if len(shape) == 1 else "image")
    else:  # text: token ids in, the tokenizer is the export's second part
        x, head, inputs = (), FeaturesOnly(head), text_inputs()
        pid, _ = tokenizer_json(model_sources(rec))
        schema.update(inputs=list(TEXT_INPUTS), dtype="int64", shape=["n", "t"],
                      modality="text", preprocess=pid, tokenizer=tokenizer)  # fmt: skip
    parts = _source_parts(rec, shape)
    what = f"strategy {rec.strategy_.name!r}"
    head_model = sklearn_head(rec.strategy_, shape)  # a no-source model: its skl2onnx graph
    if head_model is None:
        head_model = _torch_part(head, (*x, *feats), names, "probabilities", what)
    classes = [c.item() if isinstance(c, np.generic) else c for c in rec.classes_.tolist()]
    model = _join(parts, head_model, inputs, len(classes))
    sources = source_records(rec)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "strategy": rec.strategy_.name,
        "sources": sources,
        "licence": licence_view(sources),
        "schema": {**schema, "columns": rec.report_.get("columns"), "output": "probabilities"},
    }
    helper.set_model_props(model, {"classes": json.dumps(classes), "recycle": json.dumps(meta)})
    return model


def write_atomically(data: bytes, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file; refuse an existing file by default."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} already exists; pass --force (overwrite=True) to replace it.")
    if target.is_dir():
        raise ConfigError(f"{target} is a folder; give a file name ending in .onnx.")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the mode a new file gets
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StorageError(f"Could not write {target}: {exc}. Check the path.") from exc
    return target


def export_onnx(rec: Any, path: str | Path, quantize: str | None = None,
                overwrite: bool = False, int8_method: str = "weights") -> Path:  # fmt: skip
    """Write ``rec`` as one ONNX file at ``path``; ``quantize="int8"`` stores int8 weights.

    A text model also writes its tokenizer beside it (``NAME.tokenizer.json``, see
    :mod:`recycle.deploy.text_export`).

    ``int8_method`` is one of :data:`recycle.deploy.quantize.METHODS`. An existing ``path`` is
    refused unless ``overwrite``; the file is written under a temporary name, then renamed.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from recycle.adapt import Recycler
    >>> from recycle.sources import SklearnSource
    >>> X, y = load_digits(return_X_y=True)
    >>> src = SklearnSource(PCA(8).fit(X), source_id="pca.doc")
    >>> rec = Recycler([src], m=1, strategy="mcw").fit(X[:200], y[:200])
    >>> export_onnx(rec, tempfile.mkdtemp() + "/m.onnx", quantize="int8").suffix
    '.onnx'
    """
    if quantize not in (None, "int8"):
        raise ConfigError(f"quantize must be None or 'int8'. Got {quantize!r} instead.")
    text = not input_shape(rec)
    tok_path = tokenizer_file(path)
    for target in [Path(path), tok_path] if text else [Path(path)]:
        if target.exists() and not overwrite:  # both checked before either is written
            raise ConfigError(f"{target} already exists; pass --force (overwrite=True).")
    data = build_onnx(rec, tokenizer=tok_path.name).SerializeToString()
    if quantize == "int8":
        from recycle.deploy.quantize import quantize_int8

        data = quantize_int8(data, method=int8_method)
    if not text:
        return write_atomically(data, path, overwrite=overwrite)
    _, tok = tokenizer_json(model_sources(rec))
    existed = tok_path.exists()
    write_atomically(tok.encode(), tok_path, overwrite=overwrite)
    try:
        return write_atomically(data, path, overwrite=overwrite)
    except (ConfigError, StorageError):
        if not existed:  # leave nothing half-written
            tok_path.unlink(missing_ok=True)
        raise
