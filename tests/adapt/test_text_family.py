"""The text LoRA family on the real all-MiniLM-L6-v2: library build, zoo round trip, checks.

The quick library (3 source tasks, tiny subsets) is built once per session through the CLI
(``recycle zoo build-demo --modality text --quick``: the ``library`` fixture of
``tests/text_library_helpers.py``).
"""

from __future__ import annotations

import copy
import json
import pickle
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load

from recycle import datasets
from recycle.adapt import Recycler
from recycle.adapt.family.source import (
    FamilyBaseSource,
    FamilySource,
    deserialize_family,
    serialize_family,
)
from recycle.bench.text_library import HELD_OUT, QUICK_TASKS, SOURCE_TASKS, TARGETS
from recycle.errors import IntegrityError, ValidationError
from recycle.zoo import Zoo
from recycle.zoo.checker import static_check


def _rt_shots(per_class: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    rt = datasets.load("rotten-tomatoes")
    y = np.asarray(rt.y_train)
    rng = np.random.default_rng(seed)
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in (0, 1)]
    )
    return [rt.X_train[i] for i in idx], y[idx], list(rt.X_test[:60]), np.asarray(rt.y_test[:60])


def test_task_lists_keep_targets_unseen() -> None:
    assert len(SOURCE_TASKS) >= 30 and len({t.name for t in SOURCE_TASKS}) == len(SOURCE_TASKS)
    for corpus, held in HELD_OUT.items():
        seen = {c for t in SOURCE_TASKS if t.corpus == corpus for c in t.classes}
        assert not seen & set(held), (corpus, seen & set(held))
    assert not any(t.corpus == "rotten-tomatoes" for t in SOURCE_TASKS)
    assert TARGETS[0].classes == ("fresh", "rotten")


def test_text_fewshot_targets_share_no_text_with_the_lora_sources() -> None:
    """#22: text_fewshot's fortunes target was politics/science, which the library's sources
    train on (177 of its 500 test quotes were source training texts), and the review-vs-plot
    source read reviews of the Rotten Tomatoes target's half. No text that a target's rows read
    (labelled shots of every seed and shots count, test texts) is a source's training text."""
    from recycle.bench.text_fewshot import SHOTS_PER_CLASS, fewshot_targets
    from recycle.bench.text_library import HELD_OUT_PER_CLASS, TextLibraryRecipe, task_data

    recipe = TextLibraryRecipe()
    trained: set[str] = set()
    for k, task in enumerate(recipe.tasks):
        texts, *_ = task_data(task, recipe.per_class, recipe.seed + k, HELD_OUT_PER_CLASS)
        trained |= {" ".join(t.split()) for t in texts}
    read: dict[str, set[str]] = {}
    for t in fewshot_targets(SHOTS_PER_CLASS, 3):
        read.setdefault(t.name, set()).update(" ".join(x.split()) for x in [*t.X_train, *t.X_test])
    assert len(read) == 2 and all(len(texts) > 250 for texts in read.values())
    assert {name: len(texts & trained) for name, texts in read.items()} == dict.fromkeys(read, 0)


def test_quick_library_is_registered_with_specs_and_cached(library: dict[str, Any]) -> None:
    assert library["code"] == 0
    summary = library["summary"]
    prefix = summary["prefix"]
    names = [f"{prefix}.base"] + [f"{prefix}.{t.name}" for t in QUICK_TASKS]
    assert summary["registered"] == names
    assert summary["trained"] == names[1:]
    code, again = library["again"]
    assert code == 0 and again["registered"] == [] and again["trained"] == []
    assert again["present"] == names
    code, said = library["said"]
    head = f"Text LoRA library at {summary['location']} ({prefix}): 0 registered, "
    assert code == 0 and said.startswith(head), said
    assert re.fullmatch(
        rf".*: 0 registered, {len(names)} already there, 0 trained \(\d+ s\)\.", said
    )
    zoo = Zoo.open(library["zoo"])
    entries = {e.name: e for e in zoo.list()}
    assert set(entries) == set(names)
    for name in names[1:]:
        e = entries[name]
        assert e.card.modality == "text" and e.card.access == "white-box"
        assert e.spec_space == "minilm_l6.onnx:384"
        assert e.parents == [entries[names[0]].id]
        assert e.size_bytes < 200_000  # the adapter + head only; the base is stored once
    assert entries[names[0]].size_bytes > 80_000_000
    # each source learned its own task: held-out texts of that task, well above chance
    acc = summary["held_out_accuracy"]
    # rt-plot: above chance (1 epoch on 24 reviews per class, 20 held-out texts: 0.6 since its
    # reviews come from the source half, 0.7 before; the full library's 0.87 on 100, was 0.77)
    assert acc["chatterbot.ai-coding"] > 0.7 and acc["rt-plot.plot-review"] > 0.5


