"""The spec format: a versioned, validated RKME (reduced set ``Z`` with weights ``beta``).

On disk a spec is JSON (``Z`` as base64 float32, or as nested lists) or, for a big ``Z``,
safetensors (the metadata in the header). A spec never holds data rows: ``Z`` are synthetic
points fitted to the kernel mean embedding, ``n`` only counts the rows summarised.

Examples
--------
>>> import numpy as np
>>> s = Spec(space="input:2", gamma=0.5, Z=np.zeros((2, 2), np.float32),
...          beta=np.array([0.5, 0.5]), n=10)
>>> Spec.from_json(s.to_json()) == s
True
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import SpecError

#: Format name written in every file; the trailing number is the version.
FORMAT = "recycle-rkme"
#: The one version this code reads and writes.
VERSION = 1
#: Kernels a spec may declare.
KERNELS = ("gaussian",)
#: Largest allowed ``|sum(beta) - 1|``.
BETA_SUM_TOL = 1e-6
#: Smallest allowed beta entry (tiny negatives from float error are clipped to 0).
BETA_NEG_TOL = 1e-12


def parse_space(space: str) -> tuple[str, int]:
    """Split a space id ``"name:dim"`` into ``(name, dim)``.

    Examples
    --------
    >>> parse_space("effnet_lite0.imagenet:1280")
    ('effnet_lite0.imagenet', 1280)
    """
    name, sep, dim = str(space).rpartition(":")
    if not sep or not name or not dim.isdigit() or int(dim) < 1:
        raise SpecError(
            f"Spec space must look like 'name:dim' (e.g. 'input:784'). Got {space!r} instead."
        )
    return name, int(dim)


@dataclass(eq=False)
class Spec:
    """A data-free statistical specification (reduced kernel mean embedding)."""

    #: space id "name:dim": "input:784", "effnet_lite0.imagenet:1280", "minilm_l6:384"
    space: str
    #: bandwidth of the Gaussian kernel exp(-gamma ||x - y||^2), adapted to the data
    gamma: float
    #: reduced set, m x d float32 synthetic points (never data rows)
    Z: np.ndarray
    #: weights of the reduced points, >= 0, summing to 1
    beta: np.ndarray
    #: number of data rows the spec summarises
    n: int
    #: seed of the build (k-means init, bandwidth subsample)
    seed: int = 0
    #: squared RKHS distance between the data's kernel mean and the reduced one (None: unknown)
    residual: float | None = None
    #: kernel name; only "gaussian"
    kernel: str = "gaussian"
    #: format version
    version: int = VERSION
    #: free-form provenance (builder, m requested, ...); JSON-able values only
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.version != VERSION:
            raise SpecError(
                f"Unknown spec version {self.version!r}; this recycle reads version {VERSION}. "
                "Rebuild the spec with this recycle or upgrade it."
            )
        if self.kernel not in KERNELS:
            raise SpecError(f"Spec kernel must be one of {KERNELS}. Got {self.kernel!r} instead.")
        _, dim = parse_space(self.space)
        Z = np.asarray(self.Z, dtype=np.float32)
        if Z.ndim != 2 or Z.shape[0] < 1:
            raise SpecError(
                f"Spec Z must be a non-empty m x d matrix. Got shape {Z.shape} instead."
            )
        if Z.shape[1] != dim:
            raise SpecError(
                f"Spec Z has {Z.shape[1]} columns but its space {self.space!r} has dimension "
                f"{dim}; build the spec in the right space."
            )
        if not np.isfinite(Z).all():
            raise SpecError("Spec Z contains NaN or inf values; rebuild it from finite data.")
        beta = np.asarray(self.beta, dtype=np.float64).ravel()
        if beta.shape[0] != Z.shape[0]:
            raise SpecError(
                f"Spec has {Z.shape[0]} reduced points but {beta.shape[0]} weights; m must match."
            )
        if not np.isfinite(beta).all():
            raise SpecError("Spec beta contains NaN or inf values; rebuild the spec.")
        if beta.min() < -BETA_NEG_TOL:
            raise SpecError(
                f"Spec beta must be >= 0. Got a weight of {beta.min():.3g}; rebuild the spec."
            )
        if abs(beta.sum() - 1.0) > BETA_SUM_TOL:
            raise SpecError(f"Spec beta must sum to 1. Got {beta.sum():.9g}; rebuild the spec.")
        gamma = float(self.gamma)
        if not np.isfinite(gamma) or gamma <= 0:
            raise SpecError(f"Spec gamma must be a finite number > 0. Got {self.gamma!r} instead.")
        if isinstance(self.n, bool) or int(self.n) != self.n or int(self.n) < 1:
            raise SpecError(f"Spec n must be an int >= 1. Got {self.n!r} instead.")
        if self.residual is not None and not (np.isfinite(self.residual) and self.residual >= 0):
            raise SpecError(f"Spec residual must be >= 0 or null. Got {self.residual!r} instead.")
        self.Z = Z
        self.beta = np.clip(beta, 0.0, None)
        self.gamma = gamma
        self.n = int(self.n)
        self.seed = int(self.seed)

    @property
    def m(self) -> int:
        """Number of reduced points."""
        return int(self.Z.shape[0])

    @property
    def dim(self) -> int:
        """Dimension of the space."""
        return int(self.Z.shape[1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spec):
            return NotImplemented
        a, b = self.to_dict(encoding="list"), other.to_dict(encoding="list")
        return a == b

    def to_dict(self, encoding: str = "base64") -> dict[str, Any]:
        """JSON-able dict; ``Z`` as base64 little-endian float32 (``"base64"``) or lists."""
        if encoding == "base64":
            z: Any = {
                "dtype": "float32",
                "shape": list(self.Z.shape),
                "base64": base64.b64encode(self.Z.astype("<f4").tobytes()).decode("ascii"),
            }
        elif encoding == "list":
            z = self.Z.tolist()
        else:
            raise SpecError(f"Spec encoding must be 'base64' or 'list'. Got {encoding!r} instead.")
        return {
            "format": f"{FORMAT}/{self.version}",
            "version": self.version,
            "space": self.space,
            "kernel": self.kernel,
            "gamma": self.gamma,
            "m": self.m,
            "n": self.n,
            "seed": self.seed,
            "residual": self.residual,
            "beta": self.beta.tolist(),
            "Z": z,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        """Validate and build a spec from :meth:`to_dict` output (either encoding)."""
        if not isinstance(data, dict):
            raise SpecError(f"A spec must be a JSON object. Got {type(data).__name__} instead.")
        missing = [k for k in ("version", "space", "gamma", "Z", "beta", "n") if k not in data]
        if missing:
            raise SpecError(
                f"Spec is missing fields {missing}; rebuild it with `recycle spec build`."
            )
        fmt = data.get("format", f"{FORMAT}/{data['version']}")
        if not str(fmt).startswith(FORMAT + "/"):
            raise SpecError(f"Not a recycle spec: format {fmt!r}; expected '{FORMAT}/{VERSION}'.")
        Z = _decode_z(data["Z"])
        spec = cls(
            space=data["space"],
            gamma=data["gamma"],
            Z=Z,
            beta=np.asarray(data["beta"], dtype=np.float64),
            n=data["n"],
            seed=data.get("seed", 0),
            residual=data.get("residual"),
            kernel=data.get("kernel", "gaussian"),
            version=data["version"],
            meta=dict(data.get("meta") or {}),
        )
        if "m" in data and data["m"] != spec.m:
            raise SpecError(f"Spec declares m={data['m']} but holds {spec.m} reduced points.")
        return spec

    def to_json(self, encoding: str = "base64") -> str:
        """Serialise to a JSON string (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(encoding=encoding), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Spec:
        """Parse and validate a JSON string written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SpecError(
                f"Spec is not valid JSON ({e}); pass a file from `recycle spec build`."
            ) from e
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to ``path``: ``.safetensors`` stores Z as a tensor, anything else JSON.

        Written to a temporary name first, then renamed (never half-written).
        """
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        if path.suffix == ".safetensors":
            from safetensors.numpy import save_file

            head = self.to_dict(encoding="list")
            head.pop("Z")
            save_file(
                {"Z": np.ascontiguousarray(self.Z), "beta": np.ascontiguousarray(self.beta)},
                str(tmp),
                metadata={"spec": json.dumps(head)},
            )
        else:
            tmp.write_text(self.to_json())
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Spec:
        """Read a spec written by :meth:`save` (JSON or safetensors)."""
        path = Path(path)
        if not path.is_file():
            raise SpecError(f"Spec file {str(path)!r} does not exist; build one first.")
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            try:
                with safe_open(str(path), framework="numpy") as f:
                    head = json.loads((f.metadata() or {})["spec"])
                    head["Z"] = f.get_tensor("Z")
                    head["beta"] = f.get_tensor("beta")
            except (KeyError, OSError, ValueError, json.JSONDecodeError) as e:
                raise SpecError(
                    f"{str(path)!r} is not a recycle spec safetensors file ({e})."
                ) from e
            return cls.from_dict(head)
        return cls.from_json(path.read_bytes())


def _decode_z(raw: Any) -> np.ndarray:
    if isinstance(raw, np.ndarray):
        return raw
    if isinstance(raw, dict):
        try:
            shape = tuple(int(s) for s in raw["shape"])
            buf = base64.b64decode(raw["base64"], validate=True)
        except (KeyError, TypeError, ValueError) as e:
            raise SpecError(f"Spec Z is not a valid base64 block ({e}); rebuild the spec.") from e
        if raw.get("dtype", "float32") != "float32" or len(buf) != 4 * int(np.prod(shape)):
            raise SpecError(f"Spec Z bytes do not match dtype float32 and shape {list(shape)}.")
        return np.frombuffer(buf, dtype="<f4").reshape(shape).astype(np.float32)
    try:
        return np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise SpecError(f"Spec Z must be a matrix of numbers ({e}).") from e
