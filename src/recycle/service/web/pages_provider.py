"""The provider's pages: register a model (card form + artifact and spec upload), their models.

Registering calls the API's ``POST /models`` handler
(:func:`recycle.service.routers.models.register`) with the card the form describes, so the card
checks, the artifact checker (no pickles; load-and-run in a limited process) and name
ownership are the API's; the error it raises is shown next to the form field it names.
"Use" of a model is the number of selection and fit jobs that ran on it.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, File, Request, Response, UploadFile

from recycle.errors import CardError, RecycleError, SpecError
from recycle.service.db import JOBS
from recycle.service.deps import StateDep
from recycle.service.routers import models as models_api
from recycle.service.web.render import WebRoute, redirect, render
from recycle.service.web.session import Csrf, WebProvider

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CARD_FIELD = re.compile(r"[Cc]ard field '([a-z_.]+)'")
#: Card fields whose form input has another name than the field with "." -> "_".
FIELD_OF_CARD = {
    "input": "value_low",
    "input.value_range": "value_low",
    "output.feature_dim": "feature_dim",
    "output.source_classes": "source_classes",
}
DTYPES = ("float32", "uint8", "str")
MODALITIES = ("tabular", "image", "text")
EMPTY_FORM = {"name": "", "version": "1.0.0", "modality": "tabular", "task": "classification",
              "access": "white-box", "license": "", "description": "", "input_shape": "",
              "input_dtype": "float32", "value_low": "", "value_high": "", "feature_dim": "",
              "source_classes": "", "training_data_description": ""}  # fmt: skip


FORM_FIELDS = {*EMPTY_FORM, "card", "files", "config", "spec"}


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    except ValueError:
        raise CardError(f"Card field '{what}' must be whole numbers separated by commas.") from None


def card_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The card JSON the form describes (the card itself validates it).

    Examples
    --------
    >>> card_from_form({**EMPTY_FORM, "name": "a.b", "input_shape": "28, 28",
    ...                 "feature_dim": "8"})["input"]
    {'shape': [28, 28], 'dtype': 'float32'}
    """
    low, high = form["value_low"].strip(), form["value_high"].strip()
    value_range = None
    if low or high:
        try:
            value_range = [float(low), float(high)]
        except ValueError:
            msg = "Card field 'input.value_range' needs two numbers, low and high."
            raise CardError(msg) from None
    dim = _ints(form["feature_dim"], "output.feature_dim")
    card: dict[str, Any] = {
        "name": form["name"].strip(),
        "version": form["version"].strip(),
        "modality": form["modality"],
        "task": form["task"].strip(),
        "access": form["access"],
        "license": form["license"].strip(),
        "description": form["description"],
        "input": {"shape": _ints(form["input_shape"], "input.shape"), "dtype": form["input_dtype"]},
        "output": {
            "feature_dim": dim[0] if len(dim) == 1 else form["feature_dim"],
            "source_classes": [c.strip() for c in form["source_classes"].split(",") if c.strip()],
        },
        "training_data": {"description": form["training_data_description"]},
    }
    if value_range is not None:
        card["input"]["value_range"] = value_range
    if not card["output"]["source_classes"]:
        del card["output"]["source_classes"]
    return card


def _field_of(exc: RecycleError) -> str:
    """The form field an API error is about (``card`` when the card as a whole)."""
    m = CARD_FIELD.search(str(exc))
    if m:
        name = m.group(1)
        return FIELD_OF_CARD.get(name, name.replace(".", "_"))
    if isinstance(exc, CardError):
        return "card"
    if isinstance(exc, SpecError) or "spec" in str(exc).split(" ")[:6]:
        return "spec"
    if "config" in str(exc).lower()[:80]:
        return "config"
    return "files"


def _page(request: Request, form: dict[str, str], errors: dict[str, str], code: int = 200) -> Any:
    # an error about no field of the form (e.g. the name belongs to another provider) goes on top
    unplaced = [msg for name, msg in errors.items() if name not in FORM_FIELDS]
    return render(request, "register.html", code, form=form, errors=errors, dtypes=DTYPES,
                  modalities=MODALITIES, unplaced=unplaced)  # fmt: skip


@router.get("/web/register")
def register_page(request: Request, key: WebProvider) -> Response:
    return _page(request, dict(EMPTY_FORM), {})


@router.post("/web/register", dependencies=[Csrf])
async def register(
    request: Request,
    state: StateDep,
    key: WebProvider,
    files: Annotated[list[UploadFile], File()],
    config: Annotated[UploadFile, File()],
    spec: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Register through the API's handler; on error, the form again with the message."""
    raw_form = await request.form()
    form = {k: str(raw_form.get(k, v))[:2000] for k, v in EMPTY_FORM.items()}
    try:
        card = card_from_form(form)
        spec_text = None
        if spec is not None and spec.filename:
            spec_text = (await spec.read()).decode("utf-8", errors="replace")
        config_text = (await config.read()).decode("utf-8", errors="replace")
        entry = models_api.register(
            request=request,
            state=state,
            key=key,
            card=json.dumps(card),
            files=[f for f in files if f.filename],
            config=config_text or None,
            spec=spec_text,
        )
    except RecycleError as exc:
        return _page(request, form, {_field_of(exc): str(exc)}, 422)
    return redirect(f"/web/models/{entry.id}?registered=1")


def _use_counts(state: Any, ids: set[str]) -> dict[str, int]:
    """Jobs that ran on each model: ids named in ``params.sources``, or all when none named."""
    with state.db.engine.connect() as conn:
        params = conn.execute(sa.select(JOBS.c.params)).scalars().all()
    counts = dict.fromkeys(ids, 0)
    for text in params:
        sources = json.loads(text).get("sources")
        for i in ids if sources is None else set(sources) & ids:
            counts[i] += 1
    return counts


@router.get("/web/mine")
def my_models(request: Request, state: StateDep, key: WebProvider) -> Response:
    """The key owner's models (every version) and how often jobs used them."""
    listing = models_api.list_models(state, key, provider=key.owner, all_versions=True)
    counts = _use_counts(state, {m.id for m in listing.items})
    return render(request, "mine.html", models=listing.items, counts=counts)


@router.post("/web/models/{model_id}/remove", dependencies=[Csrf])
def remove(request: Request, state: StateDep, key: WebProvider, model_id: str) -> Response:
    """Remove one's own model (the API's ``DELETE /models/{id}``)."""
    models_api.remove(request, model_id, state, key)
    return redirect("/web/mine")
