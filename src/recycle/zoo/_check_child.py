"""The checker's child process: limits itself, rebuilds the model, runs it, writes a verdict.

Run only as ``python -m recycle.zoo.checker JOB.json RESULT.json`` (see
:func:`recycle.zoo.checker.check_model`). The result file is written only by this code, after
the model ran; a model that hangs or is killed leaves no result.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
from pathlib import Path
from typing import Any

EXTRA_ARCH_ENV = "RECYCLE_EXTRA_ARCH_MODULES"
WORDS = ("the", "model", "zoo", "check", "input", "text", "cat", "dog", "river", "blue")
TEXT_WORDS = 8  # words per random test sentence


def _limit(memory_mb: int, cpu_s: int) -> None:
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def make_inputs(card: dict[str, Any], n: int, seed: int) -> Any:
    """Random inputs matching the card's input schema."""
    import numpy as np

    rng = np.random.default_rng(seed)
    schema = card["input"]
    shape = (n, *schema["shape"])
    dtype = schema["dtype"]
    if dtype == "str":
        return [" ".join(rng.choice(WORDS, size=TEXT_WORDS)) for _ in range(n)]
    lo, hi = schema.get("value_range") or ((0.0, 255.0) if dtype == "uint8" else (-1.0, 1.0))
    if dtype in ("uint8", "int64"):
        return rng.integers(int(lo), int(hi) + 1, size=shape).astype(dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def _build(tree: dict[str, Any]) -> Any:
    from recycle.sources import deserialize

    parents = {pid: _build(p) for pid, p in tree["parents"].items()}
    files = {k: Path(v) for k, v in tree["files"].items()}
    return deserialize(tree["config"], files, parents or None)


def _run(job: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    for plugin in filter(None, os.environ.get(EXTRA_ARCH_ENV, "").split(",")):
        importlib.import_module(plugin.strip())
    card = job["card"]
    source = _build(job)
    want_dim = card["output"]["feature_dim"]
    for attr, want in (("modality", card["modality"]), ("access", card["access"])):
        got = getattr(source, attr, None)
        if got != want:
            return {
                "ok": False,
                "reason": f"the card says {attr}={want!r} but the model is {got!r}",
            }
    report: dict[str, Any] = {"ok": True, "reason": ""}
    if card["access"] == "white-box":
        get_module = getattr(source, "torch_module", None)
        module = get_module() if callable(get_module) else None
        import torch

        if not isinstance(module, torch.nn.Module):
            return {"ok": False, "reason": "a white-box model must expose torch_module()"}
        # its declared structure: named submodules (or the module itself, e.g. one Linear)
        children = [name for name, _ in module.named_children()]
        report["modules"] = children or [type(module).__name__]
        report["n_params"] = int(sum(p.numel() for p in module.parameters()))
        if report["n_params"] == 0:
            return {
                "ok": False,
                "reason": "a white-box model must expose a torch module with parameters",
            }
    X = make_inputs(card, job["n_inputs"], job["seed"])
    F = np.asarray(source.embed(X))
    report["output_shape"] = list(F.shape)
    if F.shape != (job["n_inputs"], want_dim):
        report.update(
            ok=False,
            reason=f"embed gave shape {tuple(F.shape)}; the card declares "
            f"({job['n_inputs']}, {want_dim})",
        )
    elif not np.isfinite(F).all():
        report.update(ok=False, reason="embed gave non-finite values (NaN or inf)")
    rows = int(job.get("batch_rows", 0))
    if report["ok"] and rows > job["n_inputs"]:  # one serving-size batch, as it will be served
        if hasattr(source, "batch_size"):
            source.batch_size = min(int(source.batch_size), rows)
        F = np.asarray(source.embed(make_inputs(card, rows, job["seed"] + 1)))
        if F.shape != (rows, want_dim):
            report.update(ok=False, reason=f"embed of {rows} rows gave shape {tuple(F.shape)}")
    classes = card["output"]["source_classes"]
    if report["ok"] and classes:
        if not callable(getattr(source, "predict_proba", None)):
            report.update(ok=False, reason="the card lists source_classes but there is no head")
        else:
            P = np.asarray(source.predict_proba(X))
            if P.shape != (job["n_inputs"], len(classes)) or not np.isfinite(P).all():
                report.update(
                    ok=False,
                    reason=f"predict_proba gave shape {tuple(P.shape)} or non-finite values; "
                    f"expected ({job['n_inputs']}, {len(classes)}) finite probabilities",
                )
    return report


def _is_memory(exc: BaseException | None) -> bool:
    """Whether ``exc`` is an allocation failure (Python's or a runtime's own message)."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or ("allocate" in text and "memory" in text)


def main(argv: list[str]) -> int:
    """Entry point of the child: ``JOB.json RESULT.json``."""
    job_path, result_path = argv
    job = json.loads(Path(job_path).read_text())
    _limit(job["memory_mb"], job["cpu_s"])
    try:
        report = _run(job)
    except MemoryError:
        report = {
            "ok": False,
            "reason": f"the model exceeded the memory limit of {job['memory_mb']} MB",
        }
    except Exception as exc:  # the verdict on any failure of foreign code is "rejected"
        text = str(exc).splitlines()[0] if str(exc) else ""
        if _is_memory(exc) or _is_memory(exc.__cause__):
            reason = (
                f"the model exceeded the memory limit of {job['memory_mb']} MB (on a batch of "
                f"{job.get('batch_rows')} rows at most)"
            )
        else:
            reason = f"the model failed to load or run: {type(exc).__name__}: {text}"
        report = {"ok": False, "reason": reason[:500]}
    Path(result_path).write_text(json.dumps(report))
    return 0
