"""A user's uploaded datasets: parse (CSV, text CSV, zip of an image folder, .npz), keep, reuse.

Labelled data is read by the library's own :func:`recycle.data.load_target` (same formats and
messages as ``recycle fit DATA``); a zip is first unpacked into a folder, refusing absolute
paths, ``..``, links and more than :data:`MAX_ZIP_FILES` files or :data:`MAX_UNZIP_FACTOR`
times the upload limit in unpacked bytes. The parsed dataset is kept as ``data.npz`` (``X``,
``y`` as class names) with a ``meta.json`` under ``<jobs dir>/web-uploads/<id>/``, visible only
to the owner who uploaded it (and admins), so the search, selection and fit steps reuse it.

Uploads are bounded (a job copies the data it needs, so none outlives its use): one unused for
:data:`UPLOAD_TTL_S` is removed, an owner keeps at most :data:`MAX_UPLOADS_PER_OWNER` (a new one
removes their least recently used), and the parsing and staging folders of a request that was
killed are removed after :data:`STALE_TEMP_S`; :func:`sweep` runs at start-up and on each upload.

Unlabelled files (for predictions) are read the same way, without a label: a CSV's columns are
matched to the training columns **by name** (:func:`recycle.schema.conform`, as ``recycle
predict`` does: missing ones named in the error, extra ones dropped), a text CSV needs its
``text`` column, and images (one file or a zip) of any size and mode are brought to the
training images' size and channels by :func:`recycle.imagefiles.read_images`, the policy
``recycle predict`` follows.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from recycle.data import image_settings, load_target
from recycle.errors import DataError, ModelNotFoundError, PayloadTooLargeError
from recycle.imagefiles import IMAGE_SUFFIXES, is_image_file, read_images
from recycle.schema import conform
from recycle.service.auth import KeyInfo

UPLOADS = "web-uploads"
SUFFIXES = (".csv", ".zip", ".npz")
MAX_ZIP_FILES = 100_000  # images in one zip
MAX_UNZIP_FACTOR = 4  # unpacked bytes at most this times RECYCLE_MAX_UPLOAD_BYTES (zip bombs)
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
UPLOAD_TTL_S = 24 * 3600  # an upload unused for a day is removed (the user uploads it again)
MAX_UPLOADS_PER_OWNER = 20  # a new upload beyond this removes the owner's least recently used
STALE_TEMP_S = 3600  # parsing/staging folders this old were left by a killed request
TEMP_PREFIX = ".parse-"  # parsing folders, under UPLOADS so that sweep() finds them


def _suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"File {filename[:80]!r} is not a CSV, a zip of an image folder or an .npz; "
            "upload one of those."
        )
    return suffix


def unzip(raw: bytes, into: Path, max_bytes: int) -> Path:
    """Unpack a zip safely into ``into``; return the folder that holds its content."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise DataError("The .zip file is damaged or not a zip; zip the folder again.") from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_ZIP_FILES:
        raise PayloadTooLargeError(f"The zip holds {len(members)} files; at most {MAX_ZIP_FILES}.")
    total = sum(m.file_size for m in members)
    if total > MAX_UNZIP_FACTOR * max_bytes:
        raise PayloadTooLargeError(
            f"The zip unpacks to {total} bytes; at most {MAX_UNZIP_FACTOR * max_bytes}."
        )
    for m in members:
        parts = Path(m.filename).parts
        is_link = (m.external_attr >> 16) & 0o170000 == 0o120000
        if m.filename.startswith(("/", "\\")) or ".." in parts or is_link:
            raise DataError(f"The zip entry {m.filename[:80]!r} points outside its folder.")
        if "__MACOSX" in parts or Path(m.filename).name.startswith("."):
            continue  # Finder's metadata, not images
        target = into.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(m) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    root = into
    while True:  # a zip of "photos/" holds one folder: descend to the class folders
        children = [p for p in root.iterdir() if not p.name.startswith(".")]
        if len(children) == 1 and children[0].is_dir() and children[0].name != "__MACOSX":
            root = children[0]
            continue
        return root


