"""Search the zoo with a user's specification: the user sends a spec, never raw data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from recycle.service.deps import ReadKey, StateDep
from recycle.service.schemas import SearchHitOut, SearchOut, SearchRequest, error_responses

router = APIRouter(
    prefix="/specs", tags=["specs"], responses=error_responses(400, 401, 403, 413, 422, 429)
)


def _hit(hit: Any) -> SearchHitOut:
    entry = getattr(hit, "entry", hit)
    return SearchHitOut(
        id=str(entry.id),
        name=str(entry.name),
        version=entry.version,
        score=float(hit.score),
    )


@router.post("/search")
def search(body: SearchRequest, state: StateDep, key: ReadKey) -> SearchOut:
    """Rank the zoo's entries by similarity of their specs to the uploaded one (best first)."""
    from recycle.spec import Spec

    spec = Spec.from_dict(body.spec)
    hits = state.zoo.search(spec, top=body.top, space=body.space)
    return SearchOut(hits=[_hit(h) for h in hits])
