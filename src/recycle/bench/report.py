"""``report.html``: the tables and plots of one benchmark run, self-contained (inline PNGs).

Plots: accuracy vs shots per method with standard-error bars; per-target gain of ``auto`` over
``independent``; which sources were selected for which target (heatmap).
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path
from typing import Any

from recycle.bench.results import Results

BASELINE = "independent"
RECYCLED = "auto"
MARKERS = "osD^vP*Xh<>p"


def _pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (no display here), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: object) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return base64.b64encode(buf.getvalue()).decode()


def accuracy_vs_shots(results: Results) -> str:
    """Line plot, one line per method, error bars = standard error over targets and seeds.

    Each method gets its own colour and marker (13 stream28 methods outrun a 10-colour cycle);
    ``auto`` is drawn thick and black; the x axis is logarithmic with the shots as its ticks.
    """
    plt = _pyplot()

    summ = results.summary()
    shots = results.shots()
    colours = plt.get_cmap("tab20").colors
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, method in enumerate(results.methods()):
        pts = [(s, summ[(method, s)]) for s in shots if (method, s) in summ]
        recycled = method == RECYCLED
        ax.errorbar(
            [s for s, _ in pts],
            [100 * st["mean"] for _, st in pts],
            yerr=[100 * st["sem"] for _, st in pts],
            marker=MARKERS[i % len(MARKERS)],
            color="black" if recycled else colours[i % len(colours)],
            capsize=3,
            label=method,
            linewidth=2.5 if recycled else 1.2,
            zorder=3 if recycled else 2,
        )
    ax.set_xscale("log")
    ax.set_xticks(shots, [str(s) for s in shots])
    ax.minorticks_off()
    ax.set_xlabel("training examples (shots)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{results.protocol}: accuracy vs shots (mean ± s.e.)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _png(fig)


def gain_plot(results: Results, method: str = RECYCLED) -> str | None:
    """Bar plot of per-(target, seed) gain over independent at the fewest shots."""
    gains = results.gains_over(BASELINE, method)
    if not gains:
        return None
    plt = _pyplot()

    fewest = min(g[1] for g in gains)
    vals = sorted((100 * g[3], f"{g[0]}/s{g[2]}") for g in gains if g[1] == fewest)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(
        range(len(vals)), [v for v, _ in vals], color=["#c44" if v < 0 else "#4a4" for v, _ in vals]
    )
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_ylabel("accuracy gain (points)")
    ax.set_xlabel("target / seed (sorted)")
    ax.set_title(f"{method} minus {BASELINE} at {fewest} shots")
    return _png(fig)


def short_names(names: list[str]) -> list[str]:
    """The names without the dotted prefix they all share (the zoo's id), for tick labels.

    >>> short_names(["stream28.s0-9ab.task00", "stream28.s0-9ab.task13"])
    ['task00', 'task13']
    >>> short_names(["digitcnn.mnist", "stream28.s0-9ab.task13"])
    ['digitcnn.mnist', 'stream28.s0-9ab.task13']
    """
    parts = [n.split(".") for n in names]
    shared = 0
    while len(names) > 1 and all(
        len(p) > shared + 1 and p[shared] == parts[0][shared] for p in parts
    ):
        shared += 1
    return [".".join(p[shared:]) for p in parts]


def selection_heatmap(results: Results) -> str | None:
    """Heatmap of how often each source was selected for each target (``selected`` extras)."""
    counts: Counter[tuple[str, str]] = Counter()
    for r in results.rows:
        for src in r.extra.get("selected", []) or []:
            counts[(r.target, src)] += 1
    if not counts:
        return None
    plt = _pyplot()
    import numpy as np

    targets = sorted({t for t, _ in counts})
    sources = sorted({s for _, s in counts})
    mat = np.zeros((len(targets), len(sources)))
    for (t, s), c in counts.items():
        mat[targets.index(t), sources.index(s)] = c
    fig, ax = plt.subplots(
        figsize=(max(6, 0.25 * len(sources) + 2), max(3, 0.25 * len(targets) + 1))
    )
    im = ax.imshow(mat, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(sources)), short_names(sources), rotation=90, fontsize=6)
    ax.set_yticks(range(len(targets)), short_names(targets), fontsize=6)
    ax.set_title("sources selected per target (count over methods, shots, seeds)")
    fig.colorbar(im, ax=ax)
    return _png(fig)


def write_report(results: Results, path: str | Path, extra_html: str = "") -> Path:
    """Write a self-contained HTML report of ``results`` to ``path``.

    ``extra_html`` (trusted, already escaped) goes after the run's metadata (the demo uses it).
    """
    path = Path(path)
    parts = [
        f"<h1>recycle benchmark: {html.escape(results.protocol)}</h1>",
        f"<p>{html.escape(str(results.meta))}</p>",
        extra_html,
        "<h2>Accuracy (%), mean ± std over targets and seeds</h2>",
        _markdown_to_html(results.markdown_table()),
        f'<img src="data:image/png;base64,{accuracy_vs_shots(results)}">',
    ]
    if BASELINE in results.methods():
        parts += [
            f"<h2>Mean gain over {BASELINE} (points; targets more than 2 points worse)</h2>",
            _markdown_to_html(results.gain_table(BASELINE)),
        ]
    for title, img in (
        ("Per-target gain over independent", gain_plot(results)),
        ("Selected sources", selection_heatmap(results)),
    ):
        if img:
            parts += [f"<h2>{title}</h2>", f'<img src="data:image/png;base64,{img}">']
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}td,th{padding:2px 8px}"
    page = f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>"
    page += "\n".join(parts) + "</body></html>"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page)
    tmp.replace(path)
    return path


def _markdown_to_html(table: str) -> str:
    lines = [ln for ln in table.splitlines() if not ln.startswith("|---")]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:]
    )
    return f"<table border=1 style='border-collapse:collapse'><tr>{head}</tr>{body}</table>"