def test_lora_source_round_trips_through_the_zoo_and_peft(library: dict[str, Any]) -> None:
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    zoo = Zoo.open(library["zoo"])
    name = f"{library['summary']['prefix']}.{QUICK_TASKS[1].name}"
    src = zoo.load(name)
    assert isinstance(src, FamilySource) and src.modality == "text"
    texts = ["How do I write a python function?", "Are you a robot?", "I love this film."]
    cached = library["root"] / "cache" / "textlora"
    folder = next(p for p in cached.iterdir() if p.is_dir())
    cfg = json.loads((folder / f"{name}.json").read_text())
    files = {k: folder / f"{name}.{k}" for k in ("adapter_model.safetensors", "head.safetensors")}
    base = zoo.load(f"{library['summary']['prefix']}.base")
    again = deserialize_family(cfg, files, {cfg["parents"][0]: base})
    np.testing.assert_array_equal(src.embed(texts), again.embed(texts))
    np.testing.assert_array_equal(src.predict_proba(texts), again.predict_proba(texts))
    # the adapter is a real peft LoRA: loaded into peft's model it gives the same features
    bert = get_peft_model(copy.deepcopy(base.base.bert), LoraConfig(**cfg["peft_config"]))
    result = set_peft_model_state_dict(
        bert, st_load(files["adapter_model.safetensors"].read_bytes())
    )
    assert not result.unexpected_keys
    x = base.base.encode(texts)
    with torch.no_grad():
        h = bert.eval()(input_ids=x[:, 0], attention_mask=x[:, 1]).last_hidden_state
    mask = x[:, 1].unsqueeze(-1).float()
    pooled = ((h * mask).sum(1) / mask.sum(1)).numpy()
    np.testing.assert_allclose(pooled, src.embed(texts), atol=1e-5)
    assert np.abs(src.embed(texts) - base.embed(texts)).max() > 1e-3  # the adapter does act


def _config_and_files(library: dict[str, Any]) -> tuple[dict, dict, FamilyBaseSource]:
    zoo = Zoo.open(library["zoo"])
    prefix = library["summary"]["prefix"]
    src = zoo.load(f"{prefix}.{QUICK_TASKS[0].name}")
    base = zoo.load(f"{prefix}.base")
    src.base_id = "base-id"
    cfg, files = serialize_family(src)
    return cfg, files, base


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["peft_config"].update(exec="import os"), r"unknown key\(s\) \['exec'\]"),
        (lambda c: c["peft_config"].update(use_dora=True), "use_dora=True"),
        (lambda c: c["peft_config"].update(target_modules=["query", "key"]), "targets"),
        (lambda c: c["peft_config"].update(r="4"), "r='4'"),
        (
            lambda c: c["peft_config"].update(r=8),
            r"is float32\[4, 384\]; expected float32\[8, 384\]",
        ),
        (lambda c: c.update(source_classes=["a", "b", "c"]), "head.safetensors"),
    ],
    ids=["unknown-key", "dora", "targets", "rank-type", "rank-mismatch", "classes"],
)
def test_bad_peft_config_is_refused(library: dict[str, Any], change: Any, message: str) -> None:
    cfg, files, base = _config_and_files(library)
    change(cfg)
    with pytest.raises(ValidationError, match=message):
        deserialize_family(cfg, files, {"base-id": base})


