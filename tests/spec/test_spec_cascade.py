"""The cascade of a persistent spec index: every stage ranks by ``self_s - 2 v_q . v_s`` (the
stored exact self-term), its top 5 is exact search's, and reduced sets come through the index's
``read_sets`` hook, for the exactly scored specs only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recycle.spec import Spec, build_spec, rank
from recycle.spec.cascade import Stages, vector_pass
from recycle.spec.index import EntryInfo, PersistentIndex, update

DIM = 8
SPACE = f"input:{DIM}"
CENTRES = np.random.default_rng(11).normal(size=(30, DIM)) * 2.0
N = 150


def _spec(i: int, seed: int = 0) -> Spec:
    rng = np.random.default_rng(1000 * seed + i)
    return build_spec(CENTRES[i % len(CENTRES)] + rng.normal(size=(60, DIM)), m=5, seed=i)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spec], list[str]]:
    folder = tmp_path_factory.mktemp("cascade")
    specs = [_spec(i) for i in range(N)]
    ids = [f"{i:032x}" for i in range(N)]
    pairs = [(EntryInfo(e, f"m{i}", "1.0.0", float(i)), s) for i, (e, s) in
             enumerate(zip(ids, specs, strict=True))]  # fmt: skip
    for start in range(0, N, 40):  # several segments
        update(folder, SPACE, pairs[start : start + 40], set(), [start])
    return folder, specs, ids


@pytest.mark.parametrize(
    "stages",
    [Stages(), Stages(one_stage_max=20, prefix=64, shortlist=50)],
    ids=["one stage", "prefix then all features"],
)
def test_cascade_top5_equals_exact_search(
    built: tuple[Path, list[Spec], list[str]], stages: Stages
) -> None:
    folder, specs, ids = built
    index = PersistentIndex.load(folder)
    assert index is not None and len(index.segments) > 1
    for q in range(10):
        query = _spec(q, seed=3)
        res = index.rank(query, exact_work=0, stages=stages)
        assert res.n_exact == 32
        exact = rank(query, specs, gamma=index.gamma)
        assert [str(index.ids[i]) for i in res.order[:5]] == [ids[i] for i in exact.order[:5]]
        np.testing.assert_allclose(res.mmd2[:5], exact.mmd2[:5], rtol=1e-4, atol=1e-7)


def test_every_stage_ranks_by_the_stored_self_term(
    built: tuple[Path, list[Spec], list[str]],
) -> None:
    """The prefix stage's shortlist and the final candidates are the best by
    ``self_s - 2 (D / P) q_P . s_P`` and ``self_s - 2 q . s``, not by vector distance."""
    folder, _, _ = built
    index = PersistentIndex.load(folder)
    assert index is not None
    rff = np.concatenate([s.rff for s in index.segments]).astype(np.float64)
    stages = Stages(one_stage_max=20, prefix=64, shortlist=50)
    scale = rff.shape[1] / stages.prefix
    plain_differs = 0
    for q in range(10):
        query = _spec(q, seed=4)
        v = index.basis.embed(query.Z, query.beta).astype(np.float64)
        prefix = index.self_terms - 2 * scale * (rff[:, : stages.prefix] @ v[: stages.prefix])
        short = set(np.argsort(prefix)[: stages.shortlist].tolist())
        full = index.self_terms - 2 * (rff @ v)
        ranked = [i for i in np.argsort(full) if i in short]
        got = vector_pass(index, v.astype(np.float32), index.searchable, 10, stages)
        assert set(got.tolist()) == set(ranked[:10])
        one = vector_pass(index, v.astype(np.float32), index.searchable, 10, Stages())
        assert set(one.tolist()) == set(np.argsort(full)[:10].tolist())
        plain = ((rff - v) ** 2).sum(axis=1)
        plain_differs += set(np.argsort(plain)[:10].tolist()) != set(one.tolist())
    assert plain_differs > 0  # the check can tell the two scores apart


def test_read_sets_hook_supplies_the_candidates_sets(
    built: tuple[Path, list[Spec], list[str]],
) -> None:
    folder, specs, ids = built
    index = PersistentIndex.load(folder)
    assert index is not None
    by_id = {e: s.Z.astype(np.float32) for e, s in zip(ids, specs, strict=True)}
    asked: list[str] = []

    def generated(where: Path, which: np.ndarray, sizes: np.ndarray, dim: int) -> np.ndarray:
        asked.extend(str(e) for e in which)
        return np.concatenate([by_id[str(e)] for e in which])

    query = _spec(2, seed=5)
    from_files = index.rank(query, exact_work=0)
    index.read_sets = generated
    hooked = index.rank(query, exact_work=0)
    assert sorted(asked) == sorted(str(index.ids[i]) for i in hooked.order)
    assert len(asked) == hooked.n_exact == 32
    assert list(hooked.order) == list(from_files.order)
    np.testing.assert_allclose(hooked.mmd2, from_files.mmd2, rtol=1e-6)
