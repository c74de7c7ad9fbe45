"""Content-addressed artifact store: every file is stored once, under its sha256.

Layout under the root (a local folder or any fsspec URL)::

    ab/cdef0123...        the blob whose sha256 is "abcdef0123..."
    tmp/<pid>-<uuid>.tmp  a write in progress (renamed into place when complete)
    tmp/<pid>-upload-<uuid>/  an upload being checked (see ArtifactStore.upload_dir)

:meth:`ArtifactStore.put` writes to a temp name, fsyncs, re-reads and checks the hash, then
renames; a blob that already exists is never rewritten (same name = same bytes). Reading checks
the hash again (:class:`~recycle.errors.IntegrityError` on corruption). Which blobs are still
used is the catalog's business (reference counting in :mod:`recycle.zoo.registry`).

Crash testing: when ``$RECYCLE_TEST_CRASH_AT`` names a crash point (``after_temp``,
``after_blob``, ``before_commit``, ``after_commit``), the process kills itself with SIGKILL there
(see :func:`crash_point`). The variable is meant for tests only.

Examples
--------
>>> import tempfile
>>> store = ArtifactStore(tempfile.mkdtemp())
>>> sha = store.put(b"hello")
>>> sha[:12], store.read(sha)
('2cf24dba5fb0', b'hello')
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec

from recycle.errors import IntegrityError, StorageError

CRASH_ENV = "RECYCLE_TEST_CRASH_AT"
TEMP_DIR = "tmp"
STALE_TEMP_S = 3600.0  # a temp file of another host (or unknown pid) is stale after this long
HOST = socket.gethostname()
CHUNK = 1 << 20  # read/hash files in 1 MiB chunks


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``$RECYCLE_TEST_CRASH_AT`` equals ``name`` (tests)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Examples
    --------
    >>> sha256_bytes(b"")[:8]
    'e3b0c442'
    """
    return hashlib.sha256(data).hexdigest()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class ArtifactStore:
    """Content-addressed blobs under a local folder or an fsspec URL.

    Parameters
    ----------
    root : str or Path
        Folder or fsspec URL (``memory://zoo``, ``s3://bucket/zoo``, ...); created if absent.
    cache_dir : Path, optional
        Where blobs of a remote store are copied so they can be opened as local files
        (default: ``<tmp>/recycle-blob-cache``).
    """

    def __init__(self, root: str | Path, cache_dir: Path | None = None) -> None:
        self.url = str(root)
        try:
            self.fs, path = fsspec.core.url_to_fs(self.url)
        except (ValueError, ImportError) as exc:
            raise StorageError(f"Cannot open artifact store {self.url!r}: {exc}.") from None
        self.root = path.rstrip("/")
        self.local = "file" in _protocols(self.fs)
        self.cache_dir = cache_dir or Path(os.environ.get("TMPDIR", "/tmp")) / "recycle-blobs"
        try:
            self.fs.makedirs(f"{self.root}/{TEMP_DIR}", exist_ok=True)
        except OSError as exc:
            raise StorageError(f"Cannot create artifact store {self.url!r}: {exc}.") from None

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    def path(self, sha: str) -> str:
        """Store path of a blob (``root/ab/cdef...``)."""
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise IntegrityError(f"Not a sha256 hex digest: {sha!r}.")
        return f"{self.root}/{sha[:2]}/{sha[2:]}"

    def exists(self, sha: str) -> bool:
        """Whether the blob is present (its content is not checked)."""
        return bool(self.fs.exists(self.path(sha)))

    def put(self, data: bytes) -> str:
        """Store ``data`` (temp name, fsync, hash check, rename); return its sha256.

        Examples
        --------
        >>> import tempfile
        >>> store = ArtifactStore(tempfile.mkdtemp())
        >>> store.put(b"x") == store.put(b"x")
        True
        """
        sha = sha256_bytes(data)
        final = self.path(sha)
        if self.fs.exists(final) and self.fs.size(final) == len(data):
            return sha  # same name, same bytes: never rewrite
        tmp = f"{self.root}/{TEMP_DIR}/{os.getpid()}-{uuid.uuid4().hex}.tmp"
        try:
            if self.local:
                _write_local(tmp, data)
            else:
                self.fs.pipe_file(tmp, data)
            crash_point("after_temp")
            if self._hash_file(tmp) != sha:
                raise IntegrityError(
                    f"Artifact {sha[:12]} changed while being written to {self.url}; the disk "
                    "or the file system is faulty. Retry."
                )
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            if self.local:
                os.replace(tmp, final)
                _fsync_dir(os.path.dirname(final))
            else:
                self.fs.mv(tmp, final)
        except OSError as exc:
            self._discard(tmp)
            if isinstance(exc, IntegrityError):
                raise
            raise StorageError(f"Cannot write artifact to {self.url}: {exc}.") from None
        crash_point("after_blob")
        return sha

    def _discard(self, path: str) -> None:
        with contextlib.suppress(OSError, FileNotFoundError):
            if self.fs.isdir(path):
                self.fs.rm(path, recursive=True)  # an upload folder (see upload_dir)
            else:
                self.fs.rm_file(path)

    @contextlib.contextmanager
    def upload_dir(self) -> Iterator[Path]:
        """A private local folder for an upload being checked, removed afterwards.

        In a local store it is ``tmp/<pid>-upload-<uuid>``, so what a killed registration
        leaves is one of :meth:`temp_files` (removed by :meth:`clean_temps` and
        ``fsck(repair=True)``); otherwise a folder in the system temp directory.

        Examples
        --------
        >>> import tempfile
        >>> store = ArtifactStore(tempfile.mkdtemp())
        >>> with store.upload_dir() as tmp:
        ...     len(store.temp_files())
        1
        >>> store.temp_files()
        []
        """
        if self.local:
            path = Path(f"{self.root}/{TEMP_DIR}/{os.getpid()}-upload-{uuid.uuid4().hex}")
            path.mkdir()
        else:
            path = Path(tempfile.mkdtemp(prefix=f"recycle-upload-{os.getpid()}-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def _hash_file(self, path: str) -> str:
        h = hashlib.sha256()
        with self.fs.open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return h.hexdigest()

    def verify(self, sha: str) -> None:
        """Raise :class:`IntegrityError` unless the blob exists and hashes to ``sha``."""
        try:
            actual = self._hash_file(self.path(sha))
        except FileNotFoundError:
            raise IntegrityError(
                f"Artifact {sha[:12]} is missing from {self.url}; run zoo.fsck() and re-register "
                "the entry."
            ) from None
        if actual != sha:
            raise IntegrityError(
                f"Artifact {sha[:12]} in {self.url} is corrupted (its sha256 is now "
                f"{actual[:12]}); remove and re-register the entry."
            )

    def read(self, sha: str) -> bytes:
        """Return the blob's bytes after checking their hash.

        Examples
        --------
        >>> import tempfile
        >>> store = ArtifactStore(tempfile.mkdtemp())
        >>> store.read(store.put(b"abc"))
        b'abc'
        """
        try:
            data = bytes(self.fs.cat_file(self.path(sha)))
        except FileNotFoundError:
            raise IntegrityError(
                f"Artifact {sha[:12]} is missing from {self.url}; run zoo.fsck() and re-register "
                "the entry."
            ) from None
        if sha256_bytes(data) != sha:
            raise IntegrityError(
                f"Artifact {sha[:12]} in {self.url} is corrupted (hash mismatch); remove and "
                "re-register the entry."
            )
        return data

    def local_path(self, sha: str) -> Path:
        """A local file with the blob's (hash-checked) content, for loaders that need a path."""
        if self.local:
            self.verify(sha)
            return Path(self.path(sha))
        target = self.cache_dir / sha[:2] / sha[2:]
        if target.exists() and _hash_local(target) == sha:
            return target
        data = self.read(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        _write_local(str(tmp), data)
        os.replace(tmp, target)
        return target

    def size(self, sha: str) -> int:
        """Size of the blob in bytes."""
        return int(self.fs.size(self.path(sha)))

    def delete(self, sha: str) -> None:
        """Delete a blob (no error if it is already gone). The catalog decides when."""
        self._discard(self.path(sha))

    def iter_blobs(self) -> Iterator[str]:
        """Yield the sha256 of every blob file present in the store."""
        for sub in sorted(self.fs.ls(self.root, detail=False)):
            name = sub.rstrip("/").rsplit("/", 1)[-1]
            if len(name) != 2 or name == TEMP_DIR:
                continue
            for f in sorted(self.fs.ls(sub, detail=False)):
                tail = f.rstrip("/").rsplit("/", 1)[-1]
                if len(tail) == 62 and not tail.endswith(".tmp"):
                    yield name + tail

    def temp_files(self) -> list[str]:
        """Paths of the temp files in the store (writes in progress or left by a crash)."""
        try:
            return sorted(self.fs.ls(f"{self.root}/{TEMP_DIR}", detail=False))
        except FileNotFoundError:
            return []

    def clean_temps(self, stale_after_s: float = STALE_TEMP_S) -> list[str]:
        """Delete temp files of dead writers (this host) or older than ``stale_after_s``."""
        removed = []
        for path in self.temp_files():
            name = path.rsplit("/", 1)[-1]
            pid_text = name.split("-", 1)[0]
            dead = self.local and pid_text.isdigit() and not pid_alive(int(pid_text))
            if dead or _age_s(self.fs, path) > stale_after_s:
                self._discard(path)
                removed.append(path)
        return removed


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _write_local(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hash_local(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _age_s(fs: fsspec.AbstractFileSystem, path: str) -> float:
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return 0.0
    mtime = info.get("mtime") or info.get("created") or time.time()
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return time.time() - float(mtime)