def test_foreign_tensor_in_adapter_file_is_refused(library: dict[str, Any]) -> None:
    from safetensors.torch import save as st_save

    cfg, files, base = _config_and_files(library)
    tensors = st_load(files["adapter_model.safetensors"])
    tensors["base_model.model.embeddings.word_embeddings.weight"] = torch.zeros(4, 384)
    files["adapter_model.safetensors"] = st_save(tensors)
    with pytest.raises(ValidationError, match="not a LoRA weight"):
        deserialize_family(cfg, files, {"base-id": base})


def test_tampered_adapter_blob_is_refused(library: dict[str, Any], tmp_path: Path) -> None:
    copied = tmp_path / "zoo"
    shutil.copytree(library["zoo"], copied)
    zoo = Zoo.open(str(copied))
    name = f"{library['summary']['prefix']}.{QUICK_TASKS[0].name}"
    entry = zoo.get(name)
    manifest = json.loads(zoo.store.read(entry.artifact_sha256))
    sha = manifest["files"]["adapter_model.safetensors"]["sha256"]
    blob = zoo.store.local_path(sha)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # flip one weight byte
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="corrupted"):
        Zoo.open(str(copied)).load(name)


def test_safetensors_header_starting_like_a_pickle_is_accepted() -> None:
    # an 8-byte header length of 640 = 0x0280 starts with the bytes of pickle's PROTO 2 opcode
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    header += b" " * (640 - len(header))
    data = (640).to_bytes(8, "little") + header + b"\x00\x00\x80\x3f"
    assert data[:2] == b"\x80\x02"
    static_check({"format": "family"}, {"head.safetensors": data})
    assert float(st_load(data)["w"][0]) == 1.0
    with pytest.raises(Exception, match="pickle"):
        static_check({"format": "family"}, {"head.safetensors": pickle.dumps([1])})


@pytest.mark.parametrize("strategy", ["module_mixing", "lorahub"])
def test_recycled_text_model_saves_and_loads(
    library: dict[str, Any], tmp_path: Path, strategy: str
) -> None:
    X, y, X_test, _ = _rt_shots(8)
    params = {"module_mixing": {"max_epochs": 2}, "lorahub": {"max_evals": 4}}[strategy]
    zoo = Zoo.open(library["zoo"])
    rec = Recycler(zoo, m=2, strategy=strategy, strategy_params={strategy: params}).fit(X, y)
    used = [s.source_id for s in rec.strategy_.sources]
    assert len(used) == 2 and not any(".base@" in u for u in used)  # adapters, not the base
    before = rec.predict_proba(X_test)
    rec.save(tmp_path / "model")
    back = Recycler.load(tmp_path / "model", zoo=Zoo.open(library["zoo"]))
    np.testing.assert_allclose(back.predict_proba(X_test), before, atol=1e-6)
    if strategy == "lorahub":
        assert rec.strategy_.weights_.shape == (2,) and rec.strategy_.n_evals_ >= 4


def test_module_mixing_without_new_adapter_trains_only_the_mix() -> None:
    from recycle.adapt.family import FamilyBase, FamilyConfig
    from recycle.adapt.strategies import ModuleMixing

    base = FamilyBase(FamilyConfig(channels=(4, 8)))
    srcs = [FamilySource.fresh(base, ["a", "b"], name=f"d.s{i}") for i in range(2)]
    X = np.random.default_rng(0).integers(0, 255, (20, 28, 28), dtype=np.uint8)
    y = np.arange(20) % 2
    fit = {}
    for new in (True, False):
        mm = ModuleMixing(srcs, lambda_new=0.5, max_epochs=2, new_adapter=new).fit(X, y)
        config, tensors = mm.to_state()
        back = ModuleMixing.from_state(config, tensors, srcs)
        np.testing.assert_array_equal(back.predict_proba(X), mm.predict_proba(X))
        fit[new] = mm
    assert fit[True].mixing_weights_.shape == (3, 3)  # 3 sites x (2 sources + new)
    assert fit[False].mixing_weights_.shape == (3, 2)  # 3 sites x 2 sources
    assert not any(".new." in f".{k}" for k in fit[False].to_state()[1])
    head_and_mix = 2 * 128 + 2 + 3 * 2 + 3
    assert fit[False].trainable_params_ == head_and_mix < fit[True].trainable_params_


