"""CLI command ``recycle reuse``: a model for unlabelled tabular data, without labels.

The logic is :func:`recycle.tabular.reuse.reuse`; this module reads the table, writes the
model folder (as ``fit`` does: a new folder, ``--force`` replaces a model folder only) and
renders what was used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recycle.cli.app import JsonOption, ZooOption, app
from recycle.cli.files import ForceOption, collected_warnings, open_zoo, print_saved


@app.command("reuse")
def reuse_command(
    data: Annotated[
        str, typer.Argument(help="Unlabelled table: .csv/.parquet with named columns.")
    ],
    classes: Annotated[
        str, typer.Option("--classes", help="The label space, comma-separated, e.g. no,yes.")
    ],
    out: Annotated[str, typer.Option("--out", help="Folder to write the model to.")],
    force: ForceOption = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Build a model for the unlabelled table DATA from the zoo's sources that know --classes.

    Each row is weighted towards the sources whose specifications it resembles; the result is
    a model folder like fit's (predict, evaluate, export). Columns are matched to the sources'
    by name, then by type and distribution.
    """
    from recycle.adapt.persist import check_writable
    from recycle.cli.render import print_table
    from recycle.errors import DataError
    from recycle.inputs import load_inputs
    from recycle.tabular.reuse import parse_classes, reuse

    names = parse_classes(classes)
    check_writable(Path(out), force)
    with collected_warnings() as caught:
        rows = load_inputs(data)
        if not hasattr(rows.X, "columns"):
            raise DataError(
                f"{Path(data).name} is not a table with named columns; reuse takes a .csv or "
                ".parquet file with a header row."
            )
        rec = reuse(open_zoo(zoo), rows.X, names)
        folder = rec.save(out, overwrite=force)
    rep = rec.report_
    if print_saved(folder, rep, json_out, caught):
        return
    weights = rep["mean_row_weights"]
    table = [
        [s["name"], s.get("version") or "", w] for s, w in zip(rep["sources"], weights, strict=True)
    ]
    print_table("Sources reused", ["source", "version", "mean row weight"], table)
    for note in rep["sources_left_out"]:
        typer.echo(f"Not used: {note}")
    typer.echo(f"{rep['n_unlabelled']} unlabelled rows, classes {','.join(names)}.")
    typer.echo(f"Saved to {folder}")
