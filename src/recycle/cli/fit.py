"""CLI commands ``recycle fit``, ``recycle predict`` and ``recycle evaluate``.

``fit`` selects sources from the zoo and adapts them (a :class:`~recycle.adapt.Recycler`),
writing the model folder; ``predict`` writes predictions for new data; ``evaluate`` prints
accuracy, macro-F1 and ECE on labelled data. Training loops draw Rich progress bars (off with
``--json``).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from recycle.cli.app import JsonOption, ZooOption, app, parse_m, zoo_location
from recycle.cli.files import (
    CacheOption,
    ForceOption,
    SkipBadOption,
    card_candidates,
    card_schema,
    check_out_file,
    collected_warnings,
    open_zoo,
    print_saved,
    print_warnings,
    write_file,
)


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
        float | None,
        typer.Option(
            "--time-budget",
            help="Seconds an auto fit should take (default 60; 150 on a text LoRA library); "
            "recycled candidates that would overrun are skipped (the no-source baselines always "
            "run, so it can take longer).",
        ),
    ] = None,
    max_epochs: Annotated[
        int | None, typer.Option("--max-epochs", help="Cap on training epochs of torch strategies.")
    ] = None,
    force: ForceOption = False,
    cache: CacheOption = None,
    skip_bad_images: SkipBadOption = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Select sources for the labelled target DATA, adapt them, and save the model to --out.

    --out must be a new (or empty) folder; --force replaces an existing model folder only.
    """
    from recycle.adapt import Recycler
    from recycle.adapt.persist import check_writable
    from recycle.adapt.registry import reads_sources, strategy_names
    from recycle.cli.render import print_table, rich_progress
    from recycle.data import load_target, table_columns

    m_value = parse_m(m)
    check_writable(Path(out), force)  # before the fit, not after minutes of work
    params = {"*": {"max_epochs": max_epochs}} if max_epochs else None
    with collected_warnings() as caught, rich_progress(not json_out) as progress:
        table_columns(data)  # a missing file is named before the zoo
        no_source = strategy in strategy_names() and not reads_sources(strategy)
        opened = None if no_source else open_zoo(zoo)  # a bad name: Recycler's error
        schema = card_schema(data, opened, keep_extra=True)
        target = load_target(data, schema=schema, skip_bad=skip_bad_images)
        y = target.labels()
        rec = Recycler(
            opened, m=m_value, selection_score=score, strategy=strategy, seed=seed,
            time_budget=time_budget, candidates=card_candidates(schema, opened),
            strategy_params=params, cache=cache, progress=progress,
        ).fit(target.features(), y)  # fmt: skip
        folder = rec.save(out, overwrite=force)
    rep = rec.report_
    if print_saved(folder, rep, json_out, caught):
        return
    rows = [[s["rank"], s["name"], s.get("version") or "", s["score"]] for s in rep["sources"]]
    if rows:
        print_table(
            "Sources used", ["rank", "source", "version", "score"], rows, optional=["version"]
        )
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


def _prediction_csv(keys: list, key_name: str, classes: np.ndarray, proba: np.ndarray) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([key_name, "prediction", *[f"p_{c}" for c in classes.tolist()]])
    labels = classes[proba.argmax(axis=1)]
    for key, lab, row in zip(keys, labels, proba, strict=True):
        writer.writerow([key, lab, *(f"{p:.6g}" for p in row)])
    return buf.getvalue()


@app.command("predict")
def predict_command(
    model: Annotated[str, typer.Argument(help="Model folder written by `recycle fit`.")],
    data: Annotated[
        str,
        typer.Argument(
            help="New data, labels not needed: .npz (X), .csv/.parquet (features or 'text'), "
            "a folder of images or one image."
        ),
    ],
    out: Annotated[
        str | None, typer.Option("--out", help="CSV to write (default: stdout).")
    ] = None,
    force: ForceOption = False,
    cache: CacheOption = None,
    skip_bad_images: SkipBadOption = False,
    zoo: ZooOption = None,
) -> None:
    """Predict labels and class probabilities for DATA; one CSV row per input row or image file.

    Table columns are matched to the model's by name; images are resized to the model's input.
    """
    from recycle.adapt import Recycler
    from recycle.inputs import load_inputs

    if out is not None:
        check_out_file(out, force)
    rec = Recycler.load(model, zoo=zoo_location(zoo))
    rec.cache = cache
    with collected_warnings() as caught:
        new = load_inputs(data, schema=rec.schema_, skip_bad=skip_bad_images)
        proba = rec.predict_proba(new.X)
    print_warnings(caught)
    text = _prediction_csv(new.keys, new.key_name, rec.classes_, proba)
    if out is None:
        sys.stdout.write(text)
        return
    path = write_file(out, text, force)
    typer.echo(f"Wrote {len(new.keys)} predictions to {path}", err=True)


@app.command("evaluate")
def evaluate_command(
    model: Annotated[str, typer.Argument(help="Model folder written by `recycle fit`.")],
    data: Annotated[str, typer.Argument(help="Labelled data: .npz (X, y), .csv/.parquet, folder.")],
    cache: CacheOption = None,
    skip_bad_images: SkipBadOption = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Accuracy, macro-F1 and expected calibration error of a fitted model on labelled DATA."""
    from recycle.adapt import Recycler
    from recycle.cli.render import print_json, print_table
    from recycle.data import load_target
    from recycle.evaluate import evaluation_report

    rec = Recycler.load(model, zoo=zoo_location(zoo))
    rec.cache = cache
    with collected_warnings() as caught:
        target = load_target(data, schema=rec.schema_, skip_bad=skip_bad_images)
        y = target.labels()
        rep = evaluation_report(y, rec.predict_proba(target.features()), rec.classes_.tolist())
    if json_out:
        print_json({**rep, "warnings": caught})
        return
    print_warnings(caught)
    print_table(
        f"Evaluation on {data} (n={rep['n']})",
        ["metric", "value"],
        [["accuracy", rep["accuracy"]], ["macro-F1", rep["macro_f1"]], ["ECE", rep["ece"]]],
    )


__all__ = ["evaluate_command", "fit_command", "predict_command", "zoo_location"]
