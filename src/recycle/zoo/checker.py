"""The upload checker: is a model safe and sound enough to enter the zoo?

Two stages, neither of which runs the uploaded bytes in the caller's process:

1. :func:`static_check` (in process, reads bytes only): refuses pickles (raw, or a torch zip
   archive with a ``data.pkl``) under any name, and safetensors files whose JSON header lies
   (offsets that do not match shapes x dtype size, overlapping or out-of-file ranges).
2. :func:`check_model` runs ``python -m recycle.zoo.checker JOB RESULT`` in a fresh process with
   an address-space limit (``RLIMIT_AS``), a CPU-time limit and a wall-clock timeout. The child
   rebuilds the model with :func:`recycle.sources.deserialize` (parents first), runs ``embed`` on
   a few random inputs that match the card's input schema, and checks the output is
   ``(n, feature_dim)`` and finite (and ``predict_proba`` if the card lists source classes).
   A white-box model must expose a ``torch_module()`` with parameters (its submodule names
   are reported).

Plugin / test hook: ``$RECYCLE_EXTRA_ARCH_MODULES`` (comma-separated module names) is imported
by the child before it rebuilds the model, so that architectures registered outside
:mod:`recycle.sources.arch` (``register_architecture``) are known there. It is set by whoever
runs the zoo, never by an uploader.

Examples
--------
>>> static_check({"format": "safetensors"}, {"weights.safetensors": b"\\x80\\x04K\\x01."})
Traceback (most recent call last):
...
recycle.errors.UnsafeContentError: File 'weights.safetensors' is a pickle ...
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recycle.errors import UnsafeContentError

EXTRA_ARCH_ENV = "RECYCLE_EXTRA_ARCH_MODULES"
DEFAULT_TIMEOUT_S = 120.0  # wall clock for load + run (importing torch alone takes a few s)
DEFAULT_MEMORY_MB = 4096  # address space of the child; torch itself maps ~0.7 GB
N_INPUTS = 4  # random inputs the model is run on
DEFAULT_BATCH = 256  # then one batch of this many rows (the serving batch) within the limits
SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header size


@dataclass
class CheckReport:
    """Outcome of :func:`check_model`.

    Attributes
    ----------
    ok : bool
    reason : str
        Why the model was rejected ("" when ok).
    seconds : float
        Wall-clock time of the check, process start included.
    output_shape : list of int or None
        Shape of ``embed`` on the test inputs.
    modules : list of str
        Named top-level submodules of a white-box model.
    n_params : int
        Parameters of a white-box model.
    """

    ok: bool
    reason: str = ""
    seconds: float = 0.0
    output_shape: list[int] | None = None
    modules: list[str] = field(default_factory=list)
    n_params: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view."""
        return asdict(self)


def _safetensors_prefix(data: bytes) -> bool:
    """Whether ``data`` starts like a safetensors file: 8-byte length, then a JSON object."""
    if len(data) < 9 or data[8:9] != b"{":
        return False
    return 8 + int.from_bytes(data[:8], "little") <= len(data)


def _is_pickle(data: bytes) -> bool:
    # A pickle of protocol 2..5 starts with the PROTO opcode 0x80 and its protocol byte. So can a
    # safetensors file whose JSON header is 128..133 (+ 256 k) bytes long (its first 8 bytes are
    # that length, little-endian): those are read as safetensors, never unpickled.
    if data[:1] == b"\x80" and len(data) > 1 and 2 <= data[1] <= 5:
        return not _safetensors_prefix(data)
    if data[:2] == b"PK":  # a zip: torch.save archives carry a data.pkl
        import io
        import zipfile

        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return False
        return any(n.endswith(".pkl") or n.endswith("data.pkl") for n in names)
    return False


def check_safetensors_header(name: str, data: bytes) -> None:
    """Raise :class:`UnsafeContentError` if a safetensors file's header does not match its data.

    Examples
    --------
    >>> import json, struct
    >>> header = json.dumps({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 8]}})
    >>> blob = struct.pack("<Q", len(header)) + header.encode() + bytes(8)
    >>> check_safetensors_header("w.safetensors", blob)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    recycle.errors.UnsafeContentError: Safetensors file 'w.safetensors': tensor 'w' ...
    """
    bad = f"Safetensors file {name!r}"
    if len(data) < 8:
        raise UnsafeContentError(f"{bad} is truncated ({len(data)} bytes); re-export it.")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER or 8 + n > len(data):
        raise UnsafeContentError(f"{bad} declares a {n}-byte header beyond the file; re-export it.")
    try:
        header = json.loads(data[8 : 8 + n])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UnsafeContentError(f"{bad} has a header that is not JSON; re-export it.") from None
    if not isinstance(header, dict):
        raise UnsafeContentError(f"{bad} has a header that is not a JSON object; re-export it.")
    body = len(data) - 8 - n
    spans = []
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
            count = 1
            for dim in shape:
                if not isinstance(dim, int) or dim < 0:
                    raise ValueError
                count *= dim
            size = count * SAFETENSORS_DTYPE_BYTES[dtype]
        except (KeyError, TypeError, ValueError):
            raise UnsafeContentError(
                f"{bad}: tensor {key!r} has a malformed header entry; re-export the weights."
            ) from None
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= body):
            raise UnsafeContentError(f"{bad}: tensor {key!r} points outside the file.")
        if end - start != size:
            raise UnsafeContentError(
                f"{bad}: tensor {key!r} declares shape {shape} {dtype} ({size} bytes) but spans "
                f"{end - start} bytes; the header lies. Re-export the weights."
            )
        spans.append((start, end))
    spans.sort()
    for (_, e1), (s2, _) in itertools.pairwise(spans):
        if s2 < e1:
            raise UnsafeContentError(f"{bad}: tensors overlap in the file; re-export the weights.")


