"""A model name belongs to one provider, decided by a ``names`` row, also under a race.

Written against the code that checked the owner by reading the name's oldest entry inside the
registration's transaction: on PostgreSQL (READ COMMITTED) two providers registering the same
new name at the same instant both passed that check and both committed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from recycle.errors import DuplicateError, ForbiddenError
from recycle.zoo import Zoo, registration
from zoo_helpers import mlp_card, mlp_source

MEET_TIMEOUT_S = 3.0  # how long a registration waits for the other at its commit point


def _location(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return str(tmp_path / "zoo"), None
    return request.getfixturevalue("pg_url"), str(tmp_path / "artifacts")


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_providers_racing_for_a_new_name_one_wins_the_other_gets_409(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location, artifacts = _location(backend, request, tmp_path)
    zoos = [Zoo.open(location, artifacts=artifacts) for _ in range(2)]  # two server processes
    arrived, both = [], threading.Event()
    lock = threading.Lock()

    def meet(point: str) -> None:
        """Hold each registration just before its commit until the other one is there too
        (or a timeout, when the other is blocked by this one's claim on the name)."""
        if point != "before_commit":
            return
        with lock:
            arrived.append(point)
            if len(arrived) == 2:
                both.set()
        both.wait(MEET_TIMEOUT_S)

    checked = threading.Barrier(2, timeout=MEET_TIMEOUT_S * 10)
    early_check = registration.check_name

    def check_then_wait(zoo: Zoo, card: Any) -> None:
        """Both pass the early name check before either commits: otherwise, on a loaded machine,
        the first can commit before the second checks, and the second's 403 is right."""
        early_check(zoo, card)
        checked.wait()

    monkeypatch.setattr(registration, "check_name", check_then_wait)
    monkeypatch.setattr(registration, "crash_point", meet)
    outcome: dict[str, Any] = {}

    def register(zoo: Zoo, provider: str, seed: int) -> None:
        card = mlp_card("shared.pca", f"{seed}.0.0", provider=provider)  # versions differ
        try:
            outcome[provider] = zoo.register(mlp_source(seed), card, validate=False)
        except Exception as exc:  # the test inspects what each got
            outcome[provider] = exc

    threads = [
        threading.Thread(target=register, args=(zoo, provider, seed))
        for zoo, provider, seed in ((zoos[0], "acme", 1), (zoos[1], "evil", 2))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    errors = [v for v in outcome.values() if isinstance(v, Exception)]
    winners = [k for k, v in outcome.items() if not isinstance(v, Exception)]
    assert len(winners) == 1 and len(errors) == 1, outcome
    assert isinstance(errors[0], DuplicateError), repr(errors[0])  # 409 in the service
    assert f"registered by provider {winners[0]!r}" in str(errors[0])
    listed = [e for e in zoos[0].list(all_versions=True) if e.name == "shared.pca"]
    assert [e.card.provider for e in listed] == winners
    assert registration.owner_of(zoos[1], "shared.pca") == (True, winners[0])
    for zoo in zoos:
        zoo.close()


def test_a_name_stays_its_owners_after_its_entries_are_removed(tmp_path: Path) -> None:
    zoo = Zoo.open(tmp_path / "zoo")
    zoo.register(mlp_source(1), mlp_card("acme.pca", provider="acme"), validate=False)
    zoo.remove("acme.pca")
    with pytest.raises(ForbiddenError, match="belongs to provider 'acme'"):
        zoo.register(mlp_source(2), mlp_card("acme.pca", provider="evil"), validate=False)
    entry = zoo.register(mlp_source(3), mlp_card("acme.pca", "2.0.0", provider="acme"),
                         validate=False)  # fmt: skip
    assert entry.card.provider == "acme"
    zoo.close()


def test_the_migration_gives_each_existing_name_to_its_first_provider(tmp_path: Path) -> None:
    import datetime as dt

    import sqlalchemy as sa
    from alembic import command

    from recycle.zoo.catalog import _config, current_revision, open_engine, upgrade

    engine = open_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    cfg = _config()
    with engine.begin() as conn:  # a catalog written before this migration
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [("a.pca", "1.0.0", "acme", 0), ("a.pca", "2.0.0", "evil", 1),  # squatted before
            ("b.pca", "1.0.0", "globex", 2)]  # fmt: skip
    with engine.begin() as conn:
        for i, (name, version, provider, day) in enumerate(rows):
            conn.execute(
                sa.text(
                    "INSERT INTO entries (id, name, version, modality, task, access, license, "
                    "provider, description, card_json, artifact_sha256, size_bytes, created) "
                    "VALUES (:id, :name, :version, 'tabular', 't', 'white-box', 'MIT', "
                    ":provider, '', '{}', :sha, 0, :created)"
                ),
                {
                    "id": f"{i:032x}",
                    "name": name,
                    "version": version,
                    "provider": provider,
                    "sha": "0" * 64,
                    "created": t0 + dt.timedelta(days=day),
                },
            )
    upgrade(engine)
    assert current_revision(engine) == "0002"
    with engine.connect() as conn:
        owners = dict(conn.execute(sa.text("SELECT name, provider FROM names")).all())
    assert owners == {"a.pca": "acme", "b.pca": "globex"}
    engine.dispose()
