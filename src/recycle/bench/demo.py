"""The demo: a small real zoo and one few-shot target recycled end to end (``recycle demo``).

:func:`build_demo_zoo` fills a zoo with

- a dozen ``stream28`` white-box sources (EFT adapters on one shared base, trained on the source
  halves of MNIST / Fashion-MNIST / Animal-MNIST classes by :mod:`recycle.bench.zoo_builder`,
  cached), each registered with an RKME specification of its source data in the raw input space;
- real pre-trained models (``effnet_lite0.imagenet``, ``digitcnn.mnist``, ``digitcnn.usps``);
  ``digitcnn.mnist`` gets a spec of MNIST training digits.

:func:`run_demo` then takes a held-out stream28 target task (drawn after the sources, images
from the target halves only), draws ``shots`` labelled examples, and runs the whole flow: spec
search, selection, ``Recycler(strategy="auto")`` against the independent baseline, and writes
``results.json`` + ``report.html``. Both functions return plain data (no printing).

Examples
--------
>>> DemoConfig(quick=True).recipe().n_sources
8
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recycle.bench.results import Results, Row
from recycle.bench.runner import selected_names
from recycle.bench.stream28_tasks import (
    QUICK_POOL_CAP,
    QUICK_TARGETS,
    TEST_PER_CLASS,
    SourceTask,
    TargetTask,
    build_tasks,
)
from recycle.bench.zoo_builder import ZooRecipe, build_family, register_family
from recycle.errors import ConfigError, ModelNotFoundError
from recycle.progress import ProgressCallback

#: Real pre-trained sources of the demo zoo (ASSETS.md).
DEMO_BUILTINS = ("effnet_lite0.imagenet", "digitcnn.mnist", "digitcnn.usps")
#: Reduced points of the sources' RKME specs (METHODS.md: 50 for images).
SPEC_M = 50
#: MNIST training digits summarised in ``digitcnn.mnist``'s spec.
MNIST_SPEC_ROWS = 2000
#: Seconds auto's fit may take in the quick (test) variant.
QUICK_TIME_BUDGET = 30.0


@dataclass
class DemoConfig:
    """What the demo builds and runs.

    Parameters
    ----------
    quick : bool
        Tiny variant for tests: ``quick_sources`` stream28 sources (the quick protocol's zoo)
        and only ``digitcnn.mnist`` as a pre-trained model.
    n_sources : int
        stream28 source tasks in the zoo (the full demo: a dozen).
    shots : int
        Labelled target examples (stratified over the 5 classes).
    seed : int
        Seed of the target sample and of every fit.
    time_budget : float
        Seconds ``Recycler(strategy="auto")`` may spend on its fit.
    """

    quick: bool = False
    n_sources: int = 12
    quick_sources: int = 8  # the quick stream28 protocol's zoo: one cached build serves both
    shots: int = 25
    seed: int = 0
    time_budget: float = 90.0
    builtins: tuple[str, ...] = DEMO_BUILTINS
    cache_dir: str | None = None  # stream28 cache (default: $RECYCLE_CACHE/stream28)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError(f"The demo's seed must be >= 0; got {self.seed}.")
        if self.shots < 10:
            raise ConfigError(f"The demo needs at least 10 shots (2 per class); got {self.shots}.")

    def recipe(self) -> ZooRecipe:
        """How the demo zoo's stream28 sources are trained (and cached)."""
        # Both variants train with the quick recipe (150 images per class, 2 epochs): the demo
        # must build its zoo in a few minutes on a fresh 2-core machine.
        n = self.quick_sources if self.quick else self.n_sources
        return ZooRecipe(seed=0, n_sources=n, quick=True)

    def tasks(self) -> tuple[list[SourceTask], list[TargetTask]]:
        """The zoo's source tasks and the held-out target tasks (the quick stream28 draw)."""
        r = self.recipe()
        return build_tasks(
            r.seed, r.n_sources, QUICK_TARGETS, r.prefix, r.cap, QUICK_POOL_CAP, TEST_PER_CLASS
        )  # type: ignore[arg-type]

    def builtin_names(self) -> tuple[str, ...]:
        return ("digitcnn.mnist",) if self.quick else self.builtins


@dataclass
class DemoZooSummary:
    """What :func:`build_demo_zoo` did."""

    location: str
    registered: list[str] = field(default_factory=list)  # names added by this call
    present: list[str] = field(default_factory=list)  # names that were already there
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _has(zoo: Any, name: str) -> bool:
    try:
        zoo.get(name)
    except ModelNotFoundError:
        return False
    return True


def _specs(tasks: list[SourceTask], progress: ProgressCallback | None) -> list[Any]:
    from recycle.spec import build_spec

    specs = []
    for k, task in enumerate(tasks):
        specs.append(build_spec(task.X_train, m=SPEC_M, space="input", seed=task.index))
        if progress is not None:
            progress("specs", k + 1, len(tasks))
    return specs


def demo_zoo_names(config: DemoConfig | None = None) -> list[str]:
    """Names the demo zoo must hold (base, stream28 sources, builtins).

    Examples
    --------
    >>> [n.rsplit(".", 1)[-1] for n in demo_zoo_names(DemoConfig(quick=True))[:2]]
    ['base', 'task00']
    """
    recipe = (config or DemoConfig()).recipe()
    names = [f"{recipe.prefix}.base"] + [
        f"{recipe.prefix}.task{i:02d}" for i in range(recipe.n_sources)
    ]
    return names + list((config or DemoConfig()).builtin_names())


def build_demo_zoo(
    zoo: Any, config: DemoConfig | None = None, progress: ProgressCallback | None = None
) -> DemoZooSummary:
    """Train (or load from the cache) and register the demo zoo's sources into ``zoo``.

    Entries already present are left alone, so calling it again is cheap.

    Parameters
    ----------
    zoo : Zoo
    config : DemoConfig, optional
    progress : callable, optional
        ``progress(task, done, total)``.

    Returns
    -------
    DemoZooSummary
    """
    from recycle.sources import builtin
    from recycle.spec import build_spec
    from recycle.zoo.builtin_cards import builtin_card

    config = config or DemoConfig()
    start = time.perf_counter()
    summary = DemoZooSummary(location=str(getattr(zoo, "location", zoo)))
    recipe = config.recipe()
    tasks, _ = config.tasks()
    base, sources = build_family(
        lambda: tasks, recipe, recipe.cache_path(config.cache_dir), progress
    )
    family: list[Any] = [base, *sources]
    missing = [s for s in family if not _has(zoo, s.source_id)]
    specs = _specs(tasks, progress) if missing else None
    registered, present = register_family(
        zoo, base, sources, tasks, recipe.seed, specs=specs, progress=progress
    )
    summary.registered += registered
    summary.present += present
    names = config.builtin_names()
    for k, name in enumerate(names):
        if _has(zoo, name):
            summary.present.append(name)
        else:
            source = builtin(name)
            spec = None
            if name == "digitcnn.mnist":
                from recycle import datasets

                digits = datasets.load("mnist").X_train[:MNIST_SPEC_ROWS]
                spec = build_spec(digits, m=SPEC_M, space="input", seed=0)
            zoo.register(source, builtin_card(name, source), spec=spec, validate=False)
            summary.registered.append(name)
        if progress is not None:
            progress("register pre-trained models", k + 1, len(names))
    summary.seconds = round(time.perf_counter() - start, 2)
    return summary


def pick_target(sources: list[SourceTask], targets: list[TargetTask]) -> TargetTask:
    """The held-out target task sharing the most classes with one of the source tasks.

    Targets come after the sources in the stream and draw images only from the target halves, so
    no source (nor the shared base) saw any of its images.
    """
    seen = [set(t.class_ids) for t in sources]

    def overlap(task: TargetTask) -> tuple[int, int]:
        best = max(len(set(task.class_ids) & s) for s in seen)
        return best, -task.index

    return max(targets, key=overlap)


def _fit(zoo: Any, X: Any, y: Any, X_test: Any, y_test: Any, **params: Any) -> dict[str, Any]:
    from recycle.adapt import Recycler

    start = time.perf_counter()
    rec = Recycler(zoo, **params).fit(X, y)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(rec.predict(X_test) == y_test))
    return {"recycler": rec, "accuracy": accuracy, "fit_seconds": round(seconds, 2)}