def _ablation_bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    """benchmarks/lora_ablation.py as a module (registered for its dataclasses)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "lora_ablation.py"
    spec = importlib.util.spec_from_file_location("lora_ablation", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "lora_ablation", bench)  # dataclasses look it up
    spec.loader.exec_module(bench)
    return bench


def test_lora_ablation_quick_run(
    library: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _ablation_bench(monkeypatch)
    monkeypatch.setenv("RECYCLE_CACHE", str(library["root"] / "cache"))
    rows = bench.run(Zoo.open(library["zoo"]), bench.Config.tiny(), progress=False)
    by = {r["variant"]: r for r in rows}
    assert sorted(by) == sorted(bench.VARIANTS) and all(r["m"] == 2 for r in rows)
    adapters = {f"{library['summary']['prefix']}.{t.name}" for t in QUICK_TASKS}
    assert all(set(r["sources"]) <= adapters and len(r["sources"]) == 2 for r in rows)
    assert by["knn-new"]["trainable_params"] < by["knn+new"]["trainable_params"]
    assert {(r["target"], r["test_texts"]) for r in rows} == {("fortunes_food_sports", 40)}
    table = bench.render(rows, {})
    assert sum(line.startswith("| 2 | ") for line in table.splitlines()) == 3
    assert "4/class" in table and "(n=1)" in table  # one seed of three, said per cell
    assert sum("m=2: " in line for line in bench.contrasts(rows)) == 2


def test_lora_ablation_resumed_run_keeps_the_saved_run_notes(
    library: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#22 (i22-rows7): the checkpoint written after every fit held the run's own config, so a
    resumed run without ``--note`` dropped the page's run notes from the JSON (as
    text_fewshot.py did before 7cdd489). Now the stored notes stay; the stored rows are kept."""
    bench = _ablation_bench(monkeypatch)
    monkeypatch.setenv("RECYCLE_CACHE", str(library["root"] / "cache"))
    stored = [{"target": "fortunes_food_sports", "variant": v, "m": 2, "shots": 4, "seed": 0,
               "accuracy": 0.5} for v in ("knn+new", "random+new")]  # fmt: skip
    checkpoint = tmp_path / "ablation.json"
    notes = ["Run 1: seed 0 only."]
    config = {"seeds": [0], "notes": notes}
    checkpoint.write_text(json.dumps({"protocol": "lora_ablation", "config": config,
                                      "rows": stored}))  # fmt: skip
    rows = bench.run(Zoo.open(library["zoo"]), bench.Config.tiny(), False, checkpoint)
    saved = json.loads(checkpoint.read_text())
    assert [r["variant"] for r in rows] == ["knn+new", "random+new", "knn-new"]
    assert saved["rows"][:2] == stored and saved["rows"][2]["variant"] == "knn-new"
    assert saved["config"]["notes"] == notes


def test_auto_on_the_lora_library_cross_validates_the_white_box_strategies(
    library: dict[str, Any],
) -> None:
    """Reproduces #22: the library's base entry (no head) was selected with the adapters, so
    auto found "not family sources" and skipped every white-box strategy; now it skips the base
    entry, scores module mixing on the adapters and fits its choice on adapters only."""
    X, y, _, _ = _rt_shots(8)
    rec = Recycler(
        Zoo.open(library["zoo"]), strategy="auto", m=2, strategies=["mcw"], seed=0,
        time_budget=1e9, strategy_params={"module_mixing": {"max_epochs": 1}},
    ).fit(X, y)  # fmt: skip
    cv = rec.report_["cv"]
    # one repeat of the 3-fold on a text LoRA library (recycle.adapt.auto.fidelity)
    assert len(cv["module_mixing@m=2"]["per_fold"]) == 3, cv["module_mixing@m=2"]
    assert not any("white-box" in n for n in rec.report_.get("notes", []))
    assert not any(".base@" in s.source_id for s in rec.strategy_.sources)


