"""Deployment costs per model kind, and distillation on stream28 targets.

Part 1, per model kind (tabular: two skops sources on the breast-cancer table; text: the
MiniLM-L6 ONNX encoder on Rotten Tomatoes, exported as tokenizer JSON + graph; image:
EfficientNet-Lite0 + two digit CNNs on Fashion-MNIST; white-box: module mixing on the stream28
family): size (model folder / ONNX fp32 / ONNX int8), latency per row (recycle predict with a
cold feature cache vs onnxruntime fp32 vs int8, in batches of 64 rows) and accuracy of each.

Part 2, distillation on stream28 targets at 25 shots (seeds): the teacher is module mixing on
the selected family sources; the student (:func:`recycle.deploy.distill`) learns from the 25
labelled images, their augmented copies and the target's unlabelled pool. Accuracy and cost
(trainable parameters, latency per row) of both.

Writes ``benchmarks/results/deploy.json`` and ``docs/deploy.md`` (generated tables).

Usage::

    nice .venv/bin/python benchmarks/deploy.py            # 3 seeds, stream28 (quick zoo)
    nice .venv/bin/python benchmarks/deploy.py --quick    # 1 seed, 1 target, fewer rows
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recycle.adapt import Recycler
from recycle.deploy import distill
from recycle.deploy.report import deployment_costs
from recycle.deploy.text_export import REFERENCE_SNIPPET

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tabular zoo of the deploy tests

#: Unlabelled target-pool images the student may read (per target).
POOL = 1000
SHOTS = 25


def _kind_row(kind: str, rec: Any, X: Any, y: Any, tmp: Path) -> dict[str, Any]:
    rec.save(tmp / kind)
    costs = deployment_costs(rec, X, y, model_dir=tmp / kind)
    exp, lat, size = costs["export"], costs["latency"], costs["size"]
    return {
        "kind": kind,
        "strategy": rec.report_["strategy"],
        "m": rec.report_["m"],
        "n_test": len(y),
        "size_folder": size["folder"],
        "size_sources_in_zoo": size["sources_in_zoo"],
        "size_fp32": size["fp32"],
        "size_int8": size["int8"],
        "ms_recycle": lat["recycle"]["batch_ms_per_row"],
        "ms_fp32": lat["fp32"]["batch_ms_per_row"],
        "ms_int8": lat["int8"]["batch_ms_per_row"],
        "acc_recycle": costs["accuracy"],
        "acc_fp32": exp["fp32"]["accuracy"],
        "acc_int8": exp["int8"]["accuracy"],
        "agree_int8": exp["int8"]["agreement"],
    }


def model_kinds(quick: bool, tmp: Path) -> list[dict[str, Any]]:
    from deploy_helpers import tabular_zoo
    from recycle.bench.stream28 import Stream28
    from recycle.datasets import load
    from recycle.sources import builtin

    rows = []
    location, d = tabular_zoo(tmp / "tab")
    rec = Recycler(location, m=2, strategy="mcw").fit(d["X"], d["y"])
    rows.append(_kind_row("tabular (2 skops sources, MCW)", rec, d["X_test"], d["y_test"], tmp))
    text = load("rotten-tomatoes")
    rng = np.random.default_rng(0)
    tr = rng.permutation(len(text.y_train))[:200]
    te = rng.permutation(len(text.y_test))[: 100 if quick else 500]
    rec = Recycler([builtin("minilm_l6.onnx")], m=1, strategy="linear_probe")
    rec.fit([text.X_train[i] for i in tr], text.y_train[tr])
    kind = "text (MiniLM-L6 ONNX, linear probe; tokenizer JSON + graph)"
    rows.append(_kind_row(kind, rec, [text.X_test[i] for i in te], text.y_test[te], tmp))
    ds = load("fashion-mnist")
    rng = np.random.default_rng(0)
    tr = rng.permutation(len(ds.y_train))[:200]
    te = rng.permutation(len(ds.y_test))[: 100 if quick else 500]
    srcs = [builtin(n) for n in ("effnet_lite0.imagenet", "digitcnn.mnist", "digitcnn.usps")]
    rec = Recycler(srcs, m=3, strategy="mcw").fit(ds.X_train[tr], ds.y_train[tr])
    kind = "image (EfficientNet-Lite0 + 2 digit CNNs, MCW)"
    rows.append(_kind_row(kind, rec, ds.X_test[te], ds.y_test[te], tmp))
    s28 = Stream28(seed=0, quick=True)
    _, sources = s28.build_sources()
    target = s28.target_tasks[0]
    X, y = target.sample(SHOTS, seed=0)
    rec = Recycler(sources, m=3, strategy="module_mixing").fit(X, y)
    kind = "white-box (stream28 family, module mixing)"
    rows.append(_kind_row(kind, rec, target.X_test, target.y_test, tmp))
    return rows


def _ms_per_row(model: Any, X: np.ndarray) -> float:
    start = time.perf_counter()
    model.predict_proba(X)
    return 1e3 * (time.perf_counter() - start) / len(X)


def distillation(
    seeds: list[int], n_targets: int, on_row: Callable[[list[dict[str, Any]]], None]
) -> list[dict[str, Any]]:
    from recycle.bench.stream28 import Stream28

    s28 = Stream28(seed=0, quick=True)
    _, sources = s28.build_sources()
    rows = []
    for target in s28.target_tasks[:n_targets]:
        for seed in seeds:
            X, y = target.sample(SHOTS, seed=seed)
            pool = np.random.default_rng(seed).permutation(len(target.X_pool))[:POOL]
            teacher = Recycler(sources, m=3, strategy="module_mixing", seed=seed).fit(X, y)
            student = distill(teacher, X, y, X_unlabelled=target.X_pool[pool], seed=seed)
            Xt, yt = target.X_test, target.y_test
            rows.append({
                "target": target.name, "seed": seed, "shots": SHOTS,
                "teacher_acc": float(np.mean(teacher.predict(Xt) == yt)),
                "student_acc": float(np.mean(student.predict(Xt) == yt)),
                "teacher_ms": _ms_per_row(teacher, Xt), "student_ms": _ms_per_row(student, Xt),
                "teacher_sources": teacher.report_["m"],
                "teacher_params": teacher.report_["trainable_params"],
                "student_params": student.report_["trainable_params"],
            })  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
            on_row(rows)  # results so far are kept if the run is stopped
    return rows


#: The top of docs/deploy.md: how to run what ``recycle export`` writes (not measured).
USAGE = """# Deploying a recycled model

