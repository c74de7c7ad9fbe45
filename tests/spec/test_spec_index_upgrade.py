"""The spec index kept up to date cheaply and upgraded safely: a registration adds its entry
without reading the space's catalog rows (falling back to a full sync when the index missed a
change), and an index written in format 1 (reduced sets inside the segments) is rebuilt by the
first search or by ``fsck --repair`` and then gives the exact top 5."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_spec_index import _exact_top, _spec, _zoo

from recycle.spec import index_files as files
from recycle.spec import rank
from recycle.spec.index import PersistentIndex
from recycle.zoo import Zoo, spec_index
from zoo_helpers import mlp_card, mlp_source

SPACE = "input:8"


def _catalog_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spaces whose catalog rows are read (``spec_index._catalog``: every row of a space)."""
    calls: list[str] = []
    read_rows = spec_index._catalog

    def spy(zoo: Zoo, space: str) -> Any:
        calls.append(space)
        return read_rows(zoo, space)

    monkeypatch.setattr(spec_index, "_catalog", spy)
    return calls


def _index_ids(zoo: Zoo) -> set[str]:
    index = PersistentIndex.load(spec_index.folder_for(zoo, SPACE))
    assert index is not None
    return set(index.ids[index.searchable].tolist())


def _catalog_ids(zoo: Zoo) -> set[str]:
    return {e.id for e in zoo.list(all_versions=True) if e.spec_space == SPACE}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_registration_reads_no_catalog_row_of_the_space(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = {f"m.{i}": _spec(i) for i in range(6)}
    if backend == "sqlite":
        zoo = _zoo(str(tmp_path / "zoo"), None, specs)
    else:  # the catalog's timestamps come back from PostgreSQL with a time zone
        zoo = _zoo(request.getfixturevalue("pg_url"), str(tmp_path / "artifacts"), specs)
    reads = _catalog_reads(monkeypatch)
    for i in range(6, 10):
        specs[f"m.{i}"] = _spec(i)
        zoo.register(mlp_source(), mlp_card(f"m.{i}"), spec=specs[f"m.{i}"], validate=False)
    assert reads == []  # on the old code: one full read of the space per registration
    assert _index_ids(zoo) == _catalog_ids(zoo)
    query = _spec(3, seed=1)
    hits = zoo.search(query, top=5)
    gamma = zoo.spec_indexes[SPACE][0].gamma
    assert [h.entry.name for h in hits] == _exact_top(query, specs, gamma)
    assert reads == []  # the search found the index current (one aggregate query)
    assert zoo.fsck().clean


def test_an_index_that_missed_a_registration_is_synchronised_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zoo = _zoo(str(tmp_path / "zoo"), None, {"m.a": _spec(0), "m.b": _spec(1)})
    after = spec_index.after_register
    monkeypatch.setattr(spec_index, "after_register", lambda *_: None)  # killed after commit
    zoo.register(mlp_source(), mlp_card("m.missed"), spec=_spec(2), validate=False)
    monkeypatch.setattr(spec_index, "after_register", after)
    reads = _catalog_reads(monkeypatch)
    zoo.register(mlp_source(), mlp_card("m.next"), spec=_spec(3), validate=False)
    assert reads == [SPACE]  # the fingerprint without m.next did not match: full sync
    assert _index_ids(zoo) == _catalog_ids(zoo)
    assert zoo.search(_spec(2, seed=1), top=1)[0].entry.name == "m.missed"
    assert zoo.fsck().clean


def _write_format1(folder: Path, index: PersistentIndex) -> None:
    """Replace ``folder`` by ``index`` written in format 1: one segment holding the stacked
    reduced sets (``Z.npy``) beside the weights, vectors and entry arrays, no set files."""
    Z = files.read_sets(folder, index.ids, index.sizes, index.dim)
    beta = np.concatenate([np.asarray(s.beta) for s in index.segments])
    rff = np.concatenate([np.asarray(s.rff) for s in index.segments])
    fields = files.ENTRY_FIELDS
    entries = {k: np.concatenate([s.entries[k] for s in index.segments]) for k in fields}
    manifest = {**index.manifest, "format": "recycle-spec-index/1",
                "segments": [{"name": "seg-0", "entries": len(index.ids)}]}  # fmt: skip
    shutil.rmtree(folder)
    (folder / "seg-0").mkdir(parents=True)
    for name, array in (("Z", Z), ("beta", beta), ("rff", rff)):
        np.save(folder / "seg-0" / f"{name}.npy", array)
    np.savez(folder / "seg-0" / "entries.npz", **entries)
    (folder / files.MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("upgrade", ["first search", "fsck --repair"])
def test_a_format1_index_is_rebuilt_and_gives_the_exact_top5(upgrade: str, tmp_path: Path) -> None:
    specs = {f"m.{i}": _spec(i) for i in range(12)}
    location = str(tmp_path / "zoo")
    zoo = _zoo(location, None, specs)
    folder = spec_index.folder_for(zoo, SPACE)
    index = PersistentIndex.load(folder)
    assert index is not None
    _write_format1(folder, index)
    zoo.close()

    fresh = Zoo.open(location)
    report = fresh.fsck()
    assert report.stale_indexes == [
        f"{SPACE}: in the older format 'recycle-spec-index/1' (the next search or --repair "
        "rebuilds it)"
    ]
    if upgrade == "fsck --repair":
        fresh.fsck(repair=True)
        assert files.read_manifest(folder) is not None  # format 2 again, before any search
    for q in range(4):
        query = _spec(q, seed=2)
        hits = fresh.search(query, top=5)
        gamma = fresh.spec_indexes[SPACE][0].gamma  # of the rebuilt index
        assert [h.entry.name for h in hits] == _exact_top(query, specs, gamma)
        exact = rank(query, list(specs.values()), gamma=gamma)
        np.testing.assert_allclose([h.score for h in hits], exact.mmd2[:5], rtol=1e-4, atol=1e-7)
    assert not (folder / "seg-0").exists()  # the old segment is gone
    assert fresh.fsck().clean
    fresh.register(mlp_source(), mlp_card("m.new"), spec=_spec(20), validate=False)
    assert _index_ids(fresh) == _catalog_ids(fresh)


def test_rebases_read_at_most_spread_over_drift_sets_per_added_spec(
    tmp_path: Path, set_reads: list[int]
) -> None:
    """The documented bound on the bandwidth re-base (recycle.spec.index): with log-gammas
    within ``spread`` of each other, re-bases read <= spread / GAMMA_DRIFT sets per added spec."""
    from recycle.spec import index as index_module
    from recycle.spec.index import EntryInfo, update

    spread, n = 0.5, 150
    rng = np.random.default_rng(3)
    log_gammas = np.log(_spec(0).gamma) + rng.uniform(-spread / 2, spread / 2, size=n)
    gammas = []
    for i in range(n):
        spec = _spec(i)
        spec.gamma = float(np.exp(log_gammas[i]))
        update(tmp_path, SPACE, [(EntryInfo(f"{i:032x}", f"m{i}", "1.0.0", i), spec)], set(), [i])
        gammas.append(files.read_manifest(tmp_path)["gamma"])  # type: ignore[index]
    rebases = len(set(gammas))
    assert rebases > 2  # the test exercises re-bases (the mean moves early on)
    assert sum(set_reads) <= spread / index_module.GAMMA_DRIFT * n
    final = PersistentIndex.load(tmp_path)
    assert final is not None
    assert abs(np.log(final.gamma) - log_gammas.mean()) <= index_module.GAMMA_DRIFT
