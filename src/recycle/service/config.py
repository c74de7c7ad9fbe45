"""Settings of the HTTP service, read from ``RECYCLE_*`` environment variables.

Every field can be set by an environment variable named ``RECYCLE_<FIELD>`` (for example
``RECYCLE_ZOO=postgresql+psycopg2://...``, ``RECYCLE_MAX_UPLOAD_BYTES=10000000``) or passed to
:class:`Settings` directly (tests do that).

Examples
--------
>>> s = Settings(zoo="/tmp/zoo", max_batch=8)
>>> s.max_batch, s.host
(8, '127.0.0.1')
"""

from __future__ import annotations

import ipaddress
import logging

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recycle.errors import ConfigError

log = logging.getLogger("recycle.service")

LOOPBACK_NAMES = ("localhost",)
MIB = 1024 * 1024


class Settings(BaseSettings):
    """Configuration of ``recycle serve`` (pydantic-settings, env prefix ``RECYCLE_``)."""

    model_config = SettingsConfigDict(env_prefix="RECYCLE_", extra="ignore")

    #: Zoo folder (SQLite catalog + artifact folder) or SQLAlchemy URL of the catalog.
    zoo: str = "zoo"
    #: Artifact root (folder or fsspec URL); ``None`` lets the zoo pick its default.
    artifacts: str | None = None
    #: Interface to bind; loopback unless told otherwise (see :func:`resolve_host`).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: Largest accepted request body of a model upload or job submission (bytes) -> 413 above.
    max_upload_bytes: int = Field(default=256 * MIB, ge=1)
    #: Largest accepted JSON body of any other request (bytes) -> 413 above.
    max_json_bytes: int = Field(default=32 * MIB, ge=1)
    #: Most rows one ``/embed`` or ``/predict`` call may carry -> 413 above.
    max_batch: int = Field(default=2048, ge=1)
    #: Sustained requests per minute per key (token bucket refill rate); 0 disables the limit.
    rate_per_minute: int = Field(default=6000, ge=0)
    #: Bucket size: how many requests a key may burst above the sustained rate.
    rate_burst: int = Field(default=200, ge=1)
    #: Whether catalog reads (GET /models, search) need a key; writes always do.
    reads_need_key: bool = True
    #: Jobs that run at once, each in its own worker process (more wait queued).
    job_workers: int = Field(default=2, ge=1)
    #: Jobs one key may have queued or running -> 429 (with the real ``Retry-After``) above.
    max_jobs_per_key: int = Field(default=4, ge=1)
    #: Seconds a job may run past its ``time_budget`` (process start, final fit) before it is
    #: killed.
    job_grace_s: float = Field(default=60.0, gt=0)
    #: Hard wall-clock limit of any job (seconds), whatever its budget.
    job_max_seconds: float = Field(default=3600.0, gt=0)
    #: Address-space limit of a job's worker process (MB).
    job_memory_mb: int = Field(default=4096, ge=256)
    #: Largest inflated size of an uploaded target ``.npz`` (bytes) -> 413 above, checked from
    #: the zip's headers before anything is inflated.
    max_array_bytes: int = Field(default=512 * MIB, ge=1)
    #: Deepest nesting of any JSON the service parses (bodies and form fields) -> 422 above.
    max_json_depth: int = Field(default=64, ge=2)
    #: Rows per model call in inference, jobs and the checker (the provider's batch size is
    #: capped by it).
    inference_batch: int = Field(default=256, ge=1)
    #: Address-space limit of an inference worker process (MB).
    sandbox_memory_mb: int = Field(default=4096, ge=256)
    #: CPU seconds and wall seconds one inference call may take in its worker.
    sandbox_cpu_s: float = Field(default=60.0, gt=0)
    sandbox_wall_s: float = Field(default=120.0, gt=0)
    #: Inference worker processes (each keeps the models it loaded).
    sandbox_workers: int = Field(default=2, ge=1)
    #: Folder for job results (recycled models); default ``<zoo folder>/service-jobs`` or a
    #: ``recycle-jobs`` folder in the working directory when the zoo is a URL.
    jobs_dir: str | None = None
    #: Torch intra-op threads of the serving process (set by ``recycle serve``): requests
    #: already run in parallel threads, and more threads per tiny batch only add contention.
    torch_threads: int = Field(default=1, ge=1)
    #: Logging level of the JSON logs.
    log_level: str = "INFO"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback interface (``127.0.0.0/8``, ``::1`` or ``localhost``).

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, False, True)
    """
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_host(cli_host: str | None, settings: Settings) -> str:
    """The interface to bind: loopback unless a non-loopback host was given explicitly.

    ``cli_host`` is ``--host`` (``None`` when not given). A non-loopback host from the
    environment alone (``RECYCLE_HOST``) is refused, so a stray variable never exposes the
    service; an explicit ``--host`` is honoured with a warning in the logs.

    Examples
    --------
    >>> resolve_host(None, Settings())
    '127.0.0.1'
    >>> resolve_host("0.0.0.0", Settings())
    '0.0.0.0'
    """
    if cli_host is None:
        if not is_loopback(settings.host):
            raise ConfigError(
                f"Refusing to bind {settings.host!r} from RECYCLE_HOST: the service binds "
                "loopback only unless told; pass --host explicitly to expose it."
            )
        return settings.host
    if not is_loopback(cli_host):
        log.warning(
            "binding a non-loopback interface", extra={"host": cli_host, "event": "bind_public"}
        )
    return cli_host
