"""The one error tree of recycle.

Every error the library raises on purpose is a :class:`RecycleError`. Each subclass also
inherits the builtin exception it refines, so ``except ValueError`` keeps working for callers
that do not know about recycle.

Messages say what was received, what is valid, and how to fix it, on one line::

    The 'm' parameter of Recycler must be an int >= 1 or 'auto'. Got 0 instead.

The CLI turns any ``RecycleError`` into that one line on stderr and exit code 2; the HTTP
service maps the classes to status codes (see :data:`HTTP_STATUS`).

Examples
--------
>>> from recycle.errors import DataError, RecycleError
>>> try:
...     raise DataError("Target has a single class 3; need at least 2 classes.")
... except ValueError as e:
...     isinstance(e, RecycleError)
True
"""

from __future__ import annotations


class RecycleError(Exception):
    """Base class of every error recycle raises deliberately."""


class ConfigError(RecycleError, ValueError):
    """A parameter or setting has an invalid value."""


class DataError(RecycleError, ValueError):
    """A target dataset (file, array, labels) is malformed or unusable."""


class AssetMissingError(RecycleError, FileNotFoundError):
    """An offline asset package (dataset or pre-trained weights) is not installed."""


class UnsafeContentError(RecycleError, ValueError):
    """Bytes were refused because loading them could run code (pickle payload, lying header)."""


class CardError(RecycleError, ValueError):
    """A model card is missing fields or has invalid values."""


class SpecError(RecycleError, ValueError):
    """A data-free specification is malformed or incompatible with the query."""


class IncompatibleError(RecycleError, ValueError):
    """Sources and target (or two sources) do not fit together: schema, space or base differ."""


class ModelNotFoundError(RecycleError, LookupError):
    """A zoo entry, builtin source, job or key does not exist."""


class DuplicateError(RecycleError, ValueError):
    """An entry with the same name and version already exists."""


class ValidationError(RecycleError, ValueError):
    """A model failed the zoo's checker (load, run, output shape, limits)."""


class IntegrityError(RecycleError, OSError):
    """A stored artifact does not match its content hash (corruption or tampering)."""


class StorageError(RecycleError, OSError):
    """The catalog or artifact store could not be read or written."""


class SourceFailedError(RecycleError, RuntimeError):
    """A source model failed at inference (reported and skipped by selection)."""


class NotFittedError(RecycleError, AttributeError):
    """An estimator was used before ``fit``."""


class AuthError(RecycleError, PermissionError):
    """No, wrong or revoked API key."""


class ForbiddenError(RecycleError, PermissionError):
    """The key is valid but its role or owner may not do this."""


class RateLimitError(RecycleError, RuntimeError):
    """Too many requests (or jobs) for this key; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = float(retry_after)


class PayloadTooLargeError(RecycleError, ValueError):
    """An upload or batch exceeds the configured size limit."""


#: HTTP status code for each error class (most specific class wins); used by the service.
HTTP_STATUS: dict[type[RecycleError], int] = {
    AuthError: 401,
    ForbiddenError: 403,
    ModelNotFoundError: 404,
    DuplicateError: 409,
    PayloadTooLargeError: 413,
    UnsafeContentError: 422,
    ValidationError: 422,
    CardError: 422,
    SpecError: 422,
    DataError: 422,
    ConfigError: 422,
    IncompatibleError: 422,
    NotFittedError: 409,
    RateLimitError: 429,
    AssetMissingError: 503,
    SourceFailedError: 502,
    IntegrityError: 500,
    StorageError: 500,
    RecycleError: 400,
}


def http_status(error: RecycleError) -> int:
    """Return the HTTP status code for ``error`` (the most specific class in its MRO).

    Examples
    --------
    >>> http_status(ModelNotFoundError("no such model"))
    404
    """
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 500