def test_auto_on_the_lora_library_scores_the_lora_strategies_at_low_fidelity(
    library: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """#22: on the text LoRA library auto also cross-validates lorahub and finetune_source
    beside module mixing, and SetFit as a no-source reference, each at low fidelity (3 epochs,
    12 LoraHub evaluations, SetFit's contrastive stage bounded at 30 s, one repeat of the
    3-fold), and refits its choice with the user's settings (full fidelity). Before, auto left
    SetFit out of its cross-validation on this path (only named it in a warning)."""
    from recycle.adapt import recycler as recycler_module
    from recycle.adapt.auto import cv as cv_module
    from recycle.adapt.auto import fidelity
    from recycle.adapt.auto import pool as pool_module
    from recycle.adapt.auto.fidelity import LORA_BUDGET, SETFIT_CV_SECONDS

    # auto races at >= 64 texts per class (below it keeps SetFit: the next test); 8 is quicker
    monkeypatch.setattr(fidelity, "SETFIT_CV_RELIABLE_PER_CLASS", 8)

    built: dict[str, list[Any]] = {"cv": [], "refit": []}

    def spy(kind: str, real: Any) -> Any:
        def wrapper(name: str, *args: Any, **kwargs: Any) -> Any:
            est = real(name, *args, **kwargs)
            built[kind].append((name, est))
            return est

        return wrapper

    monkeypatch.setattr(cv_module, "build", spy("cv", cv_module.build))
    monkeypatch.setattr(recycler_module, "build", spy("refit", recycler_module.build))
    X, y, _, _ = _rt_shots(8)
    params = {"setfit": {"num_iterations": 1}}  # a few contrastive steps: a quick test
    rec = Recycler(
        Zoo.open(library["zoo"]), m=2, seed=0, time_budget=1e9, strategy_params=params
    ).fit(X, y)
    cv = rec.report_["cv"]
    lora = {"module_mixing@m=2", "lorahub@m=2", "finetune_source@m=2"}
    assert lora <= set(cv), sorted(cv)
    assert cv["setfit"]["mean"] is not None, cv.get("setfit")  # scored, as a reference
    assert set(rec.report_["guard"]["references"]) == {"tfidf_logreg", "minilm_logreg", "setfit"}
    guard = rec.report_["guard"]  # SetFit is the reference unless another beats it
    assert guard["reference"] == "setfit" or guard["default_reference"] == "setfit", guard
    assert {len(row["per_fold"]) for row in cv.values()} == {3}  # one repeat, same folds
    scored = {name: est for name, est in built["cv"]}
    assert scored["module_mixing"].max_epochs == scored["finetune_source"].max_epochs == 3
    assert scored["lorahub"].max_evals == 12 and scored["lorahub"].n_evals_ <= 12
    assert scored["setfit"].max_seconds == SETFIT_CV_SECONDS
    assert scored["setfit"].num_iterations == 1  # the user's setting kept
    (name, final), *_ = built["refit"]
    if name in ("module_mixing", "finetune_source"):  # the choice is refitted at full fidelity
        assert final.max_epochs == 30
    elif name == "lorahub":
        assert final.max_evals == 40
    elif name == "setfit":
        assert final.max_seconds == 120.0
    # a selection of the library's base entry alone still offers the LoRA strategies
    zoo = Zoo.open(library["zoo"])
    prefix = library["summary"]["prefix"]
    base = [zoo.load(f"{prefix}.base")]
    adapters = [zoo.load(f"{prefix}.{t.name}") for t in QUICK_TASKS]
    alone = pool_module.auto_pool(None, base, "text", [*base, *adapters])
    assert {"module_mixing", "lorahub", "finetune_source"} <= set(alone.names), alone.notes
    assert (alone.repeats, alone.budget_s) == (1, LORA_BUDGET)
    # restricted strategies without setfit: not scored, and report_ says so
    mine = pool_module.auto_pool(["mcw"], adapters[:1], "text", [*base, *adapters])
    assert "setfit" not in mine.references and any("setfit" in n for n in mine.notes)


def test_auto_on_the_lora_library_keeps_setfit_without_a_race_below_64_texts_per_class(
    library: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """#22: below 64 texts per class auto's 3-fold CV cannot rank SetFit (research/setfit-cv.md)
    and SetFit beat auto's cross-validated choice on held-out targets (research/setfit-dev.md):
    auto now fits SetFit, its default reference, without cross-validating anything, and says
    why in report_; at 64 per class it races as before."""
    from recycle.adapt.auto import cv as cv_module
    from recycle.adapt.auto import pool as pool_module

    scored: list[str] = []
    real_build = cv_module.build

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        scored.append(name)
        return real_build(name, *args, **kwargs)

    monkeypatch.setattr(cv_module, "build", counting)
    X, y, X_test, _ = _rt_shots(8)
    zoo = Zoo.open(library["zoo"])
    params = {"setfit": {"num_iterations": 1}}  # a few contrastive steps: a quick test
    rec = Recycler(zoo, m=2, seed=0, strategy_params=params).fit(X, y)
    assert rec.report_["strategy"] == "setfit" and rec.report_["m"] == 0
    assert scored == [] and rec.report_["cv"] == {} and rec.report_["guard"] is None
    said = [w for w in rec.report_["warnings"] if "kept setfit without cross-validating" in w]
    assert said and "8 labelled texts in the smallest class" in said[0], rec.report_["warnings"]
    alone = Recycler(zoo, strategy="setfit", m=2, seed=0, strategy_params=params).fit(X, y)
    np.testing.assert_allclose(rec.predict_proba(X_test), alone.predict_proba(X_test), atol=1e-6)
    # (without 'setfit' in strategies auto races as before: the first test above)
    # the pool decides by the smallest class: 64 per class races
    prefix = library["summary"]["prefix"]
    adapters = [zoo.load(f"{prefix}.{t.name}") for t in QUICK_TASKS]
    at = {n: pool_module.auto_pool(None, adapters[:1], "text", adapters, y=[0] * n + [1] * 64)
          for n in (63, 64)}  # fmt: skip
    assert (at[63].keep, at[64].keep) == ("setfit", None)
    assert "setfit" in at[64].references and at[64].default_reference == "setfit"


def test_auto_on_the_lora_library_mixes_three_adapters_when_the_selection_takes_one(
    library: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """#22: the LoRA candidates ran at the selection's m, which on the text library was 1 in
    13 of 16 fits (mixing one unrelated adapter); with >= 3 adapters ranked the mixing ones
    now run at m = 3, and at the user's m when it is fixed."""
    from recycle.adapt.auto import choose, plan
    from recycle.adapt.auto import pool as pool_module

    zoo = Zoo.open(library["zoo"])
    prefix = library["summary"]["prefix"]
    base = zoo.load(f"{prefix}.base")
    adapters = [zoo.load(f"{prefix}.{t.name}") for t in QUICK_TASKS]
    pool = pool_module.auto_pool(None, adapters[:1], "text", [base, *adapters])
    assert pool.m_for == {"module_mixing": 3, "lorahub": 3}  # finetune_source: the top one
    assert pool.default_reference == "setfit" and "setfit" in pool.references
    cost = {n: 50.0 for n in pool.names}
    planned = plan(pool.names, 1, [1, 3], cost, pool.references, ("setfit",), pool.m_for)
    assert {("lorahub", 3), ("module_mixing", 3), ("finetune_source", 1)} <= set(planned)
    assert ("setfit", 0) in planned and ("lorahub", 1) not in planned
    # choose() passes m_for to the plan, except when the user fixed m
    from recycle.adapt.auto import CVResult

    choose_module = sys.modules["recycle.adapt.auto.choose"]  # the module, not the function

    seen: list[list[tuple[str, int]]] = []

    def scored(candidates: list[tuple[str, int]], *args: Any, **kwargs: Any) -> list[Any]:
        seen.append(list(candidates))
        return [CVResult(n, m, [0.5, 0.5, 0.5], [0.7, 0.7, 0.7]) for n, m in candidates]

    monkeypatch.setattr(choose_module, "cross_validate", scored)
    X, y, _, _ = _rt_shots(4)
    ranked = [base, *adapters]
    for fixed in (False, True):
        choose(
            ["lorahub"], X, y, ranked, {}, m_selected=1, m_fixed=fixed,
            references=("tfidf_logreg",), m_for=pool.m_for,
        )  # fmt: skip
    assert seen == [[("tfidf_logreg", 0), ("lorahub", 3)], [("tfidf_logreg", 0), ("lorahub", 1)]]
