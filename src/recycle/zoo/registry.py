"""The :class:`Zoo`: a catalog (SQLite or PostgreSQL) plus a content-addressed artifact store.

Examples
--------
>>> import tempfile
>>> zoo = Zoo.open(tempfile.mkdtemp() + "/zoo")
>>> zoo.list()
[]
>>> zoo.fsck().clean
True
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from recycle.errors import CardError, ConfigError, ModelNotFoundError
from recycle.zoo import journal, registration, spec_index
from recycle.zoo.card import ModelCard
from recycle.zoo.catalog import check_exists, open_engine, resolve_location, upgrade
from recycle.zoo.entry import FsckReport, SearchHit, ZooEntry, parse_created, version_key
from recycle.zoo.models import EntryBlobRow, EntryParentRow, EntryRow
from recycle.zoo.query import Filters, filter_rows, latest_only, row_to_entry
from recycle.zoo.store import ArtifactStore

ID_RE = re.compile(r"^[0-9a-f]{32}$")
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MANIFEST_VERSION = 1


class Zoo:
    """A model zoo: cards and specs in a catalog, model files in a content-addressed store.

    Use :meth:`open`; the constructor takes already-built parts.

    Attributes
    ----------
    check_timeout_s, check_memory_mb, check_batch : float, int, int
        Checker limits (``$RECYCLE_CHECK_TIMEOUT_S``/``_MEMORY_MB``/``_BATCH``; 120 s, 4 GB, 256).
    """

    def __init__(self, engine: Engine, store: ArtifactStore, location: str) -> None:
        from recycle.zoo.checker import DEFAULT_BATCH, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S

        self.engine = engine
        self.store = store
        self.location = location
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.check_timeout_s = float(os.environ.get("RECYCLE_CHECK_TIMEOUT_S", DEFAULT_TIMEOUT_S))
        self.check_memory_mb = int(os.environ.get("RECYCLE_CHECK_MEMORY_MB", DEFAULT_MEMORY_MB))
        self.check_batch = int(os.environ.get("RECYCLE_CHECK_BATCH", DEFAULT_BATCH))
        self._loaded: dict[str, Any] = {}
        self.spec_indexes: dict[str, Any] = {}  # space -> (loaded index, latest mask)

    def __repr__(self) -> str:
        return f"Zoo({self.location!r}, artifacts={self.store.url!r})"

    @classmethod
    def open(
        cls,
        location: str | Path = "zoo",
        artifacts: str | Path | None = None,
        *,
        recover: bool = True,
        create: bool = True,
    ) -> Zoo:
        """Open (creating if absent, unless ``create=False``) a zoo; bring its schema up to date.

        Parameters
        ----------
        location : str or Path
            A folder (``zoo/catalog.db`` SQLite catalog + ``zoo/artifacts/``) or a SQLAlchemy
            URL (``postgresql+psycopg2://user@host/db``, ``sqlite:///path.db``).
        artifacts : str or Path, optional
            Artifact root (folder or fsspec URL). Default: ``<folder>/artifacts``; for a URL,
            ``$RECYCLE_ARTIFACTS``, or next to a SQLite file.
        recover : bool, default True
            Clean up after crashed registrations (their blobs and temp files).
        create : bool, default True
            False: a missing zoo raises ModelNotFoundError and nothing is created.

        Examples
        --------
        >>> import tempfile
        >>> Zoo.open(tempfile.mkdtemp() + "/z").list(modality="image")
        []
        """
        if not create:
            check_exists(str(location))
        location = str(location)
        url, artifacts = resolve_location(location, artifacts)
        engine = open_engine(url)
        upgrade(engine)
        zoo = cls(engine, ArtifactStore(artifacts), location)
        if recover:
            journal.recover(zoo.sessions, zoo.store)
        return zoo

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def __enter__(self) -> Zoo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- registration -----------------------------------------------------------------------

    def register(
        self, model: Any, card: ModelCard, spec: Any = None, validate: bool = True
    ) -> ZooEntry:
        """Store ``model`` with its card (and optional spec); return the new entry.

        The model is serialized with :func:`recycle.sources.serialize`, checked statically
        (no pickles, honest safetensors headers), then (``validate=True``) loaded and run in a
        separate process with time and memory limits; only then are files and row written.

        Parameters
        ----------
        model : SourceModel
        card : ModelCard
            Must agree with the model (modality, access, feature dim).
        spec : Spec, optional
            Statistical specification, stored as its own blob; makes the entry searchable.
        validate : bool, default True
            Run the checker. Skip only for models built by trusted code.

        Returns
        -------
        ZooEntry

        Raises
        ------
        CardError, DuplicateError, UnsafeContentError, ValidationError, ModelNotFoundError

        Examples
        --------
        >>> import tempfile
        >>> from recycle.sources import TorchSource
        >>> from recycle.sources.arch import build_architecture
        >>> net = build_architecture("mlp", in_features=4, hidden=[8], out_features=6)
        >>> src = TorchSource(net, "tabular:identity", feature_dim=6)
        >>> card = ModelCard(name="mlp.doc", modality="tabular", task="feature-extraction",
        ...     input={"shape": [4], "dtype": "float32", "value_range": [-1, 1]},
        ...     output={"feature_dim": 6})
        >>> zoo = Zoo.open(tempfile.mkdtemp())
        >>> zoo.register(src, card, validate=False).name
        'mlp.doc'
        """
        from recycle.sources import serialize

        if not isinstance(card, ModelCard):
            raise CardError(f"card must be a ModelCard; got {type(card).__name__}.")
        for attr, want in (("modality", card.modality), ("access", card.access)):
            got = getattr(model, attr, None)
            if got != want:
                raise CardError(f"Card field {attr!r} is {want!r} but the model's is {got!r}.")
        if getattr(model, "feature_dim", None) != card.output.feature_dim:
            raise CardError(
                f"Card field 'output.feature_dim' is {card.output.feature_dim} but the model's "
                f"feature_dim is {getattr(model, 'feature_dim', None)}; fix the card."
            )
        config, files = serialize(model)
        return self.register_files(config, files, card, spec=spec, validate=validate)

    def register_files(
        self,
        config: dict[str, Any],
        files: dict[str, bytes],
        card: ModelCard,
        spec: Any = None,
        validate: bool = True,
    ) -> ZooEntry:
        """Register an already-serialized model (``config``, ``files``); see :meth:`register`.

        Examples
        --------
        >>> import tempfile
        >>> zoo = Zoo.open(tempfile.mkdtemp())
        >>> card = ModelCard(name="x.y", modality="tabular", task="t", output={"feature_dim": 2},
        ...                  input={"shape": [2], "dtype": "float32", "value_range": [0, 1]})
        >>> zoo.register_files({"format": "safetensors"}, {"w.safetensors": b"\\x80\\x04."},
        ...                    card)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        recycle.errors.UnsafeContentError: File 'w.safetensors' is a pickle ...
        """
        from recycle.zoo.checker import static_check

        if not isinstance(card, ModelCard):
            raise CardError(f"card must be a ModelCard; got {type(card).__name__}.")
        card = ModelCard.from_dict(card.to_dict())  # a private copy: lineage is filled in below
        if not isinstance(config, dict) or not isinstance(config.get("format"), str):
            raise ConfigError("A serialized model's config must be a dict with a 'format' key.")
        for name, data in files.items():
            if not FILE_NAME_RE.match(name) or not isinstance(data, bytes | bytearray):
                raise ConfigError(
                    f"Model file {name!r} must have a plain name ([A-Za-z0-9._-], no folders) "
                    "and bytes content."
                )
        parents = registration.resolve_parents(self, config, card)
        registration.check_name(self, card)  # name@version free, name not another's
        static_check(config, files)
        spec_json = registration.spec_json(spec)
        if validate:
            registration.validate(self, config, files, card, parents)
        return registration.commit(self, config, dict(files), card, spec, spec_json, parents)

    # -- lookup -----------------------------------------------------------------------------

    def list(
        self,
        modality: str | None = None,
        task: str | None = None,
        access: str | None = None,
        license: str | None = None,
        provider: str | None = None,
        query: str | None = None,
        all_versions: bool = False,
    ) -> list[ZooEntry]:
        """Entries matching all the given filters, sorted by name (then version).

        ``query`` matches name or description, case-insensitively. Without ``all_versions``
        only the latest version of each name is returned.

        Examples
        --------
        >>> import tempfile
        >>> Zoo.open(tempfile.mkdtemp()).list(query="mnist", all_versions=True)
        []
        """
        filters = Filters(modality, task, access, license, provider, query)
        with self.sessions() as s:
            entries = filter_rows(s, filters)
        return entries if all_versions else latest_only(entries)

    def get(self, name_or_id: str, version: str = "latest") -> ZooEntry:
        """The entry with this id, or this name at ``version`` (``"latest"`` by default).

        ``name@version`` works too (anything after a ``#`` is ignored, so a loaded source's
        ``source_id`` resolves back to its entry).

        Examples
        --------
        >>> import tempfile
        >>> Zoo.open(tempfile.mkdtemp()).get("nothing.here")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        recycle.errors.ModelNotFoundError: No zoo entry 'nothing.here' ...
        """
        ref = str(name_or_id).split("#", 1)[0]
        if "@" in ref:
            ref, version = ref.split("@", 1)
        with self.sessions() as s:
            if ID_RE.match(ref):
                row = s.get(EntryRow, ref)
                if row is not None:
                    return row_to_entry(row, None, _parents_of(s, row.id))
            rows = list(s.scalars(select(EntryRow).where(EntryRow.name == ref)))
            if version != "latest":
                rows = [r for r in rows if r.version == version]
            if rows:
                row = max(rows, key=lambda r: (version_key(r.version), parse_created(r.created)))
                return row_to_entry(row, None, _parents_of(s, row.id))
        where = ref if version == "latest" else f"{ref}@{version}"
        raise ModelNotFoundError(
            f"No zoo entry {where!r} in {self.location}; `recycle zoo list` shows the entries."
        )

    def load(self, name_or_id: str, version: str = "latest") -> Any:
        """The entry's model as a ready :class:`~recycle.sources.SourceModel`.

        Every file is hash-checked (:class:`~recycle.errors.IntegrityError` on corruption);
        parents (e.g. a shared backbone) are loaded first. Loaded models are cached per zoo.
        The source's ``source_id`` is ``name@version#<8 hex of the artifact hash>``, so cached
        features never outlive a re-registration with other weights.
        """
        from recycle.sources import deserialize

        entry = self.get(name_or_id, version)
        if entry.id in self._loaded:
            return self._loaded[entry.id]
        manifest = registration.manifest_of(self, entry)
        files = {k: self.store.local_path(v["sha256"]) for k, v in manifest["files"].items()}
        parents = {pid: self.load(pid) for pid in entry.parents}
        source = deserialize(manifest["config"], files, parents or None)
        if getattr(source, "builtin_name", None):  # shared by the process: rename a copy only
            source = copy.copy(source)
        with contextlib.suppress(AttributeError):  # a read-only source_id: keep the model's own
            source.source_id = f"{entry.ref}#{entry.artifact_sha256[:8]}"
        self._loaded[entry.id] = source
        return source

    # -- removal and maintenance -----------------------------------------------------------------

    def remove(self, name_or_id: str, version: str | None = None) -> builtins.list[ZooEntry]:
        """Remove one entry (an id, ``name@version``, or name + ``version``) or all versions of
        a name (``version=None``); blobs no other entry uses are deleted. Returns the removed.

        Raises :class:`ConfigError` while another entry lists one of them as its parent.
        """
        ref = str(name_or_id)
        if version is not None or "@" in ref or ID_RE.match(ref):
            targets = [self.get(ref, version or "latest")]
        else:
            targets = [e for e in self.list(all_versions=True) if e.name == ref]
            if not targets:
                self.get(ref)  # raises ModelNotFoundError
        ids = [e.id for e in targets]
        with self.sessions.begin() as s:
            children = list(
                s.scalars(
                    select(EntryParentRow.entry_id).where(
                        EntryParentRow.parent_id.in_(ids), EntryParentRow.entry_id.not_in(ids)
                    )
                )
            )
            if children:
                raise ConfigError(
                    f"Cannot remove {ref!r}: entries {sorted(set(children))} use it as their "
                    "parent; remove them first."
                )
            shas = list(
                s.scalars(select(EntryBlobRow.sha256).where(EntryBlobRow.entry_id.in_(ids)))
            )
            s.execute(delete(EntryParentRow).where(EntryParentRow.entry_id.in_(ids)))
            s.execute(delete(EntryBlobRow).where(EntryBlobRow.entry_id.in_(ids)))
            s.execute(delete(EntryRow).where(EntryRow.id.in_(ids)))
            s.flush()
            journal.gc_blobs(s, self.store, shas)
        for entry_id in ids:
            self._loaded.pop(entry_id, None)
        spec_index.after_change(self, {e.spec_space for e in targets})
        return targets

    def fsck(self, repair: bool = False, verify: bool = False) -> FsckReport:
        """Check that catalog and store agree (see :class:`~recycle.zoo.entry.FsckReport`).

        Examples
        --------
        >>> import tempfile
        >>> Zoo.open(tempfile.mkdtemp()).fsck(verify=True).to_dict()["clean"]
        True
        """
        report = journal.fsck(self.sessions, self.store, repair=repair, verify=verify)
        return spec_index.check(self, report, repair=repair)

    def stats(self) -> dict[str, int]:
        """Numbers of entries and blobs, and the bytes the blobs take."""
        n_blobs, n_bytes = journal.blob_count(self.sessions)
        return {"entries": len(self.list(all_versions=True)), "blobs": n_blobs, "bytes": n_bytes}

    # -- specifications ---------------------------------------------------------------------

    def specs(self, space: str) -> builtins.list[tuple[ZooEntry, Any]]:
        """(entry, Spec) of every entry with a specification in ``space``, latest versions."""
        from recycle.spec import Spec

        with self.sessions() as s:
            entries = filter_rows(s, Filters(spec_space=space))
        return [
            (e, Spec.from_json(self.store.read(e.spec_sha256 or ""))) for e in latest_only(entries)
        ]

    def search(
        self, spec_or_data: Any, top: int = 5, space: str | None = None
    ) -> builtins.list[SearchHit]:
        """Entries whose specification is closest to a query spec (or to data, turned into one).

        Data is embedded into ``space`` (default: :func:`recycle.spec.choose_space` among the
        zoo's) and summarised by :func:`recycle.spec.build_spec`; ranking uses the zoo's
        persistent index (:mod:`recycle.spec.index`); a hit's ``score`` is the squared MMD
        (lower = closer). A table's rows searched among scaled specs (``meta["scaled"]``) are
        re-ranked in each spec's quantile space (:func:`recycle.zoo.query.rescaled`).
        """
        from recycle.zoo.query import search

        return search(self, spec_or_data, top=top, space=space)


def _parents_of(s: Session, entry_id: str) -> list[str]:
    return sorted(
        s.scalars(select(EntryParentRow.parent_id).where(EntryParentRow.entry_id == entry_id))
    )
