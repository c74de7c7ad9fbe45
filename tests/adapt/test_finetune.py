"""The ``finetune`` strategy: freeze -> gradual unfreezing, layer-wise learning rates,
augmentation, settings chosen by validation under the time budget, persistence.

Real backbones (all-MiniLM-L6-v2, EfficientNet-Lite0 from their offline packages) and real
data (Debian fortunes, MNIST digits); few epochs so the file runs in well under a minute.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from recycle import datasets
from recycle.adapt import Recycler
from recycle.adapt.registry import build
from recycle.adapt.strategies import Finetune
from recycle.adapt.training import fit_loop
from recycle.adapt.tunable import augment_images, drop_tokens, image_tunable, text_tunable
from recycle.bench.text_fewshot import FORTUNE_TARGET, fewshot_targets
from recycle.errors import ConfigError, DataError, IncompatibleError

#: Two quick epochs per stage: enough to move the weights, cheap on a CPU.
QUICK = {"max_epochs": 2, "patience": 2}


@pytest.fixture(scope="module")
def fortunes():
    """Fortunes food vs sports at 8 quotes per class (seed 0) and 100 test quotes."""
    (t,) = fewshot_targets((8,), 1, test_per_class=50, only=(FORTUNE_TARGET,))
    return t


@pytest.fixture(scope="module")
def digits():
    """Ten MNIST test images of digits 0 and 1 (five each)."""
    ds = datasets.load("mnist")
    idx = np.concatenate([np.flatnonzero(ds.y_test == c)[:5] for c in (0, 1)])
    return ds.X_test[idx], ds.y_test[idx]


@pytest.fixture(scope="module")
def pristine_minilm() -> list[dict[str, torch.Tensor]]:
    """The pre-trained MiniLM's units' weights."""
    return [u.state_dict() for u in text_tunable().units]


def _units(est: Finetune) -> list[dict[str, torch.Tensor]]:
    return [{k: v.clone() for k, v in u.state_dict().items()} for u in est.tunable_.units]


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before)


def test_freeze_all_but_sets_requires_grad_on_the_top_units_only() -> None:
    t = text_tunable()
    t.freeze_all_but(2)
    grads = [any(p.requires_grad for p in u.parameters()) for u in t.units]
    assert grads == [False] * 5 + [True, True]
    assert all(p.requires_grad for u in t.units[-2:] for p in u.parameters())
    t.freeze_all_but(0)
    assert not any(p.requires_grad for p in t.model.parameters())


def test_gradual_schedule_trains_the_top_units_and_leaves_the_rest(
    fortunes, pristine_minilm
) -> None:
    est = Finetune(schedule="gradual", augment=False, unfreeze=2, **QUICK)
    est.fit(fortunes.X_train, fortunes.y_train)
    changed = [_changed(b, a) for b, a in zip(pristine_minilm, _units(est), strict=True)]
    assert changed == [False] * 5 + [True] * 2
    assert est.units_trained_ == 2 and est.setting_ == {"schedule": "gradual", "augment": False}
    top2 = sum(p.numel() for u in est.tunable_.units[-2:] for p in u.parameters())
    assert est.trainable_params_ == top2 + 2 * 384 + 2
    assert not any(p.requires_grad for p in est.tunable_.model.parameters())  # frozen after fit


def test_head_schedule_is_the_linear_probe_and_changes_no_backbone_weight(
    fortunes, pristine_minilm
) -> None:
    est = Finetune(schedule="head").fit(fortunes.X_train, fortunes.y_train)
    assert not any(map(_changed, pristine_minilm, _units(est)))
    assert est.units_trained_ == 0 and est.trainable_params_ == 2 * 384 + 2
    assert est.score(fortunes.X_test, fortunes.y_test) > 0.7  # minilm_logreg's regime


def test_param_groups_decay_the_learning_rate_layer_by_layer() -> None:
    t = text_tunable()
    head = torch.nn.Linear(384, 2)
    est = Finetune(lr=1e-3, body_lr=1e-4, lr_decay=0.5)
    groups = est.param_groups(t, head, 3)
    assert [g["unit"] for g in groups] == ["head", 6, 5, 4]
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-4, 5e-5, 2.5e-5])
    assert groups[1]["params"] == list(t.units[6].parameters())
    assert Finetune().learning_rates("text") == (1e-4, 2e-5)  # the BERT recipe's body rate


def test_fit_loop_gives_each_parameter_group_its_own_learning_rate() -> None:
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    X, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    b_before = [p.detach().clone() for p in b.parameters()]
    a_before = [p.detach().clone() for p in a.parameters()]
    groups = [{"params": list(a.parameters()), "lr": 0.05}, {"params": list(b.parameters()),
              "lr": 0.0}]  # fmt: skip
    fit_loop(groups, lambda xb, yb: torch.nn.functional.cross_entropy(a(xb) + b(xb), yb),
             lambda xb: a(xb) + b(xb), X, y, epochs=3)  # fmt: skip
    assert all(torch.equal(p, q) for p, q in zip(b.parameters(), b_before, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), a_before, strict=True))


def test_fit_loop_stops_at_its_deadline() -> None:
    head = torch.nn.Linear(3, 2)
    X, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    seen = []

    def loss(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        seen.append(len(xb))
        return torch.nn.functional.cross_entropy(head(xb), yb)

    log = fit_loop(list(head.parameters()), loss, head, X, y, epochs=50, batch_size=8,
                   deadline=time.monotonic() - 1.0)  # fmt: skip
    assert seen == [8] and log["out_of_time"] and log["epochs"] == 1


def test_augmentation_changes_images_but_keeps_each_row_its_own(digits) -> None:
    X, _ = digits
    # each digit on its own brightness level (prepared pixels span about 2; levels 10 apart)
    x = image_tunable(image_size=32).prepare(X) + 10.0 * torch.arange(len(X)).view(-1, 1, 1, 1)
    out = augment_images(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.equal(out, x)
    assert (out - x).abs().amax(dim=(1, 2, 3)).min() > 0.5  # every image moved
    # row i is still image i (so labels stay aligned): its level is the nearest
    level = out.mean(dim=(1, 2, 3)) / 10.0
    assert level.round().long().tolist() == list(range(len(X)))


def test_token_dropout_removes_inner_tokens_only_and_keeps_the_order() -> None:
    t = text_tunable()
    x = t.prepare(["a long sentence with quite a few words in it", "short one"])
    out = drop_tokens(x, torch.Generator().manual_seed(0), 0.5)
    assert out.shape == x.shape and not torch.equal(out, x)
    for i in range(2):
        n, m = int(x[i, 1].sum()), int(out[i, 1].sum())
        assert out[i, 1, :m].all() and not out[i, 1, m:].any()  # mask still a prefix
        kept, orig = out[i, 0, :m].tolist(), x[i, 0, :n].tolist()
        assert kept[0] == orig[0] and kept[-1] == orig[-1]  # [CLS] ... [SEP]
        it = iter(orig)
        assert all(tok in it for tok in kept)  # a subsequence: order kept, nothing invented
    assert torch.equal(drop_tokens(x, torch.Generator(), 0.0), x)


def test_validation_picks_the_lowest_loss_setting_and_skips_runs_past_the_budget(
    fortunes,
) -> None:
    est = Finetune(max_seconds=1.0, **QUICK).fit(fortunes.X_train, fortunes.y_train)
    assert [(t["schedule"], t["augment"]) for t in est.tried_] == [
        ("head", False), ("gradual", False)]  # fmt: skip
    assert est.skipped_ == [{"schedule": "gradual", "augment": True, "reason": "time budget"}]
    best = min(est.tried_, key=lambda t: t["val_loss"])
    assert est.setting_ == {"schedule": best["schedule"], "augment": best["augment"]}
    roomy = Finetune(max_seconds=600.0, max_epochs=1).fit(fortunes.X_train, fortunes.y_train)
    assert len(roomy.tried_) == 3 and roomy.skipped_ == []


def test_save_load_round_trip_predicts_the_same_probabilities(fortunes, tmp_path: Path) -> None:
    params = {"finetune": {"schedule": "gradual", "augment": True, **QUICK}}
    rec = Recycler(None, strategy="finetune", strategy_params=params)
    rec.fit(fortunes.X_train, fortunes.y_train)
    back = Recycler.load(rec.save(tmp_path / "ft"))
    texts = fortunes.X_test[:20]
    np.testing.assert_allclose(back.predict_proba(texts), rec.predict_proba(texts), atol=1e-6)
    assert back.strategy_.setting_ == rec.strategy_.setting_
    with pytest.raises(IncompatibleError, match="'finetune' has no graph form"):
        from recycle.deploy.onnx_export import export_onnx

        export_onnx(rec, tmp_path / "ft.onnx")


def test_images_fine_tune_effnet_and_round_trip(digits, tmp_path: Path) -> None:
    X, y = digits
    est = Finetune(schedule="gradual", augment=True, unfreeze=1, image_size=32, **QUICK)
    est.fit(X, y)
    pristine = image_tunable(image_size=32)
    changed = [_changed(p.state_dict(), u.state_dict())
               for p, u in zip(pristine.units, est.tunable_.units, strict=True)]  # fmt: skip
    assert changed == [False] * 8 + [True]
    config, tensors = est.to_state()
    back = Finetune.from_state(config, tensors, [])
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"unfreez": 2}, "Unknown parameter 'unfreez' for strategy 'finetune'; valid: augment, "
         "batch_size, body_lr, image_size, lr, lr_decay, max_epochs, max_seconds, patience, "
         "schedule, token_dropout, unfreeze, val_fraction."),
        ({"schedule": "full"}, "must be 'head', 'gradual' or None. Got 'full'"),
        ({"augment": "yes"}, "must be bool or None. Got 'yes'"),
    ],
)  # fmt: skip
def test_bad_parameters_are_refused_naming_the_valid_ones(params, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build("finetune", [], 0, {"finetune": params})


def test_out_of_range_values_are_refused_at_fit(fortunes) -> None:
    with pytest.raises(ConfigError, match=r"'unfreeze' parameter .* an int in 1\.\.7\. Got 9"):
        Finetune(unfreeze=9).fit(fortunes.X_train, fortunes.y_train)
    with pytest.raises(DataError, match="finetune takes images or texts"):
        Finetune().fit(np.zeros((10, 3)), [0, 1] * 5)
