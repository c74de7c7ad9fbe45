"""Upload parsing without the server: npz headers, JSON depth, job params (fast, pure)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from recycle.adapt.auto import fidelity
from recycle.errors import DataError, PayloadTooLargeError
from recycle.service.job_params import MAX_CV_REPEATS, JobParams, default_job_budget
from recycle.service.target import check_json_depth, read_target
from service_attacks import npz_bomb, npz_lying_shape
from service_helpers import npz_bytes

MIB = 1024 * 1024


def test_brackets_inside_strings_do_not_count() -> None:
    check_json_depth('{"a": "[[[[[[[[[[[[", "b": "\\"[[[["}', 2)
    with pytest.raises(DataError, match="nested 3 levels"):
        check_json_depth('{"a": [["x"]]}', 2)


def test_a_target_round_trips_within_its_limit() -> None:
    X, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 0, 1])
    raw = npz_bytes(X=X, y=y)
    out = read_target(raw, len(raw) * 2)
    np.testing.assert_array_equal(out["X"], X)
    with pytest.raises(PayloadTooLargeError, match="inflates to"):
        read_target(raw, 100)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (lambda: npz_bomb(8 * MIB), PayloadTooLargeError),
        (npz_lying_shape, DataError),
    ],
)
def test_bombs_are_refused_from_headers(payload, error) -> None:
    with pytest.raises(error):
        read_target(payload(), 1 * MIB)


def test_a_garbled_npy_header_is_a_data_error() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("X.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <f8,   \n")
    with pytest.raises(DataError, match="npy header"):
        read_target(buf.getvalue(), MIB)


def test_object_arrays_are_refused() -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        zf.writestr("X.npy", buf.getvalue())
    with pytest.raises(DataError, match="objects"):
        read_target(raw.getvalue(), MIB)


def test_job_params_bounds_and_defaults() -> None:
    # no budget or repeats sent: the Recycler's per-path defaults apply (150 s and 1 repeat on a
    # text LoRA library, 60 s and 2 elsewhere), not a fixed service default
    kwargs = JobParams.model_validate({}).recycler_kwargs()
    assert "time_budget" not in kwargs and "cv_repeats" not in kwargs
    assert default_job_budget() == max(fidelity.DEFAULT_BUDGET, fidelity.LORA_BUDGET)
    assert JobParams(time_budget=5).recycler_kwargs()["time_budget"] == 5
    assert JobParams(cv_repeats=MAX_CV_REPEATS).cv_repeats == MAX_CV_REPEATS
    with pytest.raises(ValueError, match="cv_repeats"):
        JobParams(cv_repeats=MAX_CV_REPEATS + 1)
    with pytest.raises(ValueError, match="Unknown parameter 'rm_rf' for strategy 'linear_probe'"):
        JobParams.model_validate({"strategy_params": {"linear_probe": {"rm_rf": 1}}})
