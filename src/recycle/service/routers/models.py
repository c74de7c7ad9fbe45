"""Models: register (card + artifact files + optional spec), list, show, remove.

Upload format (multipart/form-data), one request per model:

- ``card``: the model card JSON (:class:`recycle.zoo.ModelCard`); ``provider`` is set to the
  key's owner (admins may register for anyone);
- ``config``: the serialization config JSON of :func:`recycle.sources.serialize` (``format``
  one of ``safetensors``, ``onnx``, ``skops``; an architecture by name + JSON kwargs);
- ``files``: the artifact files, named ``[A-Za-z0-9][A-Za-z0-9._-]*`` with suffix
  ``.safetensors``, ``.onnx``, ``.skops`` or ``.json`` (never a pickle: pickle bytes are refused
  whatever their name);
- ``spec``: optional spec JSON (:class:`recycle.spec.Spec`), computed by the provider locally.

The multipart parser spools files to disk (the body limit applies); they pass the zoo's
checker through :meth:`Zoo.register_files` (pickles and lying safetensors headers refused
without loading, then load-and-run in a separate process with time and memory limits), so
nothing uploaded is ever loaded in the server process before it is accepted; the entry becomes
visible only once stored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from recycle.errors import CardError, ForbiddenError, UnsafeContentError, ValidationError
from recycle.service.auth import KeyInfo
from recycle.service.deps import ProviderKey, ReadKey, StateDep
from recycle.service.schemas import ModelList, ModelOut, check_id, error_responses
from recycle.service.target import parse_json

router = APIRouter(
    prefix="/models",
    tags=["models"],
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 429),
)

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ALLOWED_SUFFIXES = (".safetensors", ".onnx", ".skops", ".json")
UPLOAD_FORMATS = ("safetensors", "onnx", "skops")
MAX_FILES = 16


def entry_out(entry: Any) -> ModelOut:
    """A :class:`ZooEntry` as the API model."""
    card = entry.card.to_dict() if hasattr(entry.card, "to_dict") else dict(entry.card)
    created = getattr(entry, "created", None)
    return ModelOut(
        id=str(entry.id),
        name=str(entry.name),
        version=entry.version,
        card=card,
        artifact_sha256=getattr(entry, "artifact_sha256", None),
        spec_space=getattr(entry, "spec_space", None),
        created=created.isoformat() if created is not None else None,
    )


def _json_field(text: str, what: str, error: type[Exception], max_depth: int) -> dict[str, Any]:
    value = parse_json(text, max_depth, what, error)
    if not isinstance(value, dict):
        raise error(f"The '{what}' field must be a JSON object; got {type(value).__name__}.")
    return value  # type: ignore[no-any-return]


def _read_uploads(files: list[UploadFile]) -> dict[str, bytes]:
    if not files or len(files) > MAX_FILES:
        raise ValidationError(f"Send 1 to {MAX_FILES} artifact files; got {len(files)}.")
    out: dict[str, bytes] = {}
    for f in files:
        name = f.filename or ""
        if not FILE_NAME.match(name) or ".." in name:
            raise ValidationError(
                f"Artifact file name {name[:80]!r} is not allowed; use letters, digits and ._- "
                "only (no paths)."
            )
        if not name.endswith(ALLOWED_SUFFIXES):
            raise UnsafeContentError(
                f"Artifact {name!r} has a refused type; upload {list(ALLOWED_SUFFIXES)} only "
                "(weights as safetensors/ONNX/skops, never pickles)."
            )
        if name in out:
            raise ValidationError(f"Artifact file name {name!r} appears twice.")
        out[name] = f.file.read()  # spooled to disk by the multipart parser; body limit applies
    return out


def _config_for(config: str | None, max_depth: int) -> dict[str, Any]:
    if config is None:
        raise ValidationError(
            "Missing 'config': send the serialization config JSON of "
            "recycle.sources.serialize(model) with the artifact files."
        )
    cfg = _json_field(config, "config", ValidationError, max_depth)
    if cfg.get("format") not in UPLOAD_FORMATS:
        raise UnsafeContentError(
            f"Upload format must be one of {list(UPLOAD_FORMATS)}; got {cfg.get('format')!r}."
        )
    for pid in cfg.get("parents", []) or []:
        check_id(str(pid))
    return cfg


def _owned(entry: Any, key: KeyInfo) -> None:
    provider = getattr(entry.card, "provider", None)
    if key.role != "admin" and provider != key.owner:
        raise ForbiddenError(
            f"Model {entry.id} belongs to provider {provider!r}; key {key.id} (owner "
            f"{key.owner!r}) may only change its own models."
        )


@router.post("", status_code=201, response_model=ModelOut)
def register(
    request: Request,
    state: StateDep,
    key: ProviderKey,
    card: Annotated[str, Form(description="model card JSON")],
    files: Annotated[list[UploadFile], File(description="artifact files")],
    config: Annotated[str | None, Form(description="serialization config JSON")] = None,
    spec: Annotated[str | None, Form(description="spec JSON (optional)")] = None,
) -> ModelOut:
    """Register a model (provider role). 201 with the stored entry."""
    from recycle.zoo import ModelCard

    depth = state.settings.max_json_depth
    card_dict = _json_field(card, "card", CardError, depth)
    if key.role != "admin" or "provider" not in card_dict:
        card_dict["provider"] = key.owner
    model_card = ModelCard.from_dict(card_dict)
    spec_obj = None
    if spec is not None:
        from recycle.errors import SpecError
        from recycle.spec import Spec

        spec_obj = Spec.from_dict(_json_field(spec, "spec", SpecError, depth))
    cfg = _config_for(config, depth)
    # register_files: static check (no pickles, honest headers) and the load-and-run check in
    # a separate, time- and memory-limited process; nothing uploaded is loaded in the server.
    entry = state.zoo.register_files(cfg, _read_uploads(files), model_card, spec_obj, True)
    request.state.audit = {"model": str(entry.id), "name": entry.name}
    return entry_out(entry)


@router.get("", response_model=ModelList)
def list_models(
    state: StateDep,
    key: ReadKey,
    modality: Literal["image", "text", "tabular"] | None = None,
    task: Annotated[str | None, Query(max_length=64)] = None,
    access: Literal["white-box", "black-box"] | None = None,
    license: Annotated[str | None, Query(max_length=64)] = None,
    provider: Annotated[str | None, Query(max_length=128)] = None,
    q: Annotated[str | None, Query(max_length=200, description="text query")] = None,
    all_versions: bool = False,
) -> ModelList:
    """List entries (latest version of each name unless ``all_versions``), filtered."""
    entries = state.zoo.list(
        modality=modality,
        task=task,
        access=access,
        license=license,
        provider=provider,
        query=q,
        all_versions=all_versions,
    )
    return ModelList(items=[entry_out(e) for e in entries])


@router.get("/{model_id}", response_model=ModelOut)
def show(model_id: str, state: StateDep, key: ReadKey) -> ModelOut:
    """One entry by id (32 hex)."""
    return entry_out(state.zoo.get(check_id(model_id)))


@router.delete("/{model_id}", status_code=204)
def remove(request: Request, model_id: str, state: StateDep, key: ProviderKey) -> None:
    """Remove an entry: its own provider or an admin (403 for another provider)."""
    entry = state.zoo.get(check_id(model_id))
    _owned(entry, key)
    state.zoo.remove(entry.id)
    request.state.audit = {"model": str(entry.id), "name": entry.name}
