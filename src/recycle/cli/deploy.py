"""CLI commands for deployment: ``recycle export``, ``recycle report`` and ``recycle distill``.

``export`` writes one self-contained ONNX file (optionally int8; a text model also writes its
tokenizer JSON beside it); ``report`` writes an HTML deployment report (accuracy, calibration,
robustness, latency, size, licences); ``distill`` teaches a multi-source model into one small
student folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from recycle.cli.app import JsonOption, ZooOption, app, zoo_location

ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace an existing output (never other files).")
]


@app.command("export")
def export_command(
    model: Annotated[str, typer.Argument(help="Model folder written by `recycle fit`.")],
    out: Annotated[
        str,
        typer.Option(
            "--out", help="ONNX file to write (text models: also NAME.tokenizer.json beside it)."
        ),
    ],
    quantize: Annotated[
        str | None, typer.Option("--quantize", help="'int8' for int8 weights.")
    ] = None,
    int8_method: Annotated[
        str, typer.Option("--int8-method", help="'weights' (weight-only) or 'dynamic' (ORT).")
    ] = "weights",
    force: ForceOption = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Export a fitted model to one ONNX file that runs with onnxruntime alone."""
    from recycle.adapt import Recycler
    from recycle.cli.render import print_json
    from recycle.deploy import export_onnx
    from recycle.deploy.text_export import tokenizer_file

    rec = Recycler.load(model, zoo=zoo_location(zoo))
    path = export_onnx(rec, out, quantize=quantize, overwrite=force, int8_method=int8_method)
    tokenizer = tokenizer_file(path)
    info: dict[str, Any] = {
        "out": str(path),
        "bytes": Path(path).stat().st_size,
        "quantize": quantize,
        "tokenizer": str(tokenizer)
        if tokenizer.exists() and not rec.report_["input_shape"]
        else None,
    }
    if json_out:
        print_json(info)
        return
    tail = f", tokenizer {tokenizer}" if info["tokenizer"] else ""
    typer.echo(f"Wrote {path} ({info['bytes'] / 1e6:.2f} MB){tail}")


@app.command("report")
def report_command(
    model: Annotated[str, typer.Argument(help="Model folder written by `recycle fit`.")],
    data: Annotated[str, typer.Argument(help="Labelled held-out data (.npz, .csv, folder).")],
    out: Annotated[str, typer.Option("--out", help="HTML file to write.")],
    int8_method: Annotated[
        str, typer.Option("--int8-method", help="'weights' (weight-only) or 'dynamic' (ORT).")
    ] = "weights",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the corruptions.")] = 0,
    force: ForceOption = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Deployment report: quality, calibration, robustness, latency, size and licences."""
    from recycle.adapt import Recycler
    from recycle.cli.render import print_json
    from recycle.deploy.onnx_export import write_atomically
    from recycle.deploy.report import deployment_report
    from recycle.deploy.report_html import render_html

    target = Path(out)
    if target.exists() and not force:  # refuse before the (long) measurements
        write_atomically(b"", target, overwrite=False)
    rec = Recycler.load(model, zoo=zoo_location(zoo))
    X, y = _labelled(data, rec)
    rep = deployment_report(rec, X, y, model_dir=model, seed=seed, int8_method=int8_method)
    page = render_html(rep, title=f"Deployment report: {Path(model).name} on {Path(data).name}")
    write_atomically(page.encode("utf-8"), target, overwrite=force)
    if json_out:
        print_json(rep)
        return
    q, lic = rep["quality"], rep["licences"]
    typer.echo(
        f"accuracy={q['accuracy']:.4f} macro_f1={q['macro_f1']:.4f} ece={q['ece']:.4f} "
        f"licences={lic['level']}"
    )
    typer.echo(f"Wrote {target}")


@app.command("distill")
def distill_command(
    model: Annotated[str, typer.Argument(help="Teacher: a model folder from `recycle fit`.")],
    out: Annotated[str, typer.Option("--out", help="Folder for the student model.")],
    data: Annotated[
        str | None, typer.Option("--data", help="Labelled rows (e.g. the fit's DATA).")
    ] = None,
    unlabelled: Annotated[
        str | None, typer.Option("--unlabelled", help="Rows without labels for the teacher.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of augmentation and training.")] = 0,
    force: ForceOption = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Teach a multi-source model into one small student (one forward pass)."""
    from recycle.adapt import Recycler
    from recycle.adapt.persist import check_writable
    from recycle.cli.render import print_json
    from recycle.deploy import distill
    from recycle.inputs import load_inputs

    target = Path(out)
    check_writable(target, force)  # before the teaching, not after minutes of work
    teacher = Recycler.load(model, zoo=zoo_location(zoo))
    X, y = _labelled(data, teacher) if data else (None, None)
    X_u = load_inputs(unlabelled, schema=teacher.schema_).X if unlabelled else None
    student = distill(teacher, X, y, X_unlabelled=X_u, seed=seed)
    student.save(target, overwrite=force)
    info = {"out": str(target), **student.report_["distilled_from"],
            "student_trainable_params": student.report_["trainable_params"]}  # fmt: skip
    info.pop("sources")
    if json_out:
        print_json(info)
        return
    typer.echo(
        f"student: {info['student_trainable_params']} trainable parameters, no sources "
        f"(teacher: {info['strategy']} on {len(teacher.report_.get('sources', []))} sources); "
        f"rows: {info['n_labelled']} labelled, {info['n_augmented']} augmented, "
        f"{info['n_unlabelled']} unlabelled"
    )
    typer.echo(f"Saved to {target}")


def _labelled(data: str, rec: Any) -> tuple[Any, np.ndarray]:
    """Labelled rows of ``data`` checked against the model's schema (columns by name)."""
    from recycle.data import load_target

    target = load_target(data, schema=rec.schema_)
    return target.features(), target.labels()
