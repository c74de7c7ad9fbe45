"""benchmarks/search_index.py: the index it writes directly (vectors and self-terms from atom
sums, reduced sets generated from entry ids) is the index ``update()`` builds from the sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recycle.spec.index import PersistentIndex
from script_helpers import ROOT, load_script


@pytest.fixture(scope="module")
def bench(request: pytest.FixtureRequest) -> object:
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT / "benchmarks"))
        module = load_script("search_index", "benchmarks")
        yield module


def test_direct_build_equals_update(bench: object, tmp_path: Path) -> None:
    out = bench.check(300, tmp_path)  # type: ignore[attr-defined]
    assert out["same_top10"] == out["searches"] == 20
    assert out["vector_max_abs_diff"] < 1e-6
    assert out["self_term_max_rel_diff"] < 1e-5
    assert out["top10_mmd2_max_abs_diff"] < 1e-6


def test_generated_sets_are_the_entries_reduced_sets(bench: object, tmp_path: Path) -> None:
    """The sets generated from ids are the ones the set files would hold, for any order."""
    atoms_mod = load_script("_atoms", "benchmarks")
    base = atoms_mod.setup()
    atoms = base.atoms(40)
    bench.build_direct(tmp_path, base, atoms, write_sets=True)  # type: ignore[attr-defined]
    index = PersistentIndex.load(tmp_path)
    assert index is not None
    pos = np.array([7, 3, 39, 0])
    from_files, _ = index.rows(pos)
    index.read_sets = atoms_mod.GeneratedSets(base, atoms)
    generated, _ = index.rows(pos)
    np.testing.assert_array_equal(generated, from_files)
