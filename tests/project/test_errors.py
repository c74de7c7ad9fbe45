import pytest

from recycle import errors


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.DataError, ValueError),
        (errors.ModelNotFoundError, LookupError),
        (errors.IntegrityError, OSError),
        (errors.AssetMissingError, FileNotFoundError),
        (errors.AuthError, PermissionError),
    ],
)
def test_errors_refine_builtins(cls: type, builtin: type) -> None:
    err = cls("boom")
    assert isinstance(err, errors.RecycleError)
    assert isinstance(err, builtin)


def test_http_status_most_specific() -> None:
    assert errors.http_status(errors.ModelNotFoundError("x")) == 404
    assert errors.http_status(errors.RecycleError("x")) == 400
