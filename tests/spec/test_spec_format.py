"""Spec format: JSON / safetensors round trips and rejection of invalid specs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recycle.errors import SpecError
from recycle.spec import Spec, build_spec


def _spec(m: int = 3, d: int = 4, seed: int = 0) -> Spec:
    rng = np.random.default_rng(seed)
    beta = rng.random(m)
    return Spec(
        space=f"input:{d}",
        gamma=0.25,
        Z=rng.normal(size=(m, d)).astype(np.float32),
        beta=beta / beta.sum(),
        n=10 * m,
        seed=seed,
        residual=0.01,
    )


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 12),
    d=st.integers(1, 20),
    seed=st.integers(0, 2**31),
    scale=st.floats(1e-6, 1e6),
    encoding=st.sampled_from(["base64", "list"]),
)
def test_json_round_trip_is_exact(m: int, d: int, seed: int, scale: float, encoding: str) -> None:
    rng = np.random.default_rng(seed)
    beta = rng.random(m) + 1e-3
    spec = Spec(
        space=f"effnet_lite0.imagenet:{d}",
        gamma=1.0 / scale,
        Z=(scale * rng.normal(size=(m, d))).astype(np.float32),
        beta=beta / beta.sum(),
        n=m + int(rng.integers(1, 1000)),
        seed=seed,
    )
    back = Spec.from_json(spec.to_json(encoding=encoding))
    assert back == spec
    assert np.array_equal(back.Z, spec.Z) and np.array_equal(back.beta, spec.beta)
    assert back.gamma == spec.gamma and back.space == spec.space and back.m == m


def test_safetensors_and_json_files_round_trip(tmp_path: Path) -> None:
    spec = _spec(m=5, d=7)
    for name in ("s.json", "s.safetensors"):
        path = spec.save(tmp_path / name)
        assert Spec.load(path) == spec
    assert not list(tmp_path.glob("*.tmp"))


def test_built_spec_round_trips() -> None:
    X = np.random.default_rng(0).normal(size=(120, 6))
    spec = build_spec(X, m=10)
    assert Spec.from_dict(json.loads(spec.to_json())) == spec


def _mutate(field: str, value: object) -> dict:
    data = _spec().to_dict(encoding="list")
    data[field] = value
    return data


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("space", "input:5", "dimension 5"),
        ("space", "input", "name:dim"),
        ("Z", [[0.0, 1.0, float("nan"), 0.0]] * 3, "NaN"),
        ("Z", [[0.0, 1.0, float("inf"), 0.0]] * 3, "NaN or inf"),
        ("beta", [0.7, 0.5, -0.2], ">= 0"),
        ("beta", [0.2, 0.2, 0.2], "sum to 1"),
        ("beta", [0.5, 0.5], "m must match"),
        ("m", 4, "declares m=4"),
        ("version", 2, "Unknown spec version 2"),
        ("gamma", -1.0, "gamma"),
        ("gamma", 0.0, "gamma"),
        ("n", 0, "n must be"),
        ("kernel", "laplace", "kernel"),
        ("format", "other/1", "Not a recycle spec"),
    ],
)
def test_invalid_specs_are_rejected(field: str, value: object, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Spec.from_dict(_mutate(field, value))


def test_missing_fields_and_bad_json_are_rejected(tmp_path: Path) -> None:
    data = _spec().to_dict()
    del data["beta"]
    with pytest.raises(SpecError, match="missing fields"):
        Spec.from_dict(data)
    with pytest.raises(SpecError, match="not valid JSON"):
        Spec.from_json("{not json")
    bad = _spec().to_dict()
    bad["Z"]["base64"] = bad["Z"]["base64"][:-8]
    with pytest.raises(SpecError):
        Spec.from_dict(bad)
    with pytest.raises(SpecError, match="does not exist"):
        Spec.load(tmp_path / "nope.json")
    assert isinstance(SpecError("x"), ValueError)