def run_demo(
    zoo: Any,
    out: str | Path = "out/demo",
    config: DemoConfig | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Recycle a held-out few-shot stream28 target end to end; write the report under ``out``.

    Builds the demo zoo first when entries are missing. Returns a JSON-able dict with the
    target, the spec search hits, the selection ranking, the chosen strategy and m, accuracy
    and fit time of the recycled model and of the independent baseline, trainable parameters,
    and the paths written.

    Examples
    --------
    >>> DemoConfig(shots=3)
    Traceback (most recent call last):
    ...
    recycle.errors.ConfigError: The demo needs at least 10 shots (2 per class); got 3.
    """
    config = config or DemoConfig()
    start = time.perf_counter()
    zoo_summary = build_demo_zoo(zoo, config, progress)
    task = pick_target(*config.tasks())
    X, y = task.sample(config.shots, seed=config.seed)
    hits = zoo.search(X, top=5)
    recycled = _fit(
        zoo, X, y, task.X_test, task.y_test, strategy="auto", m="auto", seed=config.seed,
        time_budget=min(config.time_budget, QUICK_TIME_BUDGET) if config.quick
        else config.time_budget, progress=progress,
    )  # fmt: skip
    independent = _fit(
        None, X, y, task.X_test, task.y_test, strategy="independent", seed=config.seed
    )
    report = recycled["recycler"].report_
    result = {
        "target": {
            "name": task.name,
            "classes": list(task.classes),
            "shots": config.shots,
            "test_size": len(task.y_test),
        },
        "zoo": zoo_summary.to_dict(),
        "search": [h.to_dict() for h in hits],
        "ranking": report.get("ranking", []),
        "selected": selected_names(report),
        "strategy": report.get("strategy"),
        "m": report.get("m"),
        "guard": report.get("guard"),
        "cv": report.get("cv", {}),
        "recycled": _summary(recycled),
        "independent": _summary(independent),
        "gain": round(recycled["accuracy"] - independent["accuracy"], 4),
    }
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["files"] = write_demo_report(result, out, config)
    return result


def _summary(fit: dict[str, Any]) -> dict[str, Any]:
    report = fit["recycler"].report_
    return {
        "strategy": report.get("strategy"),
        "accuracy": round(fit["accuracy"], 4),
        "fit_seconds": fit["fit_seconds"],
        "trainable_params": int(report.get("trainable_params", 0)),
    }


def write_demo_report(
    result: dict[str, Any], out: str | Path, config: DemoConfig
) -> dict[str, str]:
    """Write ``results.json`` (DESIGN.md format, plus a ``demo`` block) and ``report.html``."""
    from recycle.bench.report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res = Results("demo", meta={"quick": config.quick, "seconds": result.get("seconds")})
    target = result["target"]
    for method in ("independent", "recycled"):
        r = result[method]
        extra: dict[str, Any] = {"strategy": r["strategy"]}
        if method == "recycled":
            extra["selected"] = result["selected"]
        res.add(
            Row(
                target["name"],
                "auto" if method == "recycled" else "independent",
                result["m"] if method == "recycled" else 0,
                target["shots"],
                r["accuracy"],
                r["fit_seconds"],
                r["trainable_params"],
                config.seed,
                extra,
            )
        )
    results_path = res.save(out / "results.json")
    data = json.loads(results_path.read_text())
    data["demo"] = {k: v for k, v in result.items() if k != "files"}
    results_path.write_text(json.dumps(data, indent=1, default=str))
    report_path = write_report(res, out / "report.html", extra_html=_demo_html(result))
    return {"results": str(results_path), "report": str(report_path)}


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table border=1 style='border-collapse:collapse'><tr>{th}</tr>{body}</table>"


def _demo_html(result: dict[str, Any]) -> str:
    t = result["target"]
    parts = [
        f"<h2>Target {html.escape(t['name'])}: {t['shots']} labelled images</h2>",
        f"<p>classes: {html.escape(', '.join(t['classes']))}; test images: {t['test_size']}</p>",
        "<h2>Statistical search (RKME, squared MMD; lower = closer)</h2>",
        _table(
            ["rank", "entry", "MMD²"],
            [[h["rank"], h["name"], f"{h['score']:.4f}"] for h in result["search"]],
        ),
        "<h2>Selection ranking (k-NN accuracy of each source's features)</h2>",
        _table(
            ["source", "score", "seconds"],
            [
                [r["name"], "–" if r["score"] is None else f"{r['score']:.3f}", r["seconds"]]
                for r in result["ranking"]
            ],
        ),
        f"<h2>Chosen: {html.escape(str(result['strategy']))} with m = {result['m']}</h2>",
        _table(
            ["method", "strategy", "accuracy", "fit s", "trainable params"],
            [
                [
                    k,
                    result[k]["strategy"],
                    f"{100 * result[k]['accuracy']:.1f}%",
                    result[k]["fit_seconds"],
                    f"{result[k]['trainable_params']:,}",
                ]
                for k in ("recycled", "independent")
            ],
        ),
    ]
    return "\n".join(parts)
