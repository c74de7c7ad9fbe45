"""One self-contained HTML page from :func:`recycle.deploy.report.deployment_report`.

No script, no font or stylesheet from elsewhere: plain HTML with inline CSS and SVG (the
reliability diagram and the robustness bars), so the page opens offline and prints.

Examples
--------
>>> page = render_html({"model": {"strategy": "mcw", "classes": ["a", "b"], "sources": []},
...     "quality": {"n": 2, "accuracy": 1.0, "macro_f1": 1.0, "ece": 0.1, "classes": ["a", "b"],
...                 "per_class": {}, "confusion": [[1, 0], [0, 1]], "reliability": []},
...     "robustness": [], "export": {"error": "no graph"}, "latency": {}, "size": {},
...     "licences": {"level": "unknown", "meaning": "?", "decided_by": [], "licences": {}}})
>>> page.startswith("<!DOCTYPE html>") and "no graph" in page
True
"""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:980px;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;
text-align:right}th{background:#f2f2f2}td.l,th.l{text-align:left}
.licence{padding:.8rem 1rem;border-radius:6px;font-size:1.05rem}
.permissive{background:#e3f4e1}.share-alike{background:#fff4d6}.non-commercial{background:#fde2d2}
.unknown{background:#f8d4d4}.grid{display:flex;gap:2rem;flex-wrap:wrap}.muted{color:#666}
"""


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return escape(str(v))


def _mb(v: int | None) -> str:
    return "&ndash;" if v is None else f"{v / 1e6:.2f} MB"


def _table(head: list[str], rows: list[list[Any]], left: int = 1) -> str:
    cls = lambda i: ' class="l"' if i < left else ""  # noqa: E731
    out = ["<table><tr>", *(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(head)), "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    return "".join(out) + "</table>"


def _reliability_svg(bins: list[dict[str, Any]], size: int = 260) -> str:
    """Bars of accuracy per confidence bin against the diagonal of perfect calibration."""
    pad = 30
    span = size - 2 * pad
    parts = [
        f'<svg width="{size}" height="{size}" role="img" aria-label="reliability diagram">',
        f'<rect x="{pad}" y="{pad}" width="{span}" height="{span}" fill="#fafafa" stroke="#999"/>',
    ]
    for b in bins:
        x = pad + b["lo"] * span
        w = (b["hi"] - b["lo"]) * span
        h = b["accuracy"] * span
        parts.append(
            f'<rect x="{x:.1f}" y="{pad + span - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="#4a7fc1" stroke="#fff"><title>confidence {b["confidence"]:.2f}, '
            f"accuracy {b['accuracy']:.2f}, n={b['n']}</title></rect>"
        )
    parts += [
        f'<line x1="{pad}" y1="{pad + span}" x2="{pad + span}" y2="{pad}" stroke="#d33" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{size / 2}" y="{size - 6}" text-anchor="middle" font-size="11">confidence'
        "</text>",
        f'<text x="10" y="{size / 2}" font-size="11" transform="rotate(-90 10 {size / 2})" '
        'text-anchor="middle">accuracy</text>',
        "</svg>",
    ]
    return "".join(parts)


def _robustness_svg(rows: list[dict[str, Any]], clean: float, width: int = 420) -> str:
    label, bar = 120, width - 170
    height = 24 * (len(rows) + 1) + 10
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="robustness">']
    for i, (name, acc) in enumerate([("clean", clean)] + [(r["corruption"], r["accuracy"])
                                                           for r in rows]):  # fmt: skip
        y = 8 + 24 * i
        colour = "#888" if i == 0 else "#e08a3c"
        parts.append(
            f'<text x="{label - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
            f'{escape(name)}</text><rect x="{label}" y="{y}" width="{acc * bar:.1f}" '
            f'height="16" fill="{colour}"/><text x="{label + acc * bar + 4:.1f}" y="{y + 13}" '
            f'font-size="12">{acc:.3f}</text>'
        )
    return "".join(parts) + "</svg>"


def _confusion(q: dict[str, Any]) -> str:
    names, M = q["classes"], q["confusion"]
    top = max((max(r) for r in M), default=1) or 1
    head = "<tr><th class='l'>true \\ predicted</th>" + "".join(
        f"<th>{escape(str(c))}</th>" for c in names
    )
    rows = []
    for name, row in zip(names, M, strict=True):
        cells = "".join(
            f'<td style="background:rgba(74,127,193,{v / top:.2f})">{v}</td>' for v in row
        )
        rows.append(f"<tr><th class='l'>{escape(str(name))}</th>{cells}</tr>")
    return f"<table>{head}</tr>{''.join(rows)}</table>"


def render_html(report: dict[str, Any], title: str = "Deployment report") -> str:
    """The report as one HTML page (see the module docstring)."""
    m, q, lic = report["model"], report["quality"], report["licences"]
    src_rows = [
        [escape(str(s.get("name") or s.get("source_id"))), _fmt(s.get("version")),
         escape(str(s.get("license"))), escape(str(s.get("data_license") or "not stated")),
         f"<code>{_fmt((s.get('sha256') or '')[:12])}</code>"]
        for s in m.get("sources", [])
    ]  # fmt: skip
    export = report["export"]
    engines = [("recycle predict", q["accuracy"], None)]
    if "error" not in export:
        engines += [(f"ONNX {k}", export[k]["accuracy"], export[k]["agreement"])
                    for k in ("fp32", "int8")]  # fmt: skip
    lat = report["latency"]
    size = report["size"]
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p class='muted'>strategy <b>{escape(str(m.get('strategy')))}</b>, "
        f"{len(m.get('classes', []))} classes, {q['n']} labelled rows evaluated.</p>",
        "<h2>Licences</h2>",
        f"<div class='licence {escape(lic['level'])}'><b>Combined: {escape(lic['level'])}.</b> "
        f"{escape(lic['meaning'])}"
        + (f" Decided by: {escape('; '.join(lic['decided_by']))}." if lic["decided_by"] else "")
        + "</div>",
        _table(["source", "version", "weights licence", "training-data licence", "sha256"],
               src_rows, left=4)
        if src_rows else "<p>No sources (the model uses none).</p>",
        "<h2>Quality</h2>",
        _table(["", "accuracy", "macro-F1", "ECE"],
               [["recycle predict", _fmt(q["accuracy"]), _fmt(q["macro_f1"]), _fmt(q["ece"])]]),
        "<div class='grid'><div><h3>Per-class recall</h3>",
        _table(["class", "n", "recall"], [[escape(c), v["n"], _fmt(v["recall"])]
                                          for c, v in q["per_class"].items()]),
        "</div><div><h3>Confusion matrix</h3>", _confusion(q), "</div></div>",
        "<h2>Calibration</h2><div class='grid'><div>",
        _reliability_svg(q["reliability"]),
        f"</div><div><p>Expected calibration error: <b>{_fmt(q['ece'])}</b></p><p "
        "class='muted'>Bars: accuracy of the rows in each confidence bin; dashed: perfect "
        "calibration.</p></div></div>",
        "<h2>Robustness</h2>",
        _robustness_svg(report["robustness"], q["accuracy"]),
        "<h2>Export, latency and size</h2>",
        f"<p>ONNX export failed: {escape(export['error'])}</p>" if "error" in export else "",
        _table(["engine", "accuracy", "agreement with recycle"],
               [[n, _fmt(a), _fmt(g)] for n, a, g in engines]),
        _table(["engine", "ms / row (batch)", "ms (one row)"],
               [[escape(k), _fmt(v["batch_ms_per_row"], 2), _fmt(v["single_row_ms"], 2)]
                for k, v in lat.items()]),
        _table(["artefact", "size"],
               [["model folder", _mb(size.get("folder"))],
                ["sources it loads from the zoo", _mb(size.get("sources_in_zoo"))],
                ["ONNX fp32 (self-contained)", _mb(size.get("fp32"))],
                ["ONNX int8 (self-contained)", _mb(size.get("int8"))]]),
    ]  # fmt: skip
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