`recycle export DIR --out model.onnx [--quantize int8]` (or `rec.export("model.onnx")`) writes
a file that runs with `onnxruntime` alone: no recycle, no torch, no zoo. Its input `input` is
the float32 array an `.npz` `X` gives `recycle predict` (tabular `[N, d]` in the schema's
column order, images `[N, H, W]` or `[N, H, W, C]` as loaded, uint8 range or [0, 1]; the
preprocessing is inside the graph); its output `probabilities` is `[N, C]` in the order of the
metadata property `classes`. The property `recycle` names the sources (zoo entry, version,
sha256, weights licence and training-data licence), the strategy, the schema and the combined
licence (`licence`: the most restrictive of all weights and data terms, and which decide it).

```python
import json, numpy as np, onnxruntime as ort

sess = ort.InferenceSession("model.onnx")
classes = json.loads(sess.get_modelmeta().custom_metadata_map["classes"])
proba = sess.run(["probabilities"], {"input": np.load("new.npz")["X"].astype(np.float32)})[0]
labels = [classes[i] for i in proba.argmax(axis=1)]
```

**Text models** export in two parts, because tokenizing is string work no ONNX runtime does:
`model.onnx` (inputs `input_ids` and `attention_mask`, int64 `[N, T]`; the encoders, their mean
pooling and the head inside) and `model.tokenizer.json` beside it (the sources' tokenizer with
recycle's truncation and padding settings). Both run with `onnxruntime` and `tokenizers`:

```python
texts = ["a gripping, funny film", "dull and far too long"]
{snippet}```

Exportable text models: ONNX sentence encoders sharing one tokenizer (`minilm_l6.onnx`,
`paraphrase_minilm_l3.onnx`) under linear_probe, averaging, stacking or mcw; anything else
is refused with an error naming it.

**int8** (`--quantize int8`): weight-only int8 (one scale per 32 weights of an output channel;
activations stay float32). Conv kernels under 16,384 weights stay float32: quantizing
EfficientNet-Lite0 one layer at a time showed that the loss comes from the early blocks (block
1's 2,304-weight projection alone dropped agreement with fp32 to 96%), and keeping them float32
raised agreement on MNIST from 95.8% to 98.0% for 6% of the file. `--int8-method dynamic` is
onnxruntime's dynamic quantization (for MLP / transformer sources; far off on CNNs).
Weight-only int8 makes the file smaller, not faster: the graph turns the weights back into
float32 as it runs, so its latency is about that of fp32 (sometimes slower, see the table).
The text row's int8 file is the size of its fp32 one: the MiniLM source is already an int8
ONNX, so only the head is quantized.
`recycle report` measures what int8 costs on your held-out data.
""".replace("{snippet}", REFERENCE_SNIPPET)


def _mb(v: int | None) -> str:
    return "–" if v is None else f"{v / 1e6:.3f}"


def markdown(kinds: list[dict[str, Any]], dist: list[dict[str, Any]], note: str) -> str:
    lines = [
        USAGE,
        "## Benchmark (generated by `benchmarks/deploy.py`)",
        "",
        note,
        "",
        "### Size, latency and accuracy per model kind",
        "",
        "Latency: milliseconds per row over all test rows (onnxruntime in batches of 64 rows, "
        "recycle in its own batches), one torch/ORT thread; "
        "recycle predict runs with an empty feature cache. Sizes in MB; the model folder needs "
        "its sources from the zoo besides (the ONNX files need nothing else).",
        "",
        "| kind | test rows | folder | fp32 | int8 | ms recycle | ms fp32 | ms int8 | "
        "acc recycle | acc fp32 | acc int8 | int8 agrees |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in kinds:
        lines.append(
            f"| {r['kind']} | {r['n_test']} | {_mb(r['size_folder'])} | {_mb(r['size_fp32'])} "
            f"| {_mb(r['size_int8'])} | {r['ms_recycle']:.3f} | {r['ms_fp32']:.3f} | "
            f"{r['ms_int8']:.3f} | {r['acc_recycle']:.3f} | {r['acc_fp32']:.3f} | "
            f"{r['acc_int8']:.3f} | {r['agree_int8']:.3f} |"
        )
    lines += [
        "",
        f"### Distillation on stream28 targets, {SHOTS} shots",
        "",
        "Teacher: module mixing on 3 family sources; student: the target's own LeNet-5-like "
        f"network taught from the {SHOTS} labelled images, 4 augmented copies of them and "
        f"{POOL} unlabelled pool images labelled by the teacher. Mean ± std over seeds.",
        "",
        "| target | seeds | teacher acc | student acc | teacher ms/row | student ms/row | "
        "teacher trainable params* | student params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["target"] for r in dist):
        rs = [r for r in dist if r["target"] == name]

        def ms(key: str, rs: list[dict[str, Any]] = rs) -> str:
            values = [r[key] for r in rs]
            return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

        lines.append(
            f"| {name} | {len(rs)} | {ms('teacher_acc')} | {ms('student_acc')} | "
            f"{np.mean([r['teacher_ms'] for r in rs]):.2f} | "
            f"{np.mean([r['student_ms'] for r in rs]):.2f} | "
            f"{int(np.mean([r['teacher_params'] for r in rs]))} | "
            f"{int(np.mean([r['student_params'] for r in rs]))} |"
        )
    lines += [
        "",
        "\\* the teacher's count leaves out what it runs but does not train: the frozen base "
        "and source adapters (one base pass per source plus one for the mixed network); the "
        "student runs its parameters only, once.",
    ]
    return "\n".join(lines) + "\n"


def readme_block(kinds: list[dict[str, Any]], dist: list[dict[str, Any]]) -> str:
    """The short table between the README's ``deploy`` markers."""
    lines = [
        "| model kind | MB fp32 / int8 | ms per row: recycle / ONNX fp32 / int8 | accuracy "
        "recycle / int8 |",
        "|---|---|---|---|",
    ]
    for r in kinds:
        lines.append(
            f"| {r['kind'].split(' (')[0]} | {_mb(r['size_fp32'])} / {_mb(r['size_int8'])} | "
            f"{r['ms_recycle']:.3g} / {r['ms_fp32']:.3g} / {r['ms_int8']:.3g} | "
            f"{r['acc_recycle']:.3f} / {r['acc_int8']:.3f} |"
        )
    if dist:
        n_targets = len({r["target"] for r in dist})
        seeds = len({r["seed"] for r in dist})

        def ms(key: str) -> str:
            return f"{np.mean([r[key] for r in dist]):.3f} ± {np.std([r[key] for r in dist]):.3f}"

        lines += [
            "",
            f"Distillation (stream28, {SHOTS} shots, {n_targets} targets x {seeds} seeds): "
            f"teacher accuracy {ms('teacher_acc')}, student {ms('student_acc')} (mean ± std "
            f"over the {len(dist)} runs); "
            f"{np.mean([r['teacher_ms'] for r in dist]):.1f} vs "
            f"{np.mean([r['student_ms'] for r in dist]):.2f} ms per row.",
        ]
    return "\n".join(lines)


def update_readme(block: str) -> None:
    """Replace what lies between the README's ``deploy`` markers with ``block``."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- deploy:start -->\n", "<!-- deploy:end -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    readme.write_text(f"{head}{start}{block}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 target, fewer rows")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--targets", type=int, default=3, help="stream28 (quick) targets")
    parser.add_argument("--render", action="store_true", help="only rewrite docs/deploy.md")
    args = parser.parse_args()
    results = ROOT / "benchmarks/results/deploy.json"
    if args.render:
        out = json.loads(results.read_text())
        note = _note(out["quick"], len({r["target"] for r in out["distillation"]}), out["seeds"])
        (ROOT / "docs/deploy.md").write_text(markdown(out["kinds"], out["distillation"], note))
        update_readme(readme_block(out["kinds"], out["distillation"]))
        return
    torch.set_num_threads(1)
    seeds = [0] if args.quick else list(range(args.seeds))
    n_targets = 1 if args.quick else args.targets
    with tempfile.TemporaryDirectory() as tmp:
        kinds = model_kinds(args.quick, Path(tmp))

    def save(dist: list[dict[str, Any]]) -> None:
        out = {"quick": args.quick, "seeds": seeds, "kinds": kinds, "distillation": dist}
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(out, indent=2))
        note = _note(args.quick, n_targets, seeds)
        (ROOT / "docs/deploy.md").write_text(markdown(kinds, dist, note))
        update_readme(readme_block(kinds, dist))

    save([])
    distillation(seeds, n_targets, save)


def _note(quick: bool, n_targets: int, seeds: list[int]) -> str:
    return (
        f"Run: {'--quick' if quick else 'full'}; stream28 quick zoo (8 sources), "
        f"{n_targets} target(s), seeds {seeds}; one CPU thread; a shared, busy 2-core machine "
        "(latencies vary with its load)."
    )


if __name__ == "__main__":
    main()
