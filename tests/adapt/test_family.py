"""White-box family: EFT/LoRA adapters, the frozen base, source training and serialization."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recycle.adapt.family import (
    AdaptedLayer,
    AdapterConfig,
    EFTAdapter,
    FamilyBase,
    FamilyConfig,
    FamilyNet,
    FamilySource,
    LoRAAdapter,
    check_same_base,
    deserialize_family,
    pretrain_base,
    serialize_family,
    to_tensor,
    train_source,
)
from recycle.adapt.family.source import FamilyBaseSource
from recycle.errors import ConfigError, IncompatibleError

SMALL = FamilyConfig(channels=(8, 16))


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """300 real MNIST images of the digits 0, 1, 2."""
    from recycle.datasets import load

    ds = load("mnist")
    keep = np.flatnonzero(ds.y_train < 3)[:300]
    return ds.X_train[keep], ds.y_train[keep]


@pytest.fixture(scope="module")
def base(digits: tuple[np.ndarray, np.ndarray]) -> FamilyBase:
    torch.manual_seed(0)
    return pretrain_base(*digits, SMALL, epochs=3, batch_size=32, seed=0)


def test_eft_adapter_starts_as_identity() -> None:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    layer = AdaptedLayer(conv)
    layer.add_adapter("new", EFTAdapter(8, spatial_group=2, depth_group=4))
    layer.set_active(["new"])
    x = torch.randn(2, 3, 6, 6)
    assert torch.equal(layer(x), conv(x))
    # Once trained (non-zero), the adapter changes the output.
    torch.nn.init.normal_(layer.adapters["new"].depth.weight)
    assert not torch.allclose(layer(x), conv(x))


def test_eft_groups_and_lora_identity() -> None:
    a = EFTAdapter(16, spatial_group=2, depth_group=8)
    assert a.spatial.groups == 8 and a.depth.groups == 2
    assert a.spatial.weight.numel() == 16 * 2 * 9 and a.depth.weight.numel() == 16 * 8
    lora = LoRAAdapter(10, 4, rank=2)
    assert lora(torch.randn(3, 10), None).abs().sum() == 0
    with pytest.raises(ConfigError, match="divisible"):
        EFTAdapter(10, spatial_group=3)


def test_familynet_new_adapters_equal_base(base: FamilyBase) -> None:
    net = FamilyNet(base)
    net.add_adapter_set("new")
    net.activate(["new"])
    x = to_tensor(np.random.default_rng(0).integers(0, 255, (4, 28, 28), dtype=np.uint8))
    with torch.no_grad():
        assert torch.allclose(net.features(x), base(x))
    net.train(True)
    assert all(not bn.training for bn in net.base.bns)  # BN statistics stay frozen


def test_default_adapters_are_about_four_percent_of_base() -> None:
    base = FamilyBase(FamilyConfig())
    net = FamilyNet(base, AdapterConfig())
    net.add_adapter_set("task")
    n_base = sum(p.numel() for p in base.parameters())
    n_task = sum(p.numel() for p in net.adapter_set("task").parameters())
    assert 0.02 < n_task / n_base < 0.06


def test_train_source_keeps_base_frozen(
    base: FamilyBase, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    before = {k: v.clone() for k, v in base.state_dict().items()}
    src = train_source(
        base, *digits, ["0", "1", "2"], epochs=4, lr=1e-2, batch_size=32, name="test.digits"
    )
    after = base.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # incl. BN running stats
    assert all(not p.requires_grad for p in base.parameters())
    assert any(v.abs().sum() > 0 for v in src.adapter_state.values())  # adapters learned
    X, y = digits
    acc = (src.predict_proba(X).argmax(1) == y).mean()
    assert acc > 0.8
    assert src.embed(X[:5]).shape == (5, SMALL.feature_dim)
    assert src.access == "white-box" and src.modality == "image"


def test_serialize_round_trip(base: FamilyBase, digits: tuple[np.ndarray, np.ndarray]) -> None:
    src = train_source(base, *digits, ["0", "1", "2"], epochs=1, name="test.rt")
    base_src = FamilyBaseSource(base, "test.base")
    bcfg, bfiles = serialize_family(base_src)
    scfg, sfiles = serialize_family(src)
    assert scfg["parents"] == [src.base_id] and scfg["architecture"] == "family.adapters"
    base2 = deserialize_family(bcfg, bfiles)
    src2 = deserialize_family(scfg, sfiles, parents={src.base_id: base2})
    X = digits[0][:20]
    np.testing.assert_allclose(src.predict_proba(X), src2.predict_proba(X), atol=1e-6)
    with pytest.raises(IncompatibleError, match="base entry"):
        deserialize_family(scfg, sfiles, parents={})


def test_check_same_base_rejects_mixed_families(base: FamilyBase) -> None:
    other = FamilyBase(SMALL)
    a = FamilySource.fresh(base, ["a", "b"], name="t.a")
    b = FamilySource.fresh(other, ["a", "b"], name="t.b")
    assert check_same_base([a, FamilySource.fresh(base, ["c", "d"])]) is base
    with pytest.raises(IncompatibleError, match="share one base"):
        check_same_base([a, b])
    with pytest.raises(IncompatibleError, match="family sources"):
        check_same_base([a, object()])
