"""The parameters of a selection or fit job, validated at submit with bounds.

A job's ``params`` (JSON form field) is parsed into :class:`JobParams` before anything is
queued, so an unbounded or unknown value is a 422 that names the field, never a job that fails
(or runs for ever) later. Bounds are named constants: they keep one request's work finite
before the job's time budget (enforced from outside, see :mod:`recycle.service.jobs`) applies.

Examples
--------
>>> JobParams.model_validate({"m": 2, "seed": 7}).recycler_kwargs()["seed"]
7
>>> try:
...     JobParams.model_validate({"cv_repeats": 10**9})
... except Exception as exc:
...     print(type(exc).__name__, "cv_repeats" in str(exc))
ValidationError True
"""

from __future__ import annotations

import math
import threading
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_SOURCES = 256  # ids in one job's ``sources``
MAX_M = 64  # sources one recycled model may mix
MAX_TOP = 1000  # ranking rows a selection job returns
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_CV = 10  # folds
MAX_CV_REPEATS = 10  # repeats of the folds (each repeat refits every candidate)
MAX_STRATEGIES = 32  # candidate strategies of an "auto" fit
MAX_TIME_BUDGET_S = 3600.0  # seconds; the server kills a job at its budget plus a grace
MAX_PARAM_NUMBER = 100_000  # largest number in strategy_params (epochs, widths, ...)
MAX_PARAM_LIST = 64  # longest list in strategy_params

_ADAPT_IMPORT = threading.Lock()  # see _adapt()
SourceId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Scalar = bool | int | float | str | None


def _adapt() -> Any:
    """:mod:`recycle.adapt`, imported by one thread at a time: its first import from several
    request threads at once saw the strategy registry half-built ("unknown strategy")."""
    with _ADAPT_IMPORT:
        import recycle.adapt
    return recycle.adapt


def _check_strategy(name: str) -> str:
    valid = list(_adapt().strategy_names())
    if name not in valid:
        raise ValueError(f"unknown strategy {name[:64]!r}; valid: {', '.join(valid)}")
    return name


def _check_number(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if not math.isfinite(value) or abs(value) > MAX_PARAM_NUMBER:
        raise ValueError(f"{where} must be finite and at most {MAX_PARAM_NUMBER} in size")


class JobParams(BaseModel):
    """What a job may ask for; every field bounded (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")

    #: Model ids (32 hex) to use; default every entry of the zoo.
    sources: list[SourceId] | None = Field(None, min_length=1, max_length=MAX_SOURCES)
    #: Transferability score of the ranking (:data:`recycle.select.SCORES`).
    score: str = Field("knn", max_length=64)
    #: How many sources to mix, or "auto".
    m: Annotated[int, Field(ge=1, le=MAX_M)] | Literal["auto"] = "auto"
    #: Ranking rows returned by a selection job.
    top: int | None = Field(None, ge=1, le=MAX_TOP)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    #: A strategy name or "auto".
    strategy: str = Field("auto", max_length=64)
    #: Candidates of an "auto" fit.
    strategies: list[str] | None = Field(None, min_length=1, max_length=MAX_STRATEGIES)
    cv: int = Field(3, ge=2, le=MAX_CV)
    #: Repeats of the folds; default the path's own (1 on a text LoRA library, else 2).
    cv_repeats: int | None = Field(None, ge=1, le=MAX_CV_REPEATS)
    #: Seconds the job may take; it is stopped from outside shortly after. Default the path's own
    #: (``Recycler``'s auto budget; the job's wall is then :func:`default_job_budget`).
    time_budget: float | None = Field(None, gt=0, le=MAX_TIME_BUDGET_S)
    #: ``{strategy: {parameter: value}}``; parameters the strategy does not take are refused.
    strategy_params: dict[str, dict[str, Scalar | list[Scalar]]] | None = None

    @field_validator("score")
    @classmethod
    def _score(cls, value: str) -> str:
        from recycle.select import SCORES

        if value not in SCORES:
            raise ValueError(f"unknown score {value[:64]!r}; valid: {', '.join(sorted(SCORES))}")
        return value

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        return value if value == "auto" else _check_strategy(value)

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            _check_strategy(name)
        return value

    @field_validator("strategy_params")
    @classmethod
    def _strategy_params(cls, value: dict | None) -> dict | None:
        _adapt()  # imported under the lock first (see _adapt)
        from recycle.adapt.registry import check_params
        from recycle.errors import ConfigError

        try:  # the library's own check: unknown strategies, parameters and types
            check_params(value)
        except ConfigError as exc:
            raise ValueError(str(exc)[:500]) from None
        for name, params in (value or {}).items():
            for key, v in params.items():
                items = v if isinstance(v, list) else [v]
                if len(items) > MAX_PARAM_LIST:
                    raise ValueError(f"{name}.{key} is longer than {MAX_PARAM_LIST}")
                for item in items:
                    _check_number(item, f"{name}.{key}")
        return value

    def recycler_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`recycle.adapt.Recycler` (no sources, zoo or backend)."""
        keys = ("m", "strategy", "seed", "cv", "cv_repeats", "strategies", "time_budget",
                "strategy_params")  # fmt: skip
        kw = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        kw["selection_score"] = self.score  # the API's name (as for select jobs)
        return kw

    def select_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`recycle.select.select_sources`."""
        kw: dict[str, Any] = {"score": self.score, "m": self.m, "seed": self.seed}
        if self.top is not None:
            kw["top"] = self.top
        return kw


def default_job_budget() -> float:
    """Seconds a job without a ``time_budget`` may take: the longest of auto's per-path
    default budgets (:mod:`recycle.adapt.auto.fidelity`), since the path is known only once
    the job has selected its sources."""
    _adapt()
    from recycle.adapt.auto import fidelity

    return max(fidelity.DEFAULT_BUDGET, fidelity.LORA_BUDGET)


EXPORT_TIME_BUDGET_S = 300.0  # an export traces each source once: minutes at most


class ExportParams(BaseModel):
    """What an ONNX export job may ask for (``POST /jobs/{id}/export``); unknown keys refused.

    Examples
    --------
    >>> ExportParams.model_validate({"quantize": "int8"}).quantize
    'int8'
    """

    model_config = ConfigDict(extra="forbid")

    #: ``"int8"`` for int8 weights (:func:`recycle.deploy.export_onnx`), else float32.
    quantize: Literal["int8"] | None = None
    #: Seconds the export may take; it is stopped from outside shortly after.
    time_budget: float = Field(EXPORT_TIME_BUDGET_S, gt=0, le=MAX_TIME_BUDGET_S)
