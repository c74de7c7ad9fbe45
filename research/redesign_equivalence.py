"""Did the adapt/ redesign keep behaviour? The quick protocols' results.json, row by row.

``before`` is ``recycle bench PROTOCOL --quick`` run on dadf192 (the last commit before the
adapt/ split), ``after`` the same on main. Rows are matched by (protocol, target, method, shots,
seed) and compared on every field but ``fit_seconds`` (wall-clock time, never equal) and fields
only ``after`` has. Each differing row gets a cause from :data:`CAUSES` by the rules of
:func:`cause`, or "unexplained"; ``--verify DIR`` adds a column saying whether a run of main
with dadf192's hold-out rule (``old-holdout``) gives that row exactly as ``before``.

Usage::

    python research/redesign_equivalence.py old-holdout PROTOCOL OUT [--methods a,b]
    python research/redesign_equivalence.py compare BEFORE AFTER [--verify DIR] [--page PAGE]

BEFORE, AFTER and DIR hold one folder per protocol with its results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: Fields never compared: wall-clock time.
TIMING = ("fit_seconds",)
#: What identifies a row (``m`` is compared, not matched: a baseline's m may change).
KEY = ("target", "method", "shots", "seed")
#: auto's no-source references on text after 80ed93b (before: the small network).
TEXT_REFERENCES = ("tfidf_logreg", "minilm_logreg")
#: CV candidates auto's time budget binds (torch training; the others are cheap).
DEAR = ("module_mixing", "feature_mixing", "independent_adapters", "finetune_source")
#: Strategies (and CV candidate prefixes) that train the small network from scratch, whose
#: early-stopping hold-out the redesign drew with another splitter.
SMALL_NETWORK = ("independent", "feature_mixing")

CAUSES = {
    "holdout": (
        "The small network's early-stopping hold-out (independent, feature_mixing). dadf192 "
        "drew it with sklearn's `train_test_split`; main with the package's one stratified "
        "splitter (`split.stratified_holdout`, b162c86) under dadf192's rule for *whether* to "
        "hold out (`split.early_stopping_split`, 2549e94). Same rule, other rows "
        "held out (the same number on these class-balanced targets), so another network. Only "
        "where 10 % of the rows is at least the number of classes; below that neither version "
        "holds out and the rows are identical."
    ),
    "text-references": (
        "auto on text is guarded by the stronger of TF-IDF + logistic regression and frozen "
        "MiniLM + logistic regression instead of the small network (80ed93b, issue #22: the "
        "small network on hashed words was a reference TF-IDF beat). Every candidate both "
        "versions scored has the same fold scores (checked per row); the references differ, "
        "so the guard's decision and, where it changed, the model and its accuracy differ."
    ),
    "time-budget": (
        "auto's quick time budget (30 s) is wall-clock time: whether a dear candidate "
        "(module_mixing, feature_mixing: torch training) is scored depends on how long the "
        "candidates before it took on the machine at that moment, and since 84e2e4a a dear "
        "candidate still running when the budget is spent stops after a fold and is dropped "
        "(dadf192 let it finish). The row's candidates differ only by such a candidate scored "
        "on one side and not the other; every candidate both scored has the same fold scores, "
        "and the choice and accuracy are the same."
    ),
    "tfidf-strategy": (
        "The text protocol's TF-IDF baseline is the registered strategy `tfidf_logreg`, run "
        "through the Recycler (3205b69; was a bench-only factory): same accuracy; the row now "
        "has the Recycler's fields (`m` 'auto', `m_used` 0, `guard`, `flagged`), and "
        "`trainable_params` counts the stored symmetric two-row head of a binary problem "
        "(2d + 2; sklearn's one row: d + 1)."
    ),
}


def load_rows(folder: Path) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows of every ``<protocol>/results.json`` under ``folder``, keyed by (protocol, *KEY)."""
    rows = {}
    for path in sorted(folder.glob("*/results.json")):
        data = json.loads(path.read_text())
        for row in data["rows"]:
            rows[(data["protocol"], *(row[k] for k in KEY))] = row
    return rows


def differing(before: dict[str, Any], after: dict[str, Any], new_fields: set[str]) -> list[str]:
    """Fields whose values differ (``fit_seconds`` and fields new in ``after`` aside)."""
    fields = (set(before) | set(after)) - set(TIMING) - new_fields
    return sorted(f for f in fields if before.get(f) != after.get(f))


