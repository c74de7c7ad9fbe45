"""API keys, roles and per-key rate limits.

A key looks like ``rk_<id>_<secret>``: ``id`` is 16 public hex characters (the row's primary
key, safe to log), ``secret`` 43 random URL-safe characters (256 bits from :mod:`secrets`).
Only ``sha256(secret)`` is stored; the full key is shown once, at creation. Because the secret
is uniformly random and long, a plain sha256 is as strong as a slow password hash here, and
verification is a constant-time compare (:func:`hmac.compare_digest`).

Roles: ``provider`` (register and remove its *own* models), ``user`` (search, query black-box
models, run selection and fit jobs), ``admin`` (everything, any owner). A revoked key is
refused (401) from the next request on.

Rate limits are token buckets kept **in process** (per key id): a key may burst
``rate_burst`` requests and then ``rate_per_minute`` per minute (the key's own
``rate_per_minute`` overrides the server default). With several server processes each has its
own buckets, so the effective limit is multiplied by the process count (documented limitation).

Examples
--------
>>> import sqlalchemy as sa
>>> from recycle.service.db import ServiceDB
>>> db = ServiceDB(sa.create_engine("sqlite://"))
>>> key, info = create_key(db, role="user", owner="alice")
>>> verify_key(db, key).owner
'alice'
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

from recycle.errors import AuthError, ConfigError, ForbiddenError, RateLimitError
from recycle.service.db import ServiceDB, now

ROLES = ("provider", "user", "admin")
KEY_PREFIX = "rk"
KEY_RE = re.compile(r"^rk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
SECRET_BYTES = 32  # 256 bits of entropy per key


@dataclass(frozen=True)
class KeyInfo:
    """A verified key: its public id, role and owner (never the secret)."""

    id: str
    role: str
    owner: str
    rate_per_minute: int | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    db: ServiceDB, role: str, owner: str, rate_per_minute: int | None = None
) -> tuple[str, KeyInfo]:
    """Create a key; return the full key (shown once, not stored) and its public info.

    Examples
    --------
    >>> import sqlalchemy as sa
    >>> from recycle.service.db import ServiceDB
    >>> key, info = create_key(ServiceDB(sa.create_engine("sqlite://")), "provider", "acme")
    >>> key.startswith("rk_" + info.id)
    True
    """
    if role not in ROLES:
        raise ConfigError(f"Key role must be one of {list(ROLES)}. Got {role!r} instead.")
    if not OWNER_RE.match(owner):
        raise ConfigError(
            f"Key owner must be 1-128 characters of letters, digits and ._@- . Got {owner!r}."
        )
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    db.insert_key(
        {
            "id": key_id,
            "secret_sha256": _digest(secret),
            "role": role,
            "owner": owner,
            "created": now(),
            "revoked": None,
            "rate_per_minute": rate_per_minute,
        }
    )
    return f"{KEY_PREFIX}_{key_id}_{secret}", KeyInfo(key_id, role, owner, rate_per_minute)


def verify_key(db: ServiceDB, key: str | None) -> KeyInfo:
    """Return the key's info, or raise :class:`AuthError` (missing, malformed, wrong, revoked)."""
    if not key:
        raise AuthError("No API key; send it as 'Authorization: Bearer <key>' or 'X-API-Key'.")
    m = KEY_RE.match(key.strip())
    if m is None:
        raise AuthError("Malformed API key; keys look like rk_<16 hex>_<secret>.")
    row = db.get_key(m.group(1))
    # Compare even when the id is unknown so timing does not reveal which ids exist.
    stored = row["secret_sha256"] if row else "0" * 64
    if not hmac.compare_digest(stored, _digest(m.group(2))) or row is None:
        raise AuthError("Invalid API key; check it or ask an admin for a new one.")
    if row["revoked"] is not None:
        raise AuthError(f"API key {row['id']} was revoked; ask an admin for a new one.")
    return KeyInfo(row["id"], row["role"], row["owner"], row["rate_per_minute"])


def active_key(db: ServiceDB, key_id: str) -> KeyInfo:
    """The info of key ``key_id`` (already verified once, e.g. at web sign-in), or
    :class:`AuthError` when it is gone or revoked since."""
    row = db.get_key(key_id)
    if row is None:
        raise AuthError("Your API key no longer exists; sign in with a valid key.")
    if row["revoked"] is not None:
        raise AuthError(f"API key {row['id']} was revoked; ask an admin for a new one.")
    return KeyInfo(row["id"], row["role"], row["owner"], row["rate_per_minute"])


def require_role(info: KeyInfo, *roles: str) -> None:
    """Raise :class:`ForbiddenError` unless ``info.role`` is one of ``roles`` (admin always ok)."""
    if info.role != "admin" and info.role not in roles:
        raise ForbiddenError(
            f"Key {info.id} has role {info.role!r}; this needs one of {[*roles, 'admin']}."
        )


class RateLimiter:
    """In-process token buckets, one per key id (thread-safe).

    Examples
    --------
    >>> rl = RateLimiter(rate_per_minute=60, burst=2)
    >>> rl.take("k"); rl.take("k")
    >>> try:
    ...     rl.take("k")
    ... except RateLimitError:
    ...     print("limited")
    limited
    """

    def __init__(self, rate_per_minute: int, burst: int) -> None:
        self.rate_per_minute = rate_per_minute
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str, rate_per_minute: int | None = None) -> None:
        """Spend one token of ``key_id``'s bucket or raise :class:`RateLimitError`."""
        rate = self.rate_per_minute if rate_per_minute is None else rate_per_minute
        if rate <= 0:
            return
        per_s = rate / 60.0
        burst = float(min(self.burst, rate))  # a key limited to r/minute never bursts above r
        t = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (burst, t))
            tokens = min(burst, tokens + (t - last) * per_s)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, t)
                wait = (1.0 - tokens) / per_s
                raise RateLimitError(
                    f"Rate limit of {rate} requests/minute exceeded for key {key_id}; "
                    f"retry in {wait:.1f} s.",
                    retry_after=wait,
                )
            self._buckets[key_id] = (tokens - 1.0, t)
