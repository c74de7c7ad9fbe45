"""CLI commands ``recycle fit``, ``recycle predict`` and ``recycle evaluate``.

``fit`` selects sources from the zoo and adapts them (a :class:`~recycle.adapt.Recycler`),
writing the model folder; ``predict`` writes predictions for new data; ``evaluate`` prints
accuracy, macro-F1 and ECE on labelled data. Training loops draw Rich progress bars (off with
``--json``).
"""

from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from recycle.cli.app import JsonOption, ZooOption, app, parse_m, zoo_location
from recycle.errors import DataError


def _labelled(path: str) -> tuple[Any, np.ndarray]:
    """``(X, labels)`` of a target file, labels as their original values."""
    from recycle.data import load_target

    target = load_target(path)
    return target.X, np.asarray(target.classes)[target.y]


def _unlabelled(path: str) -> Any:
    """``X`` of a data file; a ``.npz`` may lack ``y`` here."""
    p = Path(path)
    if p.suffix == ".npz" and p.is_file():
        try:
            with np.load(p, allow_pickle=False) as data:
                if "y" not in data.files:
                    if "X" not in data.files:
                        raise DataError(f"{path} has no array 'X'; save X (and y) with np.savez.")
                    X = data["X"]
                    return [str(t) for t in X] if X.dtype.kind in "US" else X
        except ValueError as exc:
            raise DataError(
                f"{path} is not a plain .npz ({exc}); save arrays without pickle."
            ) from exc
    return _labelled(path)[0]


def _warn_lines(caught: list[warnings.WarningMessage]) -> None:
    for msg in dict.fromkeys(str(w.message) for w in caught):
        typer.echo(f"Warning: {msg}", err=True)


@app.command("fit")
def fit_command(
    data: Annotated[str, typer.Argument(help="Target: .npz (X, y), .csv/.parquet, image folder.")],
    out: Annotated[str, typer.Option("--out", help="Folder to write the fitted model to.")],
    m: Annotated[str, typer.Option("--m", help="Sources to use: 'auto' or an int.")] = "auto",
    strategy: Annotated[
        str, typer.Option("--strategy", help="'auto' or a strategy name (see --help of fit).")
    ] = "auto",
    score: Annotated[str, typer.Option("--score", help="Transferability score.")] = "knn",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    time_budget: Annotated[
        float,
        typer.Option(
            "--time-budget",
            help="Seconds an auto fit should take; recycled candidates that would overrun are "
            "skipped (the no-source baselines always run, so it can take longer).",
        ),
    ] = 60.0,
    max_epochs: Annotated[
        int | None, typer.Option("--max-epochs", help="Cap on training epochs of torch strategies.")
    ] = None,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Select sources for the labelled target DATA, adapt them, and save the model to --out."""
    from recycle.adapt import Recycler
    from recycle.cli.render import print_json, print_table, rich_progress

    m_value = parse_m(m)
    X, y = _labelled(data)
    params = {"*": {"max_epochs": max_epochs}} if max_epochs else None
    with warnings.catch_warnings(record=True) as caught, rich_progress(not json_out) as progress:
        warnings.simplefilter("always")
        rec = Recycler(
            zoo_location(zoo) if strategy != "independent" else None, m=m_value,
            selection_score=score, strategy=strategy, seed=seed, time_budget=time_budget,
            strategy_params=params, progress=progress,
        ).fit(X, y)  # fmt: skip
        folder = rec.save(out)
    rep = rec.report_
    if json_out:
        print_json({"out": str(folder), **rep})
        return
    _warn_lines(caught)
    rows = [[s["rank"], s["name"], s.get("version") or "", s["score"]] for s in rep["sources"]]
    if rows:
        print_table("Sources used", ["rank", "source", "version", "score"], rows)
    cv_rows = [
        [k, v["mean"] if v["mean"] is not None else "-", v["std"] or "-", v["skipped"] or ""]
        for k, v in rep["cv"].items()
    ]
    if cv_rows:
        print_table("Cross-validated accuracy", ["candidate", "mean", "std", "note"], cv_rows)
    guard = rep.get("guard") or {}
    typer.echo(
        f"strategy={rep['strategy']} m={rep['m']} trainable_params={rep['trainable_params']} "
        f"fit_seconds={rep['fit_seconds']}" + (f" ({guard['reason']})" if guard else "")
    )
    typer.echo(f"Saved to {folder}")


@app.command("predict")
def predict_command(
    model: Annotated[str, typer.Argument(help="Model folder written by `recycle fit`.")],
    data: Annotated[str, typer.Argument(help="Data: .npz (X[, y]), .csv/.parquet, image folder.")],
    out: Annotated[
        str | None, typer.Option("--out", help="CSV to write (default: stdout).")
    ] = None,
    zoo: ZooOption = None,
) -> None:
    """Predict labels (and class probabilities) for DATA with a fitted model."""
    from recycle.adapt import Recycler

    rec = Recycler.load(model, zoo=zoo)
    X = _unlabelled(data)
    proba = rec.predict_proba(X)
    labels = rec.classes_[proba.argmax(axis=1)]
    header = ["index", "prediction", *[f"p_{c}" for c in rec.classes_.tolist()]]
    rows = [
        [i, lab, *(f"{p:.6g}" for p in row)]
        for i, (lab, row) in enumerate(zip(labels, proba, strict=True))
    ]
    if out is None:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)
    typer.echo(f"Wrote {len(rows)} predictions to {path}", err=True)


@app.command("evaluate")
def evaluate_command(
    model: Annotated[str, typer.Argument(help="Model folder written by `recycle fit`.")],
    data: Annotated[str, typer.Argument(help="Labelled data: .npz (X, y), .csv/.parquet, folder.")],
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Accuracy, macro-F1 and expected calibration error of a fitted model on labelled DATA."""
    from recycle.adapt import Recycler
    from recycle.cli.render import print_json, print_table
    from recycle.evaluate import evaluation_report

    rec = Recycler.load(model, zoo=zoo)
    X, y = _labelled(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = evaluation_report(y, rec.predict_proba(X), rec.classes_.tolist())
    if json_out:
        print_json({**rep, "warnings": [str(w.message) for w in caught]})
        return
    _warn_lines(caught)
    print_table(
        f"Evaluation of {model} on {data} (n={rep['n']})",
        ["metric", "value"],
        [["accuracy", rep["accuracy"]], ["macro-F1", rep["macro_f1"]], ["ECE", rep["ece"]]],
    )


__all__ = ["evaluate_command", "fit_command", "predict_command", "zoo_location"]
