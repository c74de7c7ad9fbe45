"""The zoo's catalog and artifact store, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest

from recycle.errors import (
    CardError,
    ConfigError,
    DuplicateError,
    IntegrityError,
    ModelNotFoundError,
)
from recycle.zoo import Zoo
from zoo_helpers import mlp_card, mlp_source

X = np.random.default_rng(0).uniform(-1, 1, size=(5, 4)).astype(np.float32)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def zoo(request: pytest.FixtureRequest, tmp_path: Path) -> Zoo:
    if request.param == "sqlite":
        z = Zoo.open(tmp_path / "zoo")
    else:
        z = Zoo.open(request.getfixturevalue("pg_url"), artifacts=tmp_path / "artifacts")
    yield z
    z.close()


def test_open_creates_sqlite_catalog_and_store(tmp_path: Path) -> None:
    zoo = Zoo.open(tmp_path / "zoo")
    assert (tmp_path / "zoo" / "catalog.db").is_file()
    assert (tmp_path / "zoo" / "artifacts").is_dir()
    assert zoo.list() == [] and zoo.fsck().clean


def test_register_get_load(zoo: Zoo) -> None:
    src = mlp_source(seed=1)
    entry = zoo.register(src, mlp_card("mlp.one"), validate=False)
    assert len(entry.id) == 32 and int(entry.id, 16) >= 0
    for ref in ("mlp.one", entry.id, "mlp.one@1.0.0"):
        assert zoo.get(ref).id == entry.id
    loaded = zoo.load("mlp.one")
    np.testing.assert_allclose(loaded.embed(X), src.embed(X), rtol=1e-6)
    assert loaded.source_id.startswith("mlp.one@1.0.0#")
    assert zoo.get(loaded.source_id).id == entry.id
    assert zoo.get(entry.id).card == entry.card
    with pytest.raises(ModelNotFoundError, match=r"mlp\.two"):
        zoo.get("mlp.two")


def test_list_and_filters(zoo: Zoo) -> None:
    zoo.register(mlp_source(1), mlp_card("mlp.alpha", license="MIT"), validate=False)
    zoo.register(
        mlp_source(2),
        mlp_card("mlp.beta", license="Apache-2.0", provider="acme", task="classification",
                 description="Digits 100% model_x"),
        validate=False,
    )  # fmt: skip
    zoo.register(mlp_source(3), mlp_card("other.gamma"), validate=False)
    assert [e.name for e in zoo.list()] == ["mlp.alpha", "mlp.beta", "other.gamma"]
    assert [e.name for e in zoo.list(license="Apache-2.0")] == ["mlp.beta"]
    assert [e.name for e in zoo.list(provider="acme")] == ["mlp.beta"]
    assert [e.name for e in zoo.list(task="classification")] == ["mlp.beta"]
    assert [e.name for e in zoo.list(modality="tabular", access="white-box")] == [
        "mlp.alpha",
        "mlp.beta",
        "other.gamma",
    ]
    assert zoo.list(modality="image") == []
    assert [e.name for e in zoo.list(query="MLP.")] == ["mlp.alpha", "mlp.beta"]
    assert [e.name for e in zoo.list(query="DIGITS")] == ["mlp.beta"]
    # LIKE wildcards in the query are literal characters
    assert [e.name for e in zoo.list(query="100%")] == ["mlp.beta"]
    assert [e.name for e in zoo.list(query="%")] == ["mlp.beta"]
    assert [e.name for e in zoo.list(query="p_b")] == []
    with pytest.raises(ConfigError, match="modality"):
        zoo.list(modality="audio")


def test_versions_coexist_and_latest_resolves(zoo: Zoo) -> None:
    for i, version in enumerate(["1.2.0", "1.10.0", "1.0", "2.0.0-rc1"]):
        zoo.register(mlp_source(i), mlp_card("mlp.v", version=version), validate=False)
    assert zoo.get("mlp.v").version == "2.0.0-rc1"
    assert sorted(e.version for e in zoo.list(all_versions=True)) == [
        "1.0",
        "1.10.0",
        "1.2.0",
        "2.0.0-rc1",
    ]
    assert [e.version for e in zoo.list()] == ["2.0.0-rc1"]
    zoo.register(mlp_source(9), mlp_card("mlp.v", version="2.0.0"), validate=False)
    assert zoo.get("mlp.v").version == "2.0.0"  # a release beats its pre-release
    np.testing.assert_allclose(
        zoo.load("mlp.v", version="1.10.0").embed(X), mlp_source(1).embed(X), rtol=1e-6
    )


def test_duplicate_is_an_error_and_stores_nothing(zoo: Zoo) -> None:
    zoo.register(mlp_source(1), mlp_card("mlp.dup"), validate=False)
    before = zoo.stats()
    with pytest.raises(DuplicateError, match=r"mlp.dup@1.0.0"):
        zoo.register(mlp_source(2), mlp_card("mlp.dup"), validate=False)
    assert zoo.stats() == before and zoo.fsck().clean


def test_remove_and_reregister(zoo: Zoo) -> None:
    first = zoo.register(mlp_source(1), mlp_card("mlp.r"), validate=False)
    zoo.register(mlp_source(2), mlp_card("mlp.r", version="2.0.0"), validate=False)
    removed = zoo.remove("mlp.r", version="2.0.0")
    assert [e.version for e in removed] == ["2.0.0"]
    assert zoo.get("mlp.r").id == first.id
    zoo.remove("mlp.r")  # all remaining versions
    with pytest.raises(ModelNotFoundError):
        zoo.get("mlp.r")
    assert zoo.stats() == {"entries": 0, "blobs": 0, "bytes": 0}
    assert list(zoo.store.iter_blobs()) == []
    again = zoo.register(mlp_source(3), mlp_card("mlp.r"), validate=False)
    assert again.id != first.id
    np.testing.assert_allclose(zoo.load("mlp.r").embed(X), mlp_source(3).embed(X), rtol=1e-6)
    with pytest.raises(ModelNotFoundError):
        zoo.remove("mlp.nothing")


def test_remove_then_add_never_reuses_ids_or_overwrites(zoo: Zoo) -> None:
    a = zoo.register(mlp_source(1), mlp_card("mlp.a"), validate=False)
    b = zoo.register(mlp_source(2), mlp_card("mlp.b"), validate=False)
    b_files = {sha: Path(zoo.store.path(sha)) for sha in zoo.store.iter_blobs()}
    b_stat = {sha: (p.stat().st_ino, p.stat().st_mtime_ns) for sha, p in b_files.items()}
    zoo.remove(a.id)
    seen = {a.id, b.id}
    for i in range(5):
        e = zoo.register(mlp_source(10 + i), mlp_card("mlp.a"), validate=False)
        assert e.id not in seen
        seen.add(e.id)
        zoo.remove(e.id)
    for sha, path in b_files.items():  # b's blobs still there, same file, same bytes
        if path.exists():
            assert (path.stat().st_ino, path.stat().st_mtime_ns) == b_stat[sha]
    zoo.store.verify(zoo.get("mlp.b").artifact_sha256)
    np.testing.assert_allclose(zoo.load("mlp.b").embed(X), mlp_source(2).embed(X), rtol=1e-6)


def test_same_bytes_share_one_blob_refcounted(zoo: Zoo) -> None:
    zoo.register(mlp_source(1), mlp_card("mlp.x"), validate=False)
    one = zoo.stats()
    zoo.register(mlp_source(1), mlp_card("mlp.y"), validate=False)
    assert zoo.stats()["blobs"] == one["blobs"]  # weights and manifest shared
    zoo.remove("mlp.x")
    assert zoo.stats()["blobs"] == one["blobs"]  # still used by mlp.y
    np.testing.assert_allclose(zoo.load("mlp.y").embed(X), mlp_source(1).embed(X), rtol=1e-6)
    zoo.remove("mlp.y")
    assert zoo.stats()["blobs"] == 0 and list(zoo.store.iter_blobs()) == []


def test_corrupted_artifact_is_detected_on_load(zoo: Zoo) -> None:
    entry = zoo.register(mlp_source(1), mlp_card("mlp.c"), validate=False)
    manifest = zoo.store.read(entry.artifact_sha256)
    weights = [s for s in zoo.store.iter_blobs() if s != entry.artifact_sha256]
    assert manifest and len(weights) == 1
    path = Path(zoo.store.path(weights[0]))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip the last byte of the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="corrupted"):
        zoo.load("mlp.c")
    assert zoo.fsck(verify=True).corrupt_blobs == [weights[0]]


def test_white_box_family_stores_backbone_once(zoo: Zoo) -> None:
    from recycle.sources import TorchSource, serialize
    from recycle.sources.arch import build_architecture

    net = build_architecture("mlp", in_features=4, hidden=[256, 256], out_features=32)
    backbone_src = TorchSource(net, "tabular:identity", 32, source_id="mlp.backbone")
    backbone = zoo.register(
        backbone_src, mlp_card("mlp.backbone", output={"feature_dim": 32}), validate=False
    )
    backbone_bytes = backbone.size_bytes
    for i in range(3):
        config, files = serialize(mlp_source(100 + i, d_in=4, d_out=6, arch="linear"))
        config["parents"] = [backbone.id]
        entry = zoo.register_files(config, files, mlp_card(f"mlp.adapter{i}"), validate=False)
        assert entry.parents == [backbone.id] and entry.card.lineage.parents == [backbone.id]
        assert entry.size_bytes < backbone_bytes / 10
    stats = zoo.stats()
    adapters_bytes = sum(e.size_bytes for e in zoo.list(query="adapter"))
    # every weight file once: the backbone is not copied per adapter
    weight_bytes = sum(
        zoo.store.size(s) for s in zoo.store.iter_blobs() if s not in _manifests(zoo)
    )
    assert weight_bytes == backbone_bytes + adapters_bytes
    assert stats["blobs"] == 2 + 3 * 2  # (weights + manifest) per entry
    zoo.load("mlp.adapter1")
    assert backbone.id in zoo._loaded  # parents load first
    with pytest.raises(ConfigError, match="parent"):
        zoo.remove("mlp.backbone")
    for i in range(3):
        zoo.remove(f"mlp.adapter{i}")
    zoo.remove("mlp.backbone")
    assert zoo.stats()["blobs"] == 0


def _manifests(zoo: Zoo) -> set[str]:
    return {e.artifact_sha256 for e in zoo.list(all_versions=True)}


def test_parent_must_exist(zoo: Zoo) -> None:
    from recycle.sources import serialize

    config, files = serialize(mlp_source(1))
    config["parents"] = [uuid.uuid4().hex]
    with pytest.raises(ModelNotFoundError):
        zoo.register_files(config, files, mlp_card("mlp.orphan"), validate=False)
    assert zoo.stats()["blobs"] == 0


def test_specs_and_search(zoo: Zoo) -> None:
    from recycle.spec import build_spec

    rng = np.random.default_rng(0)
    for i, mu in enumerate([0.0, 3.0, -3.0]):
        spec = build_spec(rng.normal(mu, 1.0, size=(200, 4)).astype(np.float32), m=10, seed=0)
        zoo.register(mlp_source(i), mlp_card(f"mlp.s{i}"), spec=spec, validate=False)
    zoo.register(mlp_source(9), mlp_card("mlp.nospec"), validate=False)
    pairs = zoo.specs("input:4")
    assert sorted(e.name for e, _ in pairs) == ["mlp.s0", "mlp.s1", "mlp.s2"]
    assert all(sp.space == "input:4" for _, sp in pairs)
    hits = zoo.search(rng.normal(3.0, 1.0, size=(150, 4)).astype(np.float32), top=2)
    assert [h.rank for h in hits] == [1, 2] and hits[0].entry.name == "mlp.s1"
    assert hits[0].score <= hits[1].score
    query = build_spec(rng.normal(-3.0, 1.0, size=(150, 4)).astype(np.float32), m=10)
    assert zoo.search(query, top=1)[0].entry.name == "mlp.s2"
    assert zoo.search(query, space="input:4")[0].entry.name == "mlp.s2"


def test_card_must_match_model(tmp_path: Path) -> None:
    zoo = Zoo.open(tmp_path / "zoo")
    with pytest.raises(CardError, match="feature_dim"):
        zoo.register(mlp_source(1), mlp_card(output={"feature_dim": 7}), validate=False)
    with pytest.raises(CardError, match="modality"):
        zoo.register(
            mlp_source(1),
            mlp_card(modality="image", input={"shape": [2, 2], "dtype": "uint8",
                                              "value_range": [0, 255]}),
            validate=False,
        )  # fmt: skip
    assert zoo.stats()["blobs"] == 0


def test_fsspec_artifact_store(tmp_path: Path) -> None:
    url = f"memory://zoo-{uuid.uuid4().hex}"
    zoo = Zoo.open(f"sqlite:///{tmp_path / 'catalog.db'}", artifacts=url)
    zoo.register(mlp_source(4), mlp_card("mlp.mem"), validate=False)
    assert not any(tmp_path.glob("**/artifacts"))
    np.testing.assert_allclose(zoo.load("mlp.mem").embed(X), mlp_source(4).embed(X), rtol=1e-6)
    assert zoo.fsck(verify=True).clean


def test_url_needs_artifact_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECYCLE_ARTIFACTS", raising=False)
    with pytest.raises(ConfigError, match="artifact"):
        Zoo.open("postgresql+psycopg2://nobody@127.0.0.1:1/none")


def test_blob_paths_derive_from_hash_only(tmp_path: Path) -> None:
    zoo = Zoo.open(tmp_path / "zoo")
    zoo.register(mlp_source(1), mlp_card("mlp.p"), validate=False)
    blobs = list(zoo.store.iter_blobs())
    for sha in blobs:  # content addressed: path is derived from the hash only
        assert Path(zoo.store.path(sha)).relative_to(tmp_path / "zoo" / "artifacts")
        assert os.path.basename(zoo.store.path(sha)) == sha[2:]


def test_failed_commit_removes_only_unshared_blobs(
    zoo: Zoo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recycle.sources import serialize
    from recycle.zoo import registration

    first = zoo.register(mlp_source(1), mlp_card("mlp.keep"), validate=False)
    kept = set(zoo.store.iter_blobs())
    config, files = serialize(mlp_source(1))  # same weights bytes as mlp.keep
    files["extra.bin"] = b"only this registration has these bytes"
    # skip the early duplicate check so the failure happens at commit, after the blobs exist
    monkeypatch.setattr(registration, "check_free", lambda *a: None)
    with pytest.raises(DuplicateError):
        zoo.register_files(config, files, mlp_card("mlp.keep"), validate=False)
    assert set(zoo.store.iter_blobs()) == kept  # shared blob kept, the new one removed
    assert zoo.fsck(verify=True).clean
    assert zoo.get("mlp.keep").id == first.id
    np.testing.assert_allclose(zoo.load("mlp.keep").embed(X), mlp_source(1).embed(X), rtol=1e-6)