def _shared_folds_equal(
    before: dict[str, Any], after: dict[str, Any], skip: tuple[str, ...]
) -> bool:
    """Both rows' CV fold scores agree on every candidate both scored (``skip`` prefixes aside)."""
    b, a = before.get("cv_folds") or {}, after.get("cv_folds") or {}
    shared = [k for k in b if k in a and not k.startswith(skip)]
    return bool(shared) and all(b[k] == a[k] for k in shared)


def cause(protocol: str, before: dict[str, Any], after: dict[str, Any], fields: list[str]) -> str:
    """The key of :data:`CAUSES` that explains a differing row, or ``"unexplained"``.

    Each rule checks what its cause implies, not only where the row is:

    - ``tfidf-strategy``: the text protocol's TF-IDF row, same accuracy, only the Recycler's
      fields and a doubled parameter count differ;
    - ``text-references``: auto on text whose references changed while every candidate both
      versions scored has the same fold scores (small-network candidates aside where the
      hold-out applies to their folds);
    - ``time-budget``: auto whose CV differs only by dear candidates scored on one side, every
      shared candidate with the same fold scores (and so the same choice and accuracy);
    - ``holdout``: a row of a small-network strategy whose only difference is its accuracy.
    """
    method = before["method"]
    if protocol == "text" and method == "tfidf_logreg":
        same_model = before["accuracy"] == after["accuracy"]
        doubled = after["trainable_params"] == 2 * before["trainable_params"]
        recycler_fields = {"m", "m_used", "guard", "flagged", "trainable_params"}
        if same_model and doubled and set(fields) <= recycler_fields:
            return "tfidf-strategy"
    if protocol == "text" and method == "auto":
        refs = set(after.get("cv") or {}) & set(TEXT_REFERENCES)
        if refs and _shared_folds_equal(before, after, SMALL_NETWORK):
            return "text-references"
    if method == "auto" and set(fields) <= {"cv", "cv_folds"}:
        b, a = before.get("cv") or {}, after.get("cv") or {}
        one_side = set(a) ^ set(b)
        only_dear = bool(one_side) and all(k.startswith(DEAR) for k in one_side)
        if only_dear and _shared_folds_equal(before, after, ()):
            return "time-budget"
    if before.get("strategy") in SMALL_NETWORK and fields == ["accuracy"]:
        return "holdout"
    return "unexplained"


