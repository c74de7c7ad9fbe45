"""CLI commands: ``recycle serve`` and ``recycle keys create|list|revoke``.

``serve`` binds 127.0.0.1 unless ``--host`` names another interface explicitly (then it logs a
warning); a non-loopback ``RECYCLE_HOST`` alone is refused. Keys live in the zoo's database
(table ``service_keys``); a new key is printed once and never stored in clear.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from recycle.cli.app import JsonOption, ZooOption, app, keys_app, zoo_location
from recycle.cli.render import print_json, print_table


def _service_db(zoo: str | None) -> Any:
    from recycle.service.app import _catalog_location
    from recycle.service.config import Settings
    from recycle.service.db import ServiceDB, make_engine
    from recycle.zoo import Zoo

    location = zoo_location(zoo)
    opened = Zoo.open(location)
    return ServiceDB(make_engine(_catalog_location(Settings(zoo=location), opened)))


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to bind (default 127.0.0.1; others only when given here)."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000).")] = None,
    zoo: ZooOption = None,
    artifacts: Annotated[
        str | None, typer.Option("--artifacts", help="Artifact root folder or fsspec URL.")
    ] = None,
) -> None:
    """Run the HTTP service (OpenAPI docs at /docs)."""
    import uvicorn

    from recycle.service.app import create_app
    from recycle.service.config import Settings, resolve_host
    from recycle.service.logs import configure_logging

    overrides: dict[str, Any] = {"zoo": zoo_location(zoo)}
    if port is not None:
        overrides["port"] = port
    if artifacts is not None:
        overrides["artifacts"] = artifacts
    settings = Settings(**overrides)
    configure_logging(settings.log_level)
    import torch

    torch.set_num_threads(settings.torch_threads)
    bind = resolve_host(host, settings)
    uvicorn.run(create_app(settings), host=bind, port=settings.port, log_config=None)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="provider, user or admin.")],
    owner: Annotated[str, typer.Option(help="Provider or user name the key acts as.")],
    rate: Annotated[
        int | None, typer.Option(help="Requests/minute for this key (default: server's).")
    ] = None,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    from recycle.service.auth import create_key

    key, info = create_key(_service_db(zoo), role=role, owner=owner, rate_per_minute=rate)
    if json_out:
        print_json({"key": key, "id": info.id, "role": info.role, "owner": info.owner})
    else:
        typer.echo(key)
        typer.echo(f"id {info.id} role {info.role} owner {info.owner}: store it now.", err=True)


@keys_app.command("list")
def keys_list(zoo: ZooOption = None, json_out: JsonOption = False) -> None:
    """List keys (ids, roles, owners; never secrets)."""
    rows = [
        {
            "id": r["id"],
            "role": r["role"],
            "owner": r["owner"],
            "created": r["created"].isoformat() if r["created"] else None,
            "revoked": r["revoked"].isoformat() if r["revoked"] else None,
        }
        for r in _service_db(zoo).list_keys()
    ]
    if json_out:
        print_json(rows)
    else:
        cols = ["id", "role", "owner", "created", "revoked"]
        print_table("API keys", cols, [[r[c] for c in cols] for r in rows])


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (the 16 hex after 'rk_').")],
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Revoke a key; it is refused (401) from the next request on."""
    from recycle.errors import ModelNotFoundError

    if not _service_db(zoo).revoke_key(key_id):
        raise ModelNotFoundError(f"No active key with id {key_id!r}; see `recycle keys list`.")
    if json_out:
        print_json({"revoked": key_id})
    else:
        typer.echo(f"revoked {key_id}")
