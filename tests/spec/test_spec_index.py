"""The persistent spec index: same answers as exact search, in step with the catalog through
registration, removal, new versions, crashes (SIGKILL mid-update, then fsck) and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recycle.cli import main
from recycle.spec import Spec, build_spec, rank
from recycle.spec import index_files as files
from recycle.spec.cascade import Stages
from recycle.spec.index import RERANK, EntryInfo, PersistentIndex, update
from recycle.zoo import Zoo, spec_index
from zoo_helpers import TESTS_DIR, mlp_card, mlp_source

DIM = 8
CENTRES = np.random.default_rng(7).normal(size=(40, DIM)) * 2.0

HERE = Path(__file__).resolve().parent  # this module, imported by the crash child


def _spec(i: int, seed: int = 0) -> Spec:
    """A spec of 60 rows around centre ``i % 40`` (specs of one centre are near-duplicates)."""
    rng = np.random.default_rng(1000 * seed + i)
    return build_spec(CENTRES[i % len(CENTRES)] + rng.normal(size=(60, DIM)), m=5, seed=i)


def _zoo(location: str, artifacts: str | None, specs: dict[str, Spec]) -> Zoo:
    zoo = Zoo.open(location, artifacts=artifacts)
    src = mlp_source()
    for name, spec in specs.items():
        name, _, version = name.partition("@")
        zoo.register(src, mlp_card(name, version or "1.0.0"), spec=spec, validate=False)
    return zoo


def _exact_top(query: Spec, named: dict[str, Spec], gamma: float, k: int = 5) -> list[str]:
    names = list(named)
    return [names[i] for i in rank(query, [named[n] for n in names], gamma=gamma).order[:k]]


def test_zoo_search_gives_the_exact_top5_and_reads_no_spec_blob(tmp_path: Path) -> None:
    specs = {f"m.{i}": _spec(i) for i in range(12)}
    zoo = _zoo(str(tmp_path / "zoo"), None, specs)
    reads: list[str] = []
    read = zoo.store.read
    zoo.store.read = lambda sha: reads.append(sha) or read(sha)  # type: ignore[method-assign]
    for q in range(5):
        query = _spec(q, seed=1)
        hits = zoo.search(query, top=5)
        gamma = zoo.spec_indexes["input:8"][0].gamma
        assert [h.entry.name for h in hits] == _exact_top(query, specs, gamma)
        exact = rank(query, list(specs.values()), gamma=gamma)
        np.testing.assert_allclose([h.score for h in hits], exact.mmd2[:5], rtol=1e-4, atol=1e-7)
    assert reads == []  # the index answered; no spec JSON was read or parsed


def test_vector_path_keeps_the_exact_top5(tmp_path: Path) -> None:
    """More specs than RERANK: faiss on random features, then exact re-rank of the best."""
    n = 3 * RERANK
    specs = [_spec(i) for i in range(n)]
    infos = [EntryInfo(f"{i:032x}", f"m{i}", "1.0.0", float(i)) for i in range(n)]
    for start in range(0, n, 50):  # several updates: segments, merged as the index grows
        update(
            tmp_path,
            "input:8",
            list(zip(infos, specs, strict=True))[start : start + 50],
            set(),
            [start],
        )
    index = PersistentIndex.load(tmp_path)
    assert index is not None and len(index) == n
    for q in range(8):
        query = _spec(q, seed=2)
        assert index.rank(query).n_exact == n  # small: below EXACT_WORK, every spec scored
        res = index.rank(query, exact_work=0)
        assert res.n_exact == RERANK  # the vector pass ran
        exact = rank(query, specs, gamma=index.gamma)
        assert [str(index.ids[i]) for i in res.order[:5]] == [infos[i].id for i in exact.order[:5]]
    # a big pool: first the prefix stage keeps a shortlist, re-scored on all features
    stages = Stages(one_stage_max=50, prefix=256, shortlist=60)
    index = PersistentIndex.load(tmp_path)
    assert index is not None
    for q in range(8):
        query = _spec(q, seed=2)
        res = index.rank(query, exact_work=0, stages=stages)
        assert ("prefix", index.segments[0].name, 256) in index.cache  # two stages ran
        exact = rank(query, specs, gamma=index.gamma)
        top = [infos[i].id for i in exact.order[:5]]
        assert [str(index.ids[i]) for i in res.order[:5]] == top


def test_search_reads_only_the_candidates_sets_and_merges_never_copy_them(
    tmp_path: Path, set_reads: list[int]
) -> None:
    """The per-entry index is the feature vector and a few numbers; reduced sets stay in their
    own files, read only for the specs scored exactly and never rewritten by merges."""
    n = 3 * RERANK
    specs = [_spec(i) for i in range(n)]
    infos = [EntryInfo(f"{i:032x}", f"m{i}", "1.0.0", float(i)) for i in range(n)]
    pairs = list(zip(infos, specs, strict=True))
    update(tmp_path, "input:8", pairs[:10], set(), [10])
    first = files.set_path(tmp_path, infos[0].id)
    inode = first.stat().st_ino
    for start in range(10, n, 25):  # segments merge as the index grows
        update(tmp_path, "input:8", pairs[start : start + 25], set(), [start])
    assert first.stat().st_ino == inode  # the set file written once, never copied
    segs = list(tmp_path.glob("seg-*"))
    assert sorted(p.name for p in segs[0].iterdir()) == ["beta.npy", "entries.npz", "rff.npy"]
    np.testing.assert_array_equal(np.load(first), specs[0].Z.astype(np.float32))
    index = PersistentIndex.load(tmp_path)
    assert index is not None
    set_reads.clear()  # only the search's reads
    res = index.rank(_spec(3, seed=2), candidates=40, exact_work=0)
    assert sum(set_reads) == res.n_exact == 40


def test_dropped_sets_are_deleted_and_stray_ones_found_by_fsck(tmp_path: Path) -> None:
    zoo = _zoo(str(tmp_path / "zoo"), None, {f"m.{i}": _spec(i) for i in range(4)})
    folder = spec_index.folder_for(zoo, "input:8")
    gone = {e.id for e in zoo.list() if e.name != "m.3"}
    for name in ("m.0", "m.1", "m.2"):
        zoo.remove(name)
        index = PersistentIndex.load(folder)
        assert index is not None
        on_disk = {p.stem for p in folder.glob("sets/*/*.npy")}
        assert on_disk == set(index.ids.tolist())  # a set file per stored entry, no more
    assert on_disk & gone  # the last one removed is only marked dropped (1 of 2) ...
    assert len(on_disk & gone) == 1  # ... the others were purged with their sets
    assert zoo.fsck().clean
    stray = files.set_path(folder, "ab" * 16)
    stray.parent.mkdir(parents=True, exist_ok=True)
    np.save(stray, np.zeros((5, DIM), np.float32))  # e.g. killed before its segment was written
    assert zoo.fsck().stale_indexes == ["input:8: 1 leftover files"]
    zoo.fsck(repair=True)
    assert zoo.fsck().clean and not stray.exists()
    assert [h.entry.name for h in zoo.search(_spec(3, seed=1), top=1)] == ["m.3"]


def test_searches_run_with_the_configured_thread_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss
    from threadpoolctl import threadpool_info

    from recycle.errors import ConfigError
    from recycle.spec import threads

    before = faiss.omp_get_max_threads()
    seen = []
    monkeypatch.setenv("RECYCLE_SEARCH_THREADS", "1")
    with threads.limited():
        seen.append(faiss.omp_get_max_threads())
        seen += [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert seen and set(seen) == {1}
    assert faiss.omp_get_max_threads() == before
    monkeypatch.setenv("RECYCLE_SEARCH_THREADS", "many")
    with pytest.raises(ConfigError, match="RECYCLE_SEARCH_THREADS must be an int >= 1"):
        threads.search_threads()


def test_register_remove_and_new_versions_keep_index_and_catalog_equal(tmp_path: Path) -> None:
    specs = {"m.a": _spec(0), "m.b": _spec(1), "m.c": _spec(2)}
    zoo = _zoo(str(tmp_path / "zoo"), None, specs)
    zoo.remove("m.b")
    zoo.register(mlp_source(), mlp_card("m.a", "2.0.0"), spec=_spec(3), validate=False)
    index = PersistentIndex.load(spec_index.folder_for(zoo, "input:8"))
    assert index is not None
    in_catalog = {e.id for e in zoo.list(all_versions=True) if e.spec_space == "input:8"}
    assert set(index.ids[index.searchable].tolist()) == in_catalog
    hits = zoo.search(_spec(1, seed=1), top=5)
    assert sorted((h.entry.name, h.entry.version) for h in hits) == [
        ("m.a", "2.0.0"),
        ("m.c", "1.0.0"),
    ]  # m.b removed, m.a only at its latest version
    assert zoo.fsck().clean


def _register_in_child(location: str, artifacts: str, name: str, crash_at: str) -> int:
    code = (
        "import sys; sys.path[:0] = sys.argv[4:6];"
        "from recycle.zoo import Zoo; from zoo_helpers import mlp_card, mlp_source;"
        "from test_spec_index import _spec;"
        "zoo = Zoo.open(sys.argv[1], artifacts=sys.argv[2] or None);"
        "zoo.register(mlp_source(), mlp_card(sys.argv[3]), spec=_spec(5), validate=False)"
    )
    env = {**os.environ, "RECYCLE_TEST_CRASH_AT": crash_at, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code, location, artifacts, name, str(TESTS_DIR), str(HERE)],
        env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    return proc.returncode


@pytest.mark.parametrize(
    ("backend", "point"),
    [
        ("sqlite", "after_commit"),
        ("sqlite", "index_segments"),
        pytest.param("postgres", "index_segments", marks=pytest.mark.postgres),
    ],
)
def test_sigkill_mid_index_update_is_found_by_fsck_and_repaired(
    backend: str, point: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        location, artifacts = str(tmp_path / "zoo"), ""
    else:
        location, artifacts = request.getfixturevalue("pg_url"), str(tmp_path / "artifacts")
    specs = {"m.a": _spec(0), "m.b": _spec(1)}
    _zoo(location, artifacts or None, specs).close()
    assert _register_in_child(location, artifacts, "m.crashed", point) == -signal.SIGKILL

    zoo = Zoo.open(location, artifacts=artifacts or None)
    report = zoo.fsck()
    assert report.stale_indexes and "1 specs missing" in report.stale_indexes[0]
    if point == "index_segments":  # the new segment was written, the manifest not
        assert "leftover files" in report.stale_indexes[0]
    # a search does not wait for fsck: the stale index is synchronised first
    assert zoo.search(_spec(5, seed=3), top=1)[0].entry.name == "m.crashed"
    zoo.fsck(repair=True)
    assert zoo.fsck().clean
    index = PersistentIndex.load(spec_index.folder_for(zoo, "input:8"))
    assert index is not None and sorted(index.names[index.searchable]) == [
        "m.a",
        "m.b",
        "m.crashed",
    ]


def test_damaged_index_is_rebuilt_by_reindex(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "zoo")
    zoo = _zoo(location, None, {"m.a": _spec(0), "m.b": _spec(1)})
    folder = spec_index.folder_for(zoo, "input:8")
    seg = next(folder.glob("seg-*"))
    (seg / "rff.npy").write_bytes(b"not an array")
    assert zoo.fsck().stale_indexes == ["input:8: missing or unreadable"]
    assert main(["zoo", "reindex", "--zoo", location]) == 0
    next(folder.glob("sets/*/*.npy")).write_bytes(b"short")  # a reduced set cut short
    assert zoo.fsck().stale_indexes == ["input:8: 1 reduced sets missing or short"]
    capsys.readouterr()
    assert main(["zoo", "reindex", "--zoo", location, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"spaces": {"input:8": 2}}
    fresh = Zoo.open(location)
    assert fresh.fsck().clean
    assert fresh.search(_spec(1, seed=1), top=1)[0].entry.name == "m.b"


def test_service_loads_the_index_once_and_sees_new_entries(tmp_path: Path) -> None:
    import httpx

    from recycle.service import Settings, create_app
    from recycle.service.auth import create_key
    from service_helpers import ServerThread

    folder = tmp_path / "zoo"
    specs = {"m.a": _spec(0), "m.b": _spec(1)}
    zoo = _zoo(str(folder), None, specs)
    app = create_app(Settings(zoo=str(folder), job_workers=1), zoo=zoo)
    key = create_key(app.state.service.db, "user", "alice")[0]
    query = _spec(2, seed=1)
    body = {"spec": query.to_dict(), "top": 3}
    with (
        ServerThread(app) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client,
    ):
        first = client.post("/specs/search", json=body)
        loaded = zoo.spec_indexes["input:8"][0]
        again = client.post("/specs/search", json=body)
        assert zoo.spec_indexes["input:8"][0] is loaded  # not re-read per request
        assert first.json() == again.json()
        names = [h["name"] for h in first.json()["hits"]]
        assert names == _exact_top(query, specs, loaded.gamma, k=2)
        zoo.register(mlp_source(), mlp_card("m.c"), spec=_spec(2), validate=False)
        hits = client.post("/specs/search", json=body).json()["hits"]
        assert hits[0]["name"] == "m.c"  # a registration is seen by the next request


def test_data_queries_pick_the_zoos_space_or_say_none_fits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recycle.errors import IncompatibleError
    from recycle.spec import choose_space

    location = str(tmp_path / "zoo")
    zoo = _zoo(location, None, {"m.a": _spec(0), "m.b": _spec(1)})
    rows = CENTRES[1] + np.random.default_rng(3).normal(size=(60, DIM))
    assert zoo.search(rows, top=1)[0].entry.name == "m.b"  # no space given: input:8 chosen
    np.savez(tmp_path / "wide.npz", X=np.ones((40, DIM + 1)))
    capsys.readouterr()
    assert main(["search", str(tmp_path / "wide.npz"), "--zoo", location]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line
    assert "No spec in the zoo is comparable with this tabular data (input:9)" in err
    assert "['input:8']" in err
    with pytest.raises(IncompatibleError, match="text data"):
        choose_space(["input:8"], "text", ["a film"])
    assert choose_space(["input:8", "minilm_l6.onnx:384"], "text", ["a film"]) == (
        "minilm_l6.onnx:384"
    )


def test_emptying_a_space_removes_its_index_and_it_comes_back(tmp_path: Path) -> None:
    zoo = _zoo(str(tmp_path / "zoo"), None, {"m.a": _spec(0), "m.b": _spec(1)})
    zoo.remove("m.a")
    zoo.remove("m.b")
    assert zoo.search(_spec(0, seed=1)) == []
    assert not spec_index.folder_for(zoo, "input:8").exists() and zoo.fsck().clean
    zoo.register(mlp_source(), mlp_card("m.c"), spec=_spec(2), validate=False)
    assert [h.entry.name for h in zoo.search(_spec(2, seed=1))] == ["m.c"]
    assert zoo.fsck().clean


def test_sigkill_between_batches_of_a_rebuild_is_not_mistaken_for_current(tmp_path: Path) -> None:
    location = str(tmp_path / "zoo")
    specs = {f"m.{i}": _spec(i) for i in range(3)}
    _zoo(location, None, specs).close()
    code = (
        "import sys; from recycle.zoo import Zoo, spec_index; spec_index.BATCH = 1;"
        "spec_index.sync(Zoo.open(sys.argv[1]), 'input:8', rebuild=True)"
    )
    env = {**os.environ, "RECYCLE_TEST_CRASH_AT": "index_manifest"}
    proc = subprocess.run([sys.executable, "-c", code, location], env=env, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    zoo = Zoo.open(location)
    index = PersistentIndex.load(spec_index.folder_for(zoo, "input:8"))
    assert index is not None and len(index) == 1  # one batch of the rebuild got in
    assert zoo.fsck().stale_indexes == ["input:8: 2 specs missing"]
    hits = zoo.search(_spec(0, seed=1), top=5)  # the partial index is not taken as current
    assert sorted(h.entry.name for h in hits) == sorted(specs)
