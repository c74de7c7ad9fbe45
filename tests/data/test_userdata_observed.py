"""Issue #18: each failure observed with a user's own data, as a test (all failed before the fix).

The CLI suite per data kind and the bad-input table are in tests/cli/test_cli_userdata.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapt_helpers import digit_mlp, target
from recycle.adapt import Recycler
from recycle.cli import main
from recycle.errors import ConfigError, ModelNotFoundError
from recycle.zoo import ModelCard, Zoo

NAMES = ("digits.mlp-low-classes-0to4", "digits.mlp-high-classes-5to9")
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("observed")
    with Zoo.open(root / "zoo") as zoo:
        for classes, name in [((0, 1, 2, 3, 4), NAMES[0]), ((5, 6, 7, 8, 9), NAMES[1])]:
            src = digit_mlp(classes)
            card = ModelCard(
                name=name, modality="tabular", task="classification",
                input={"shape": [64], "dtype": "float32", "value_range": [0.0, 1.0]},
                output={"feature_dim": src.feature_dim}, access=src.access, license="MIT",
            )  # fmt: skip
            zoo.register(src, card, validate=False)
    Xtr, ytr, Xte, yte = target((0, 3, 5, 8), shots=10)
    np.savez(root / "train.npz", X=Xtr, y=ytr)
    np.savez(root / "test.npz", X=Xte, y=yte)
    return root


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, **extra}


def test_read_commands_never_create_a_mistyped_zoo(
    zoo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    typo = str(tmp_path / "zooo")
    model = str(tmp_path / "model")
    zoo = str(zoo_dir / "zoo")
    assert main(["fit", str(zoo_dir / "train.npz"), "--out", model, "--m", "1",
                 "--strategy", "linear_probe", "--zoo", zoo, "--json"]) == 0  # fmt: skip
    data = str(zoo_dir / "test.npz")
    for argv in (["zoo", "list"], ["zoo", "show", NAMES[0]], ["search", data], ["select", data],
                 ["fit", data, "--out", str(tmp_path / "m2")], ["predict", model, data],
                 ["evaluate", model, data]):  # fmt: skip
        capsys.readouterr()
        assert main([*argv, "--zoo", typo]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "no zoo at" in err.lower(), (argv, err)
        assert not Path(typo).exists(), argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_columns_are_matched_by_name_not_position(zoo_dir: Path) -> None:
    with np.load(zoo_dir / "train.npz") as f:
        Xtr, ytr = f["X"], f["y"]
    with np.load(zoo_dir / "test.npz") as f:
        Xte, yte = f["X"], f["y"]
    cols = [f"px{i}" for i in range(64)]
    rec = Recycler(str(zoo_dir / "zoo"), m=2, strategy="linear_probe")
    rec.fit(pd.DataFrame(Xtr, columns=cols), ytr)
    assert list(rec.feature_names_in_) == cols
    test = pd.DataFrame(Xte, columns=cols)
    reordered = test[list(reversed(cols))]
    np.testing.assert_array_equal(rec.predict_proba(reordered), rec.predict_proba(test))
    assert rec.score(reordered, yte) > 0.8


def test_model_folder_is_portable_and_load_opens_only_the_given_zoo(
    zoo_dir: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old" / "zoo"
    old.parent.mkdir()
    shutil.copytree(zoo_dir / "zoo", old)
    with np.load(zoo_dir / "train.npz") as f:
        rec = Recycler(str(old), m=2, strategy="stacking").fit(f["X"], f["y"])
    with np.load(zoo_dir / "test.npz") as f:
        Xte = f["X"]
    folder = rec.save(tmp_path / "model")
    text = (folder / "recycler.json").read_text()
    assert str(tmp_path) not in text  # no absolute path, not even the zoo's
    meta = json.loads(text)
    assert all(len(s["sha256"]) == 64 and s["entry_id"] for s in meta["sources"])

    moved = tmp_path / "moved" / "zoo"
    shutil.move(str(old), moved)
    with pytest.raises(ModelNotFoundError, match="pass the zoo it came from"):
        Recycler.load(folder)  # the recorded location is only a hint: never opened
    assert not old.exists()
    back = Recycler.load(folder, zoo=str(moved))
    np.testing.assert_array_equal(back.predict_proba(Xte), rec.predict_proba(Xte))


def test_prediction_writes_no_feature_cache_unless_asked(
    zoo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RECYCLE_CACHE", raising=False)
    with np.load(zoo_dir / "train.npz") as f:
        X, y = f["X"], f["y"]
    rec = Recycler(str(zoo_dir / "zoo"), m=2, strategy="linear_probe").fit(X, y)
    rec.predict_proba(X[:20] * 0.5)
    assert not home.exists()  # nothing in ~/.cache/recycle
    cache = tmp_path / "cache"
    rec.cache = str(cache)
    rec.predict_proba(X[:20] * 0.25)
    assert len(list(cache.glob("*/*.npy"))) == 2  # one file per source, where asked


def test_ctrl_c_during_fit_exits_130_and_writes_nothing(zoo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    # The child says "fitting" as Recycler.fit starts; Ctrl-C follows at once, so it lands inside
    # the fit however fast the fit is (a fixed sleep raced fits that took under 3 s). The child
    # restores Python's Ctrl-C handler first, as in a terminal: a suite started in the
    # background (`make test &`) passes SIGINT down ignored, and the fit then ran to the end.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "import sys; from recycle.cli import main; from recycle.adapt import recycler; "
        "fit = recycler.Recycler.fit; "
        "recycler.Recycler.fit = lambda self, *a, **k: (print('fitting', flush=True), "
        "fit(self, *a, **k))[1]; "
        f"sys.exit(main(['fit', {str(zoo_dir / 'train.npz')!r}, '--out', {str(out)!r}, "
        f"'--zoo', {str(zoo_dir / 'zoo')!r}, '--time-budget', '600']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "fitting"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "Error: interrupted (Ctrl-C)." and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no model, no temp folder


def test_zoo_list_in_80_columns_shows_whole_names(zoo_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from recycle.cli import main; sys.exit(main())",
         "zoo", "list", "--zoo", str(zoo_dir / "zoo")],
        env=_env(COLUMNS="80"), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, proc.stdout
    for name in NAMES:
        assert any(name in line for line in lines), proc.stdout
    header = next(line for line in lines if "name" in line)
    assert "version" in header and "modality" in header  # the key columns stay


def test_save_replaces_only_a_model_folder_and_leaves_no_temp_files(
    zoo_dir: Path, tmp_path: Path
) -> None:
    with np.load(zoo_dir / "train.npz") as f:
        rec = Recycler(str(zoo_dir / "zoo"), m=1, strategy="linear_probe").fit(f["X"], f["y"])
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is a folder that is not a recycle model"):
        rec.save(notes, overwrite=True)
    assert (notes / "a.txt").read_text() == "mine"
    out = rec.save(tmp_path / "model")
    with pytest.raises(ConfigError, match="already holds a model"):
        rec.save(out)
    assert rec.save(out, overwrite=True) == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "notes"]