def _owned_dir(root: Path, upload_id: str, key: KeyInfo) -> Path:
    folder = root / UPLOADS / upload_id
    meta = folder / "meta.json"
    if not UPLOAD_ID.match(upload_id) or not meta.exists():
        raise ModelNotFoundError(f"No uploaded dataset {upload_id[:40]!r}; upload it again.")
    owner = json.loads(meta.read_text())["owner"]
    if key.role != "admin" and owner != key.owner:
        raise ModelNotFoundError(f"No uploaded dataset {upload_id[:40]!r}; upload it again.")
    return folder


def sweep(root: Path, now: float | None = None) -> int:
    """Remove expired uploads and killed requests' temp folders under ``root``; return how many.

    Examples
    --------
    >>> import tempfile
    >>> sweep(Path(tempfile.mkdtemp()))
    0
    """
    folder = root / UPLOADS
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for path in folder.iterdir():
        if path.name.startswith(".") and path.is_dir():
            expired = now - path.stat().st_mtime > STALE_TEMP_S
        elif UPLOAD_ID.match(path.name):
            expired = now - _last_used(path) > UPLOAD_TTL_S
        else:
            continue  # jobs/: one small link file per job, kept with the job
        if expired:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _last_used(folder: Path) -> float:
    """When an upload was last read or written (its ``meta.json``'s modification time)."""
    try:
        return (folder / "meta.json").stat().st_mtime
    except FileNotFoundError:  # removed meanwhile, or never completed
        return 0.0


def _cap(root: Path, owner: str, keep: int) -> None:
    """Remove ``owner``'s least recently used uploads beyond the ``keep`` most recent."""
    mine = []
    for path in (root / UPLOADS).iterdir():
        if UPLOAD_ID.match(path.name):
            with contextlib.suppress(OSError, ValueError, KeyError):  # half-removed: skip
                if json.loads((path / "meta.json").read_text())["owner"] == owner:
                    mine.append((_last_used(path), path.name))
    for _, name in sorted(mine)[: max(0, len(mine) - keep)]:
        shutil.rmtree(root / UPLOADS / name, ignore_errors=True)


def save_labelled(root: Path, filename: str, raw: bytes, key: KeyInfo, max_bytes: int) -> str:
    """Parse an uploaded labelled dataset and keep it (see the bounds above); return its id."""
    suffix = _suffix(filename)
    (root / UPLOADS).mkdir(parents=True, exist_ok=True)
    sweep(root)
    with tempfile.TemporaryDirectory(dir=root / UPLOADS, prefix=TEMP_PREFIX) as tmp:
        if suffix == ".zip":
            path = unzip(raw, Path(tmp) / "data", max_bytes)
        else:
            path = Path(tmp) / f"data{suffix}"
            path.write_bytes(raw)
        target = load_target(path)
        columns: list[str] = []
        if suffix == ".csv" and target.modality == "tabular":
            import pandas as pd

            columns = [str(c) for c in pd.read_csv(path, nrows=0).columns if c != "label"]
    _cap(root, key.owner, MAX_UPLOADS_PER_OWNER - 1)
    upload_id = uuid.uuid4().hex
    final = root / UPLOADS / upload_id
    staging = root / UPLOADS / f".{upload_id}.tmp"
    staging.mkdir(parents=True)
    names = np.asarray([str(c) for c in target.classes])
    X = np.asarray(target.X) if target.modality == "text" else target.X
    np.savez(staging / "data.npz", X=X, y=names[target.y])
    meta = {
        "owner": key.owner,
        "filename": filename[:200],
        "modality": target.modality,
        "classes": names.tolist(),
        "counts": np.bincount(target.y, minlength=len(names)).tolist(),
        "n": len(target.y),
        "columns": columns,
        "shape": list(np.shape(target.X)[1:]) if target.modality != "text" else [],
    }
    (staging / "meta.json").write_text(json.dumps(meta))
    staging.rename(final)  # visible only once complete
    return upload_id