def compare(
    before_dir: Path, after_dir: Path, verify_dir: Path | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One record per differing row and a summary (rows, identical, per cause, new fields)."""
    before, after = load_rows(before_dir), load_rows(after_dir)
    verify = load_rows(verify_dir) if verify_dir else {}
    shared = {k[0] for k in before} & {k[0] for k in after}
    only = sorted({k[0] for k in [*before, *after]} - shared)
    before = {k: v for k, v in before.items() if k[0] in shared}
    after = {k: v for k, v in after.items() if k[0] in shared}
    if set(before) != set(after):
        missing, extra = sorted(set(before) - set(after)), sorted(set(after) - set(before))
        sys.exit(f"the runs have different rows: only before {missing}, only after {extra}")
    old_fields = {f for row in before.values() for f in row}
    new_fields = {f for row in after.values() for f in row} - old_fields
    summary = {"rows": {}, "identical": {}, "causes": {}, "new_fields": new_fields, "only": only}
    records = []
    for key in sorted(before):
        protocol = key[0]
        summary["rows"][protocol] = summary["rows"].get(protocol, 0) + 1
        fields = differing(before[key], after[key], new_fields)
        if not fields:
            summary["identical"][protocol] = summary["identical"].get(protocol, 0) + 1
            continue
        why = cause(protocol, before[key], after[key], fields)
        summary["causes"][why] = summary["causes"].get(why, 0) + 1
        record = {"key": key, "fields": fields, "cause": why,
                  "before": before[key], "after": after[key]}  # fmt: skip
        if key in verify:
            record["restored"] = not differing(before[key], verify[key], new_fields)
        records.append(record)
    return records, summary


def _cell(row: dict[str, Any]) -> str:
    """A row's model in a few words: accuracy, then auto's choice."""
    text = f"{row['accuracy']:.4f}"
    if row.get("strategy") and row["method"] == "auto":
        text += f" ({row['strategy']}, m={row.get('m_used')})"
    return text


def render(records: list[dict[str, Any]], summary: dict[str, Any], verified: bool) -> str:
    """The tables of the page: per protocol, then every differing row with its cause."""
    lines = ["| protocol | rows | identical | differing |", "|---|---|---|---|"]
    for protocol, n in sorted(summary["rows"].items()):
        same = summary["identical"].get(protocol, 0)
        lines.append(f"| {protocol} | {n} | {same} | {n - same} |")
    if not records:
        return "\n".join([*lines, "", "Every row is identical (fit_seconds aside)."]) + "\n"
    lines += ["", "| cause | rows |", "|---|---|"]
    lines += [f"| {c} | {n} |" for c, n in sorted(summary["causes"].items())]
    new = ", ".join(f"`{f}`" for f in sorted(summary["new_fields"])) or "none"
    lines += ["", f"Fields only main's rows have (not compared): {new}."]
    only = ", ".join(summary["only"]) or "none"
    lines += ["", f"Protocols run on one side only (not compared): {only}.", ""]
    head = "| protocol | target | method | shots | seed | differs in | before | after | cause |"
    lines += [head + (" dadf192's hold-out restores it |" if verified else ""),
              "|---" * (9 + verified) + "|"]  # fmt: skip
    for r in records:
        protocol, target, method, shots, seed = r["key"]
        cells = [protocol, target, method, shots, seed, ", ".join(r["fields"]),
                 _cell(r["before"]), _cell(r["after"]), r["cause"]]  # fmt: skip
        if verified:
            cells.append({True: "yes", False: "no", None: "-"}[r.get("restored")])
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "Causes:", ""]
    lines += [f"- **{c}**: {CAUSES[c]}" for c in sorted(summary["causes"]) if c in CAUSES]
    return "\n".join(lines) + "\n"


def write_page(page: Path, section: str, tables: str) -> None:
    """Replace the text between the page's markers of ``section`` with ``tables``."""
    start, end = f"<!-- generated: {section} -->\n", f"<!-- end generated: {section} -->"
    text = page.read_text()
    head, rest = text.split(start)
    _, tail = rest.split(end)
    page.write_text(head + start + tables + end + tail)


def old_holdout(protocol: str, out: str, methods: str | None) -> int:
    """``recycle bench PROTOCOL --quick`` on this tree with dadf192's hold-out split."""
    from sklearn.model_selection import train_test_split

    import recycle.adapt.smallnet as smallnet
    from recycle.cli import main

    def dadf192_split(y: np.ndarray, fraction: float = 0.1, seed: int = 0) -> Any:
        # adapt/nets.py train_classifier at dadf192
        n, n_classes, counts = len(y), int(y.max()) + 1, np.bincount(y)
        n_val = round(fraction * n)
        idx = np.arange(n)
        if counts.min() >= 2 and n_val >= n_classes and n - n_val >= n_classes:
            return train_test_split(idx, test_size=n_val, stratify=y, random_state=seed)
        return idx, idx[:0]

    smallnet.early_stopping_split = dadf192_split  # type: ignore[assignment]
    argv = ["bench", protocol, "--quick", "--out", out]
    return main(argv + (["--methods", methods] if methods else []))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("old-holdout", help="a quick protocol with dadf192's hold-out split")
    run.add_argument("protocol")
    run.add_argument("out")
    run.add_argument("--methods")
    cmp = sub.add_parser("compare", help="row-by-row differences and their causes")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    cmp.add_argument("--verify", type=Path)
    cmp.add_argument("--page", type=Path, help="write the tables into this page's markers")
    cmp.add_argument("--section", default="rows", help="which markers of --page (default rows)")
    args = parser.parse_args(argv)
    if args.command == "old-holdout":
        return old_holdout(args.protocol, args.out, args.methods)
    records, summary = compare(args.before, args.after, args.verify)
    tables = render(records, summary, args.verify is not None)
    if args.page:
        write_page(args.page, args.section, tables)
    else:
        print(tables, end="")
    return 1 if "unexplained" in summary["causes"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