def _onnx_tensors(model: Any) -> Any:
    """Every tensor of an ONNX model: initializers and attribute tensors, subgraphs included."""

    def of_nodes(nodes: Any) -> Any:
        for node in nodes:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
                if attr.HasField("g"):
                    yield from of_graph(attr.g)
                for g in attr.graphs:
                    yield from of_graph(g)

    def of_graph(graph: Any) -> Any:
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        yield from of_nodes(graph.node)

    yield from of_graph(model.graph)
    for function in model.functions:
        yield from of_nodes(function.node)


def check_onnx(name: str, data: bytes) -> None:
    """Refuse an ONNX file that is not a model or keeps tensors as external data.

    External data names other files (any path, read when the model loads), so a model is
    accepted only with all its weights inside its one ``.onnx`` file.

    Examples
    --------
    >>> check_onnx("m.onnx", b"not onnx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    recycle.errors.UnsafeContentError: File 'm.onnx' is not a readable ONNX model...
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError):
        raise UnsafeContentError(
            f"File {name!r} is not a readable ONNX model; export it with torch.onnx.export "
            "or onnx.save."
        ) from None
    for tensor in _onnx_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise UnsafeContentError(
                f"File {name!r} keeps tensor {tensor.name[:80]!r} as external data (in another "
                "file); save the model as one file: onnx.save(model, path, "
                "save_as_external_data=False)."
            )


def static_check(config: dict[str, Any], files: dict[str, bytes]) -> None:
    """Refuse pickles and lying safetensors headers without loading anything.

    Parameters
    ----------
    config : dict
        The serialized model's config (``config["format"]``).
    files : dict of str to bytes
        The model's files.

    Examples
    --------
    >>> static_check({"format": "safetensors"}, {"config.json": b"{}"})
    """
    for name, data in files.items():
        if _is_pickle(data):
            raise UnsafeContentError(
                f"File {name!r} is a pickle (it could run code when loaded); upload "
                "safetensors, ONNX or skops instead."
            )
        if name.endswith(".safetensors"):
            check_safetensors_header(name, data)
        if name.endswith(".onnx"):
            check_onnx(name, data)


def _job_files(tree: dict[str, Any]) -> dict[str, Any]:
    """Turn a (config, {name: Path}, parents) tree into JSON."""
    return {
        "config": tree["config"],
        "files": {k: str(v) for k, v in tree["files"].items()},
        "parents": {pid: _job_files(p) for pid, p in tree.get("parents", {}).items()},
    }


def check_model(
    config: dict[str, Any],
    files: dict[str, Path],
    card: Any,
    parents: dict[str, dict[str, Any]] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    n_inputs: int = N_INPUTS,
    seed: int = 0,
    batch_rows: int = DEFAULT_BATCH,
) -> CheckReport:
    """Load and run a serialized model in a separate, limited process.

    Parameters
    ----------
    config : dict
        From :func:`recycle.sources.serialize`.
    files : dict of str to Path
        The model's files on disk.
    card : ModelCard
        Gives the input schema, feature dim, source classes and access mode to check against.
    parents : dict, optional
        ``{entry_id: {"config": ..., "files": {name: Path}, "parents": {...}}}``.
    timeout_s : float
        Wall-clock limit (the process is killed after it).
    memory_mb : int
        Address-space limit of the process.
    n_inputs : int
        How many random inputs to run.
    seed : int
        Seed of the random inputs.
    batch_rows : int
        Then one batch of this many rows (the server's batch size; the model's own batch size
        is capped by it, as when served) must run within the same limits, so a model whose
        memory grows with the batch is refused here, not found out in service.

    Returns
    -------
    CheckReport
        ``ok`` is False with a ``reason`` when the model was rejected.

    Examples
    --------
    >>> from recycle.zoo.card import ModelCard
    >>> card = ModelCard(name="x.y", modality="tabular", task="t", output={"feature_dim": 2},
    ...                  input={"shape": [2], "dtype": "float32", "value_range": [0, 1]})
    >>> report = check_model({"format": "nonsense"}, {}, card)
    >>> report.ok, report.reason.split(":")[0]
    (False, 'the model failed to load or run')
    """
    job = {
        **_job_files({"config": config, "files": files, "parents": parents or {}}),
        "card": card.to_dict(),
        "n_inputs": int(n_inputs),
        "batch_rows": int(batch_rows),
        "seed": int(seed),
        "memory_mb": int(memory_mb),
        "cpu_s": int(timeout_s) + 1,
    }
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recycle-check-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "recycle.zoo.checker", str(job_path), str(result_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return CheckReport(
                False,
                f"the model did not finish loading and running within the time limit of "
                f"{timeout_s:g} s (it hangs or is too slow)",
                time.perf_counter() - t0,
            )
        seconds = time.perf_counter() - t0
        if result_path.exists():
            data = json.loads(result_path.read_text())
            data["seconds"] = seconds
            return CheckReport(**data)
    tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
    how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
    return CheckReport(
        False,
        f"the checker process died ({how}) before reporting, e.g. by exceeding the memory "
        f"limit of {memory_mb} MB{': ' + tail[0] if tail else ''}",
        seconds,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


if __name__ == "__main__":  # pragma: no cover - runs in the child process
    from recycle.zoo._check_child import main

    sys.exit(main(sys.argv[1:]))
