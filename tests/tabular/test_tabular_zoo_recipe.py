"""A tabular zoo built by an older recipe is brought up to date by the next build: each source's
spec carries its recipe's fingerprint, and an entry whose fingerprint differs gets a new version
(the old one stays), which search then uses. Entries of other providers are left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recycle.spec import build_spec
from recycle.tabular.market import entry_spec
from recycle.tabular.zoo import build_tabular_zoo, cached_source, provider_split, table
from recycle.zoo import ModelCard, Zoo


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recipe") / "cache"


def _old_recipe_zoo(path: Path, cache: Path, provider: str = "recycle demo") -> Any:
    """A zoo holding hgb.mlc_churn as the recipe before scaled specs registered it: plain spec."""
    source, card, _ = cached_source(table("mlc_churn"), "hgb", cache)
    ds = provider_split(table("mlc_churn"))
    plain = build_spec(ds.X_train, m=50, seed=0)
    zoo = Zoo.open(path)
    card = ModelCard.from_dict({**card.to_dict(), "provider": provider})
    zoo.register(source, card, spec=plain)
    return zoo


def test_an_entry_of_an_older_recipe_is_updated_and_searched(tmp_path: Path, cache: Path) -> None:
    zoo = _old_recipe_zoo(tmp_path / "zoo", cache)
    assert "scaled" not in entry_spec(zoo, zoo.get("hgb.mlc_churn")).meta
    build = build_tabular_zoo(zoo, tables=["mlc_churn"], kinds=["hgb"], cache_dir=cache)
    assert (build.registered, build.updated, build.present) == ([], ["hgb.mlc_churn"], [])
    latest = zoo.get("hgb.mlc_churn")
    assert latest.version == "1.1.0"
    meta = entry_spec(zoo, latest).meta
    assert "scaled" in meta and meta["recipe"] == build.fingerprints["hgb.mlc_churn"]
    assert len(zoo.list(all_versions=True)) == 2  # the old version is kept, never deleted
    rows = provider_split(table("mlc_churn")).X_test[:80]
    hit = zoo.search(rows, top=1)[0]
    assert hit.entry.id == latest.id  # search reads the new version's (scaled) spec
    again = build_tabular_zoo(zoo, tables=["mlc_churn"], kinds=["hgb"], cache_dir=cache)
    assert (again.registered, again.updated, again.present) == ([], [], ["hgb.mlc_churn"])


def test_another_providers_entry_of_the_same_name_is_left_alone(
    tmp_path: Path, cache: Path
) -> None:
    zoo = _old_recipe_zoo(tmp_path / "zoo", cache, provider="someone else")
    build = build_tabular_zoo(zoo, tables=["mlc_churn"], kinds=["hgb"], cache_dir=cache)
    assert (build.updated, build.present) == ([], ["hgb.mlc_churn"])
    assert len(zoo.list(all_versions=True)) == 1
