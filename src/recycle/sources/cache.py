"""On-disk feature cache: embed each (source, input) pair once.

The cache is used only where asked for: a ``cache=`` argument (a :class:`FeatureCache` or a
folder), the cache made active by :func:`use_cache` (how ``Recycler(cache=...)`` reaches its
strategies at fit and predict time), or ``$RECYCLE_CACHE``. Otherwise features are computed and
nothing is written.

Key: ``(source_id, sha256 of X)`` where the hash covers X's bytes, shape and dtype (arrays) or
the texts with their lengths (lists of ``str``). Values are ``.npy`` files written atomically
(temporary name, then ``os.replace``) and read back with ``allow_pickle=False``.

Examples
--------
>>> import numpy as np, tempfile
>>> from torch import nn
>>> from recycle.sources.torch_source import TorchSource
>>> src = TorchSource(nn.Identity(), "tabular:identity", 2, source_id="doc.id")
>>> cache = FeatureCache(tempfile.mkdtemp())
>>> X = np.ones((3, 2), dtype=np.float32)
>>> _ = cache.embed(src, X); _ = cache.embed(src, X)
>>> cache.hits, cache.misses
(1, 1)
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import StorageError
from recycle.sources.base import SourceModel


def default_root() -> Path:
    """``$RECYCLE_CACHE`` if set, else ``~/.cache/recycle/features``.

    Examples
    --------
    >>> isinstance(default_root(), Path)
    True
    """
    env = os.environ.get("RECYCLE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "recycle" / "features"


def content_hash(X: Any) -> str:
    """sha256 of ``X``: bytes + shape + dtype for arrays, the texts for a list of ``str``.

    Examples
    --------
    >>> content_hash(["a", "b"]) == content_hash(["a", "b"]) != content_hash(["ab"])
    True
    """
    h = hashlib.sha256()
    if isinstance(X, list | tuple) and all(isinstance(t, str) for t in X):
        h.update(b"texts")
        for t in X:
            data = t.encode("utf-8")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
        return h.hexdigest()
    arr = np.ascontiguousarray(np.asarray(X))
    if arr.dtype == object:
        arr = np.asarray([str(v) for v in arr.ravel()]).reshape(arr.shape)
    h.update(f"array|{arr.shape}|{arr.dtype.str}|".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _safe_name(source_id: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", source_id)[:80]
    digest = hashlib.sha256(source_id.encode()).hexdigest()[:12]
    return f"{readable}-{digest}"


class FeatureCache:
    """Embeddings on disk, keyed by ``(source_id, content_hash(X))``.

    Parameters
    ----------
    root : str or Path, optional
        Folder (created on first write); default :func:`default_root`.

    Attributes
    ----------
    hits, misses : int
        Counters of :meth:`embed` calls answered from disk / computed.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def path(self, source_id: str, key: str) -> Path:
        """File that holds the features of ``source_id`` for content hash ``key``."""
        return self.root / _safe_name(source_id) / f"{key}.npy"

    def get(self, source_id: str, key: str) -> np.ndarray | None:
        """Return the cached features, or None (a corrupt file counts as missing)."""
        p = self.path(source_id, key)
        if not p.is_file():
            return None
        try:
            return np.load(p, allow_pickle=False)
        except (OSError, ValueError):
            return None

    def put(self, source_id: str, key: str, F: np.ndarray) -> None:
        """Store ``F`` atomically (temporary file, then rename)."""
        p = self.path(source_id, key)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".npy")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(F), allow_pickle=False)
                os.replace(tmp, p)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(
                f"Cannot write the feature cache at {p.parent} ({exc}); set $RECYCLE_CACHE to a "
                "writable folder."
            ) from exc

    def embed(self, source: SourceModel, X: Any, **kwargs: Any) -> np.ndarray:
        """Return ``source.embed(X)``, from disk when this (source, X) was seen before.

        Extra keyword arguments (e.g. ``progress``) go to ``source.embed`` on a miss.
        """
        key = content_hash(X)
        found = self.get(source.source_id, key)
        if found is not None and found.shape[1:] == (source.feature_dim,):
            with self._lock:
                self.hits += 1
            return found
        F = np.asarray(source.embed(X, **kwargs), dtype=np.float32)
        self.put(source.source_id, key, F)
        with self._lock:
            self.misses += 1
        return F

    def clear(self) -> None:
        """Delete every cached file under :attr:`root`."""
        for p in sorted(self.root.glob("*/*.npy")):
            p.unlink(missing_ok=True)


#: The cache :func:`use_cache` made active in this context (None: none asked for).
_ACTIVE: ContextVar[FeatureCache | None] = ContextVar("recycle_feature_cache", default=None)


def resolve_cache(cache: FeatureCache | str | os.PathLike[str] | None) -> FeatureCache | None:
    """The cache to use: ``cache`` (a folder becomes a FeatureCache), else the active one, else
    one at ``$RECYCLE_CACHE`` when set, else None (no caching).

    Examples
    --------
    >>> import tempfile
    >>> resolve_cache(tempfile.mkdtemp()).misses
    0
    """
    if isinstance(cache, FeatureCache):
        return cache
    if cache is not None:
        return FeatureCache(cache)
    active = _ACTIVE.get()
    if active is not None:
        return active
    env = os.environ.get("RECYCLE_CACHE")
    return FeatureCache(env) if env else None


@contextmanager
def use_cache(cache: FeatureCache | str | os.PathLike[str] | None) -> Iterator[None]:
    """Make ``cache`` the one :func:`cached_embed` uses in this context (None: no change).

    Examples
    --------
    >>> import tempfile
    >>> with use_cache(tempfile.mkdtemp()):
    ...     _ACTIVE.get() is not None
    True
    """
    token = _ACTIVE.set(resolve_cache(cache)) if cache is not None else None
    try:
        yield
    finally:
        if token is not None:
            _ACTIVE.reset(token)


def cached_embed(
    source: SourceModel, X: Any, cache: FeatureCache | str | None = None, **kwargs: Any
) -> np.ndarray:
    """``source.embed(X)`` through the cache :func:`resolve_cache` picks (none: embed directly).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from torch import nn
    >>> from recycle.sources.torch_source import TorchSource
    >>> src = TorchSource(nn.Identity(), "tabular:identity", 1, source_id="doc.one")
    >>> cached_embed(src, np.ones((2, 1)), FeatureCache(tempfile.mkdtemp())).shape
    (2, 1)
    """
    chosen = resolve_cache(cache)
    if chosen is None:
        return np.asarray(source.embed(X, **kwargs), dtype=np.float32)
    return chosen.embed(source, X, **kwargs)
