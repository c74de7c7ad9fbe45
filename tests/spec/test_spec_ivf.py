"""IVF lists of big index segments: their search ranks by the cascade's score (sphere padding),
an index forced onto the IVF path keeps the exact top 10, and the lists stay in step with the
segments through registration, removal, SIGKILL mid-write and ``fsck --repair``."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
from test_spec_index import _register_in_child, _spec, _zoo

from recycle.spec import ivf, rank
from recycle.spec.cascade import Stages
from recycle.spec.index import EntryInfo, PersistentIndex, update
from recycle.zoo import Zoo, spec_index


def _lists(folder: Path) -> dict[str, str | None]:
    """Per live segment of at least the threshold: its list's status (None = usable)."""
    index = PersistentIndex.load(folder)
    assert index is not None
    return {s.name: ivf.status(folder / s.name, len(s.entries["ids"])) for s in index.segments
            if len(s.entries["ids"]) >= ivf.segment_min()}  # fmt: skip


def test_list_search_ranks_by_the_self_term_score() -> None:
    """All cells probed, the list's best entries and scores are ``self - 2 y . s_P``'s; plain L2
    on the prefixes (no padding) would pick others."""
    rng = np.random.default_rng(0)
    prefix = (rng.normal(size=(2000, 16)) * 0.1).astype(np.float32)
    terms = rng.uniform(0.5, 1.5, 2000)
    lists = ivf.build(prefix, terms)
    assert lists.index.nlist == 2000 // ivf.MIN_PER_CELL
    differs = 0
    for _ in range(5):
        y = rng.normal(size=16).astype(np.float32)
        rows, scores = lists.search(y, 20, nprobe=lists.index.nlist)
        want = terms - 2.0 * prefix.astype(np.float64) @ y
        assert set(rows.tolist()) == set(np.argsort(want)[:20].tolist())
        np.testing.assert_allclose(scores, want[rows], atol=1e-4)
        plain = ((prefix - y) ** 2).sum(axis=1)
        differs += set(np.argsort(plain)[:20].tolist()) != set(rows.tolist())
    assert differs == 5


def test_index_forced_onto_the_ivf_path_keeps_the_exact_top10(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ivf.ENV, "100")
    n = 400
    specs = [_spec(i) for i in range(n)]
    infos = [EntryInfo(f"{i:032x}", f"m{i}", "1.0.0", float(i)) for i in range(n)]
    pairs = list(zip(infos, specs, strict=True))
    for start in range(0, n, 50):
        update(tmp_path, "input:8", pairs[start : start + 50], set(), [start])
    assert _lists(tmp_path) and set(_lists(tmp_path).values()) == {None}
    index = PersistentIndex.load(tmp_path)
    assert index is not None
    stages = Stages(one_stage_max=50, shortlist=100, ivf_min=n)
    for q in range(8):
        query = _spec(q, seed=2)
        res = index.rank(query, exact_work=0, stages=stages)
        used = [index.cache.get(("ivf", s.name)) for s in index.segments]
        assert any(u is not None for u in used)  # the IVF lists answered the first stage
        exact = rank(query, specs, gamma=index.gamma)
        assert [str(index.ids[i]) for i in res.order[:10]] == [infos[i].id for i in
                                                               exact.order[:10]]  # fmt: skip


def test_ivf_lists_follow_register_remove_and_are_rebuilt_by_fsck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ivf.ENV, "4")
    location = str(tmp_path / "zoo")
    zoo = _zoo(location, None, {f"m.{i}": _spec(i) for i in range(9)})
    folder = spec_index.folder_for(zoo, "input:8")
    assert _lists(folder) and set(_lists(folder).values()) == {None}
    assert zoo.fsck().clean
    for i in range(3):
        zoo.remove(f"m.{i}")
    assert set(_lists(folder).values()) == {None} and zoo.fsck().clean
    name = next(iter(_lists(folder)))
    (folder / name / ivf.FILE).unlink()
    assert zoo.fsck().stale_indexes == ["input:8: 1 IVF lists missing or stale"]
    zoo.fsck(repair=True)
    assert zoo.fsck().clean and set(_lists(folder).values()) == {None}
    name = next(iter(_lists(folder)))
    (folder / name / f"{ivf.FILE}.tmp-0").write_bytes(b"half")  # a list write cut short
    assert zoo.fsck().stale_indexes == ["input:8: 1 leftover files"]
    zoo.fsck(repair=True)
    assert zoo.fsck().clean


def test_sigkill_while_a_list_is_written_then_fsck_repair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ivf.ENV, "4")
    location = str(tmp_path / "zoo")
    _zoo(location, None, {f"m.{i}": _spec(i) for i in range(3)}).close()  # segments 2 + 1
    assert _register_in_child(location, "", "m.crashed", "index_ivf") == -signal.SIGKILL
    zoo = Zoo.open(location)
    folder = spec_index.folder_for(zoo, "input:8")
    assert list(folder.glob(f"seg-*/{ivf.FILE}.tmp-*"))  # killed mid-write
    report = zoo.fsck()
    assert report.stale_indexes and "1 specs missing" in report.stale_indexes[0]
    assert "leftover files" in report.stale_indexes[0]
    zoo.fsck(repair=True)
    assert zoo.fsck().clean
    lists = _lists(folder)
    assert lists and set(lists.values()) == {None}
    index = PersistentIndex.load(folder)
    assert index is not None and len(index) == 4
