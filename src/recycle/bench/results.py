"""Benchmark results: the ``results.json`` format of DESIGN.md and its summaries.

Format::

    {"protocol": str,
     "rows": [{"target": str, "method": str, "m": int | "auto", "shots": int,
               "accuracy": float, "fit_seconds": float, "trainable_params": int, "seed": int,
               ...optional extras: "selected": [str], "strategy": str, "guard": bool,
               and for auto "cv", "cv_folds", "reference" (see recycle.bench.runner)}],
     "meta": {...}}

Examples
--------
>>> res = Results("demo")
>>> res.add(Row("t0", "independent", 0, 25, 0.5, 1.0, 100, 0))
>>> res.add(Row("t0", "auto", "auto", 25, 0.7, 2.0, 50, 0))
>>> round(res.summary()[("auto", 25)]["mean"], 2)
0.7
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recycle.errors import DataError

#: Methods that train from scratch on the target alone (stream28's small network), compared with
#: auto in the findings besides the baseline: the promise is never to fall below training from
#: scratch without saying so.
FROM_SCRATCH = ("independent_lenet",)


@dataclass
class Row:
    """One (target, method, shots, seed) measurement."""

    target: str
    method: str
    m: int | str
    shots: int
    accuracy: float
    fit_seconds: float
    trainable_params: int
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        out.update(self.extra)
        return out


@dataclass
class Results:
    """All rows of one protocol run, plus run metadata (wall time, quick or full)."""

    protocol: str
    rows: list[Row] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "rows": [r.to_dict() for r in self.rows],
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        """Write JSON atomically (temp file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Results:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(
                f"Cannot read results file {path}: {exc}. Run `recycle bench` first."
            ) from exc
        base = {
            "target",
            "method",
            "m",
            "shots",
            "accuracy",
            "fit_seconds",
            "trainable_params",
            "seed",
        }
        rows = [
            Row(**{k: r[k] for k in base}, extra={k: v for k, v in r.items() if k not in base})
            for r in data["rows"]
        ]
        return cls(data["protocol"], rows, data.get("meta", {}))

    @classmethod
    def merge(cls, parts: list[Results]) -> Results:
        """One protocol's results from runs split by shots, seeds or targets.

        Rows measured twice (same target, method, shots and seed) keep the later part's row;
        ``meta`` keeps the first part's, with ``parts``: each part's own meta (subset, wall time).

        Examples
        --------
        >>> a, b = Results("p"), Results("p")
        >>> a.add(Row("t0", "auto", "auto", 25, 0.7, 2.0, 50, 0))
        >>> b.add(Row("t0", "auto", "auto", 50, 0.8, 2.0, 50, 0))
        >>> Results.merge([a, b]).shots()
        [25, 50]
        >>> Results.merge([a, Results("q")])
        Traceback (most recent call last):
        ...
        recycle.errors.DataError: Cannot merge results of protocols p, q; ...
        """
        protocols = sorted({p.protocol for p in parts})
        if len(protocols) != 1:
            raise DataError(
                f"Cannot merge results of protocols {', '.join(protocols)}; "
                "merge one protocol at a time."
            )
        rows: dict[tuple[str, str, int, int], Row] = {}
        for part in parts:
            rows.update({(r.target, r.method, r.shots, r.seed): r for r in part.rows})
        per_part = ("wall_seconds", "subset", "done", "total", "failures")
        meta = {k: v for k, v in parts[0].meta.items() if k not in per_part}
        # parts may have run one after another or side by side: keep each one's wall time
        meta["parts"] = [{k: v for k, v in p.meta.items() if k != "sources"} for p in parts]
        meta["failures"] = [f for p in parts for f in p.meta.get("failures", [])]
        # parts may overlap (a resumed run carries the rows it started from), so their fit
        # counts do not add up; say how many parts stopped before their end instead
        stopped = sum(
            1
            for p in parts
            if p.meta.get("stopped_parts")
            or (p.meta.get("total") and p.meta.get("done", 0) < p.meta["total"])
        )
        if stopped:
            meta["stopped_parts"] = stopped
        return cls(protocols[0], list(rows.values()), meta)

    def methods(self) -> list[str]:
        return list(dict.fromkeys(r.method for r in self.rows))

    def shots(self) -> list[int]:
        return sorted({r.shots for r in self.rows})

    def summary(self) -> dict[tuple[str, int], dict[str, float]]:
        """Mean, standard deviation, standard error and count of accuracy per (method, shots)."""
        groups: dict[tuple[str, int], list[Row]] = defaultdict(list)
        for r in self.rows:
            groups[(r.method, r.shots)].append(r)
        out = {}
        for key, rows in groups.items():
            acc = [r.accuracy for r in rows]
            mean, std = _mean_std(acc)
            out[key] = {
                "mean": mean,
                "std": std,
                "sem": std / math.sqrt(len(acc)),
                "n": float(len(acc)),
                "fit_seconds": sum(r.fit_seconds for r in rows) / len(rows),
                "trainable_params": sum(r.trainable_params for r in rows) / len(rows),
            }
        return out

    def gains_over(self, baseline: str, method: str) -> list[tuple[str, int, int, float]]:
        """Per (target, shots, seed): accuracy of ``method`` minus ``baseline``."""
        base = {(r.target, r.shots, r.seed): r.accuracy for r in self.rows if r.method == baseline}
        return [
            (r.target, r.shots, r.seed, r.accuracy - base[(r.target, r.shots, r.seed)])
            for r in self.rows
            if r.method == method and (r.target, r.shots, r.seed) in base
        ]

    def markdown_table(self, min_seeds: int = 0) -> str:
        """Accuracy mean ± std (%) per method (rows) and shots (columns), plus params and time.

        ``min_seeds``: a cell whose rows come from fewer seeds than this says how many
        (``71.2 ± 0.0 (n=1)``), so a mean over one seed is not read as a settled one.

        >>> res = Results("demo", [Row("t", "auto", "auto", 8, 0.7, 1.0, 10, 0)])
        >>> res.markdown_table(min_seeds=3).splitlines()[-1]
        '| auto | 70.0 ± 0.0 (n=1) | 10 | 1.0 |'
        """
        summ = self.summary()
        seeds: dict[tuple[str, int], set[int]] = defaultdict(set)
        for r in self.rows:
            seeds[(r.method, r.shots)].add(r.seed)
        shots = self.shots()
        head = "| method | " + " | ".join(f"{s} shots" for s in shots) + " | params | fit s |"
        lines = [head, "|" + "---|" * (len(shots) + 3)]
        for method in self.methods():
            cells = []
            params: list[float] = []
            secs: list[float] = []
            for s in shots:
                st = summ.get((method, s))
                if st is None:
                    cells.append("–")
                    continue
                n = len(seeds[(method, s)])
                few = f" (n={n})" if n < min_seeds else ""
                cells.append(f"{100 * st['mean']:.1f} ± {100 * st['std']:.1f}{few}")
                params.append(st["trainable_params"])
                secs.append(st["fit_seconds"])
            p = f"{sum(params) / len(params):,.0f}" if params else "–"
            t = f"{sum(secs) / len(secs):.1f}" if secs else "–"
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {p} | {t} |")
        return "\n".join(lines)

    def gain_table(self, baseline: str = "independent", margin: float = 0.02) -> str:
        """Per method and shots: mean paired gain over ``baseline`` (points) and losses.

        A cell reads ``+4.1 (1/30)``: mean accuracy gain over ``baseline`` on the same
        (target, seed), and on how many of them the method is worse than ``baseline`` by more
        than ``margin`` (2 points by default): where recycling loses, the table shows it.

        Examples
        --------
        >>> res = Results("demo")
        >>> res.add(Row("t0", "independent", 0, 25, 0.80, 1.0, 100, 0))
        >>> res.add(Row("t1", "independent", 0, 25, 0.90, 1.0, 100, 0))
        >>> res.add(Row("t0", "auto", "auto", 25, 0.95, 2.0, 50, 0))
        >>> res.add(Row("t1", "auto", "auto", 25, 0.85, 2.0, 50, 0))
        >>> print(res.gain_table())
        | method vs independent | 25 shots |
        |---|---|
        | auto | +5.0 (1/2) |
        """
        shots = self.shots()
        head = f"| method vs {baseline} | " + " | ".join(f"{s} shots" for s in shots) + " |"
        lines = [head, "|" + "---|" * (len(shots) + 1)]
        for method in self.methods():
            if method == baseline:
                continue
            gains = self.gains_over(baseline, method)
            cells = []
            for s in shots:
                g = [d for _, shot, _, d in gains if shot == s]
                if not g:
                    cells.append("–")
                    continue
                losses = sum(d < -margin for d in g)
                cells.append(f"{100 * sum(g) / len(g):+.1f} ({losses}/{len(g)})")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def best_fixed(
        self, shots: int, summ: dict[tuple[str, int], dict[str, float]] | None = None
    ) -> str | None:
        """The fixed method with the highest mean accuracy at ``shots`` (None if none ran).

        Fixed: every method but ``auto`` and its earlier versions (names starting with
        ``auto``) and the random-selection ablations (names ending in ``_random``).

        Examples
        --------
        >>> res = Results("demo")
        >>> for method, acc in [("independent", 0.8), ("mcw_random", 0.95), ("auto", 0.99)]:
        ...     res.add(Row("t0", method, 3, 25, acc, 1.0, 10, 0))
        >>> res.best_fixed(25), res.best_fixed(50)
        ('independent', None)
        """
        summ = self.summary() if summ is None else summ
        fixed = {
            m: summ[(m, shots)]["mean"]
            for m in self.methods()
            if not m.startswith("auto") and not m.endswith("_random") and (m, shots) in summ
        }
        return max(fixed, key=fixed.__getitem__) if fixed else None

    def findings(self, baseline: str = "independent", margin: float = 0.02) -> list[str]:
        """One generated sentence per shots on ``auto`` (and one on k-NN vs random sources).

        Compares ``auto`` with the best fixed method (every other method but the random-
        selection ablations, whose names end in ``_random``, and earlier versions of auto, whose
        names start with ``auto_``) and with ``baseline``: mean, standard
        error, paired gain and how many targets lose more than ``margin``, and how many of those
        ``report_`` flagged.
        """
        summ = self.summary()
        knn_vs_random = self.gains_over("module_mixing_m3_random", "module_mixing_m3")
        lines = []
        for shots in self.shots():
            line = self._auto_finding(shots, summ, baseline, margin)
            if line:
                lines.append(line)
            pairs = [p for p in knn_vs_random if p[1] == shots]
            if pairs:
                wins = sum(d > 0 for *_, d in pairs)
                mean_d = 100 * sum(d for *_, d in pairs) / len(pairs)
                lines.append(
                    f"{shots} shots: module mixing m=3 with k-NN-selected sources vs random "
                    f"sources {mean_d:+.1f} points (k-NN better on {wins}/{len(pairs)})."
                )
        return lines

    def _auto_finding(
        self, shots: int, summ: dict[tuple[str, int], dict[str, float]], baseline: str,
        margin: float,
    ) -> str | None:  # fmt: skip
        """The findings sentence on ``auto`` at ``shots`` (None when auto or fixed are absent)."""
        auto = summ.get(("auto", shots))
        best = self.best_fixed(shots, summ)
        if auto is None or best is None:
            return None
        fixed = {best: summ[(best, shots)]}
        diffs = [d for _, s, _, d in self.gains_over(best, "auto") if s == shots]
        text = (
            f"{shots} shots: auto {100 * auto['mean']:.1f}; best fixed method {best} "
            f"{100 * fixed[best]['mean']:.1f}"
        )
        if len(diffs) > 1:
            mean_d, sd = _mean_std(diffs)
            se = sd / math.sqrt(len(diffs))
            verdict = "within 1 SE" if mean_d >= -se else "more than 1 SE below"
            sem = fixed[best]["sem"]
            of_mean = "within" if mean_d >= -sem else "more than"
            text += (
                f"; auto − best {100 * mean_d:+.1f} ± {100 * se:.1f} points (paired SE over "
                f"{len(diffs)} target-seeds: {verdict}; {of_mean} 1 SE of the best's mean, "
                f"{100 * sem:.1f})"
            )
        for base in (baseline, *(m for m in FROM_SCRATCH if m != baseline)):
            text += self._losses_to(base, shots, margin)
        return text + "."

    def _losses_to(self, baseline: str, shots: int, margin: float) -> str:
        """'; auto − BASELINE +x points, more than 2 points worse on n/N (k of them flagged
        or guarded in report_)', or '' when ``baseline`` was not run at ``shots``."""
        gains = [g for g in self.gains_over(baseline, "auto") if g[1] == shots]
        if not gains:
            return ""
        losers = {(t, sd) for t, s, sd, d in gains if d < -margin}
        flagged = sum(
            1
            for r in self.rows
            if r.method == "auto" and r.shots == shots and (r.target, r.seed) in losers
            and (r.extra.get("flagged") or r.extra.get("guard"))
        )  # fmt: skip
        mean_gain = 100 * sum(d for *_, d in gains) / len(gains)
        return (
            f"; auto − {baseline} {mean_gain:+.1f} points, more than "
            f"{100 * margin:.0f} points worse on {len(losers)}/{len(gains)} "
            f"({flagged} of them flagged or guarded in report_)"
        )


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))