def load_upload(root: Path, upload_id: str, key: KeyInfo) -> tuple[dict[str, Any], Any, Any]:
    """``(meta, X, y)`` of an upload the key may see (404 otherwise); marks it used."""
    try:
        folder = _owned_dir(root, upload_id, key)
        os.utime(folder / "meta.json")  # in use: not expired (see sweep)
        meta = json.loads((folder / "meta.json").read_text())
        with np.load(folder / "data.npz", allow_pickle=False) as npz:
            X, y = npz["X"], npz["y"]
    except FileNotFoundError:  # expired or capped away just now
        raise ModelNotFoundError(f"No uploaded dataset {upload_id!r}; upload it again.") from None
    return meta, (X.tolist() if X.dtype.kind in "US" else X), y


def read_unlabelled(
    filename: str, raw: bytes, meta: dict[str, Any], max_bytes: int
) -> tuple[Any, list[str]]:
    """Rows to predict from an unlabelled upload and a row name for each (file name or row)."""
    if meta["modality"] == "image":
        if Path(filename).suffix.lower() in IMAGE_SUFFIXES:
            return _one_image(raw, filename, meta)
        if _suffix(filename) != ".zip":
            raise DataError("This model takes images; upload an image or a zip of images.")
        return _images(raw, meta, max_bytes)
    suffix = _suffix(filename)
    if suffix != ".csv":
        raise DataError(f"This model takes {meta['modality']} rows; upload a CSV file.")
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(raw))
    ids = [str(i + 1) for i in range(len(frame))]
    if meta["modality"] == "text":
        if "text" not in frame.columns:
            raise DataError(f"{filename[:80]!r} has no 'text' column; add one with the texts.")
        return frame["text"].fillna("").astype(str).tolist(), ids
    # Without names (an .npz upload) the columns are taken by position, as for an array.
    schema = {"modality": "tabular", "n_features": meta["shape"][0],
              "columns": meta["columns"] or None}  # fmt: skip
    rows = frame.drop(columns="label", errors="ignore")
    return conform(schema, rows, repr(filename[:80])), ids  # the checks of `recycle predict`


def _images(raw: bytes, meta: dict[str, Any], max_bytes: int) -> tuple[np.ndarray, list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = unzip(raw, Path(tmp), max_bytes)
        files = sorted(
            p for p in root.rglob("*") if is_image_file(p) and not _hidden_below(p, root)
        )
        if not files:
            raise DataError(f"The zip holds no images ({', '.join(IMAGE_SUFFIXES)}).")
        X, kept = _read(files, meta)
        return X, [str(f.relative_to(root)) for f in kept]


def _one_image(raw: bytes, filename: str, meta: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"image{Path(filename).suffix.lower()}"
        path.write_bytes(raw)
        X, _ = _read([path], meta)
        return X, [filename[:200]]


def _read(files: list[Path], meta: dict[str, Any]) -> tuple[np.ndarray, list[Path]]:
    """Images of any size and mode brought to the training images' size and channels, by the
    project's one policy (:func:`recycle.imagefiles.read_images`)."""
    shape = meta["shape"]
    schema = {"modality": "image", "shape": shape[:2], "channels": 3 if len(shape) == 3 else 1}
    X, kept, _ = read_images(files, **image_settings(schema))
    return X, kept


def npz_bytes(**arrays: Any) -> bytes:
    """The arrays as ``.npz`` bytes (the job API's upload format)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buf.getvalue()


def _hidden_below(path: Path, root: Path) -> bool:
    """Whether a folder between ``root`` and ``path`` is hidden (``.ipynb_checkpoints``...)."""
    from recycle.imagefiles import is_hidden

    return any(is_hidden(Path(part)) for part in path.relative_to(root).parts[:-1])
