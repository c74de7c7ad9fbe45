"""IA3 adapters in the text family: a tiny IA3 library on the real all-MiniLM-L6-v2.

Two IA3 sources (and one LoRA source, for the mixed-kind check) are trained for one epoch on 12
texts per class of two ChatterBot topic pairs; every test reads them through the zoo or the
family's serializer, as a user's library would be read.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from recycle.adapt import Recycler
from recycle.adapt.family.ia3_config import IA3Spec
from recycle.adapt.family.lora_config import LoraSpec
from recycle.adapt.family.source import (
    FamilyBaseSource,
    FamilySource,
    check_same_base,
    deserialize_family,
    serialize_family,
    whitebox_problem,
)
from recycle.adapt.family.text import minilm_base
from recycle.adapt.family.train import train_source
from recycle.bench.text_library import TextTask, task_data, text_card
from recycle.errors import IncompatibleError, ValidationError
from recycle.zoo import Zoo

TASKS = (TextTask("chatterbot", ("ai", "coding")), TextTask("chatterbot", ("humor", "science")))
TEXTS = ["How do I write a python function?", "Are you a robot?", "Tell me a joke."]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny library registered in a fresh zoo: base, two IA3 sources, one LoRA source."""
    base = minilm_base()
    base_src = FamilyBaseSource(base, "tinyia3.base")
    zoo = Zoo.open(tmp_path_factory.mktemp("ia3") / "zoo")
    base_entry = zoo.register_files(*serialize_family(base_src), text_card(base_src, None, 0))
    kinds = [
        ("ia3", IA3Spec(), TASKS[0]),
        ("ia3", IA3Spec(), TASKS[1]),
        ("lora", LoraSpec(), TASKS[0]),
    ]
    names = []
    for k, (kind, spec, task) in enumerate(kinds):
        texts, y, _, _ = task_data(task, 12, seed=k)
        src = train_source(
            base, texts, y, list(task.classes), adapter_config=spec, name=f"tinyia3.{kind}{k}",
            epochs=1, batch_size=8, lr=1e-2, seed=k, base_id=base_entry.id,
        )  # fmt: skip
        zoo.register_files(*serialize_family(src), text_card(src, task, len(texts)))
        names.append(src.source_id)
    return {"zoo": zoo, "base": f"{base_src.source_id}", "ia3": names[:2], "lora": names[2]}


def test_ia3_source_round_trips_through_the_zoo_and_peft(tiny: dict[str, Any]) -> None:
    from peft import IA3Config, get_peft_model, set_peft_model_state_dict

    zoo = tiny["zoo"]
    src = zoo.load(tiny["ia3"][0])
    base = zoo.load(tiny["base"])
    assert isinstance(src, FamilySource) and isinstance(src.adapter_config, IA3Spec)
    cfg, files = serialize_family(src)
    assert cfg["peft_config"]["peft_type"] == "IA3"
    tensors = st_load(files["adapter_model.safetensors"])
    assert len(tensors) == 12 and all(t.shape == (384, 1) for t in tensors.values())
    again = deserialize_family(cfg, files, {cfg["parents"][0]: base})
    np.testing.assert_array_equal(src.embed(TEXTS), again.embed(TEXTS))
    # the adapter is a real peft IA3: loaded into peft's model it gives the same features
    bert = get_peft_model(copy.deepcopy(base.base.bert), IA3Config(**cfg["peft_config"]))
    result = set_peft_model_state_dict(bert, tensors)
    assert not result.unexpected_keys
    x = base.base.encode(TEXTS)
    with torch.no_grad():
        h = bert.eval()(input_ids=x[:, 0], attention_mask=x[:, 1]).last_hidden_state
    mask = x[:, 1].unsqueeze(-1).float()
    pooled = ((h * mask).sum(1) / mask.sum(1)).numpy()
    np.testing.assert_allclose(pooled, src.embed(TEXTS), atol=1e-5)
    assert np.abs(src.embed(TEXTS) - base.embed(TEXTS)).max() > 1e-4  # the adapter does act


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["peft_config"].update(exec="import os"), r"unknown key\(s\) \['exec'\]"),
        (lambda c: c["peft_config"].update(init_ia3_weights=False), "init_ia3_weights=False"),
        (lambda c: c["peft_config"].update(feedforward_modules=["value"]), "feedforward"),
        (lambda c: c["peft_config"].update(target_modules=["query", "key"]), "targets"),
        (lambda c: c["peft_config"].update(peft_type="ADALORA"), "peft_type='ADALORA'"),
        (lambda c: c["peft_config"].update(r=4), r"unknown key\(s\) \['r'\]"),
    ],
    ids=["unknown-key", "init", "feedforward", "targets", "kind", "lora-key"],
)
def test_bad_ia3_config_is_refused(tiny: dict[str, Any], change: Any, message: str) -> None:
    cfg, files = serialize_family(tiny["zoo"].load(tiny["ia3"][0]))
    change(cfg)
    with pytest.raises(ValidationError, match=message):
        deserialize_family(cfg, files, {cfg["parents"][0]: tiny["zoo"].load(tiny["base"])})


def test_ia3_tensor_of_the_wrong_shape_is_refused(tiny: dict[str, Any]) -> None:
    cfg, files = serialize_family(tiny["zoo"].load(tiny["ia3"][0]))
    tensors = st_load(files["adapter_model.safetensors"])
    key = next(iter(tensors))
    tensors[key] = torch.ones(384, 2)
    files["adapter_model.safetensors"] = st_save(tensors)
    with pytest.raises(ValidationError, match=r"expected float32\[384, 1\]"):
        deserialize_family(cfg, files, {cfg["parents"][0]: tiny["zoo"].load(tiny["base"])})


def test_a_family_refuses_to_mix_lora_and_ia3_adapters(tiny: dict[str, Any]) -> None:
    zoo = tiny["zoo"]
    mixed = [zoo.load(tiny["ia3"][0]), zoo.load(tiny["lora"])]
    with pytest.raises(IncompatibleError, match=r"mix \['IA3Spec', 'LoraSpec'\]"):
        check_same_base(mixed)
    assert "one adapter kind" in (whitebox_problem(mixed) or "")
    texts, y, _, _ = task_data(TASKS[0], 6, seed=9)
    with pytest.raises(IncompatibleError, match="one adapter kind"):
        Recycler(mixed, strategy="module_mixing", m=2).fit(texts, y)


@pytest.mark.parametrize(
    ("strategy", "params"),
    [("module_mixing", {"max_epochs": 1}), ("lorahub", {"max_evals": 3})],
)
def test_white_box_strategies_mix_ia3_sources(
    tiny: dict[str, Any], strategy: str, params: dict[str, Any], tmp_path: Path
) -> None:
    zoo = tiny["zoo"]
    sources = [zoo.load(n) for n in tiny["ia3"]]
    texts, y, test, _ = task_data(TASKS[1], 8, seed=5, held_out=5)
    rec = Recycler(sources, strategy=strategy, m=2, strategy_params={strategy: params}, seed=0).fit(
        texts, y
    )
    proba = rec.predict_proba(test)
    assert proba.shape == (len(test), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert {s.source_id for s in rec.strategy_.sources} == {s.source_id for s in sources}
