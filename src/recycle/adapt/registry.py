"""The registry of adaptation strategies, with each strategy's typed parameters.

Each strategy module registers its class with the :func:`register_strategy` decorator (as timm's
``register_model``); :mod:`recycle.adapt.strategies` imports every strategy module, so importing
it fills the registry. This module imports no strategy.

A strategy's user parameters are its constructor's arguments except ``sources``, ``seed`` and
``progress`` (set by the caller), typed by the constructor's hints: ``int``, ``float`` (an int is
accepted), ``str``, ``bool``, ``None``, ``Literal[...]`` and unions of those. :func:`check_params`
and :func:`build` refuse an unknown strategy, an unknown parameter and a value of the wrong type
with a :class:`~recycle.errors.ConfigError` naming the valid ones; nothing is dropped silently.
Parameters are given per strategy name, or under ``"*"`` for every strategy that takes them
(``{"*": {"max_epochs": 20}}``); a ``"*"`` parameter that no strategy takes is refused too.

Examples
--------
>>> import recycle.adapt.strategies  # registers every strategy
>>> params = strategy_params("mcw")
>>> sorted(params)
[]
>>> strategy_params("feature_mixing")["reducer"].describe()
"'ica' or 'pca'"
>>> check_params({"*": {"max_epochs": 20}})
>>> check_params({"feature_mixing": {"max_epoch": 20}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
recycle.errors.ConfigError: Unknown parameter 'max_epoch' for strategy 'feature_mixing'; ...
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from recycle.adapt.base import Strategy
from recycle.errors import ConfigError
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel

#: Constructor arguments the caller sets, not the user: not strategy parameters.
CALLER_ARGS = ("sources", "seed", "progress")
#: The key of ``strategy_params`` whose parameters go to every strategy that takes them.
ALL = "*"

#: Name -> strategy class, filled by :func:`register_strategy`.
STRATEGIES: dict[str, type[Strategy]] = {}
_PARAMS: dict[str, dict[str, Param]] = {}

S = TypeVar("S", bound=type[Strategy])
StrategyParams = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Param:
    """One typed parameter of a strategy: its name, type hint and default."""

    name: str
    hint: Any
    default: Any

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has this parameter's type."""
        return _accepts(self.hint, value)

    def describe(self) -> str:
        """The type in words (``"int"``, ``"float or None"``, ``"'ica' or 'pca'"``)."""
        return _describe(self.hint)


def _options(hint: Any) -> list[Any]:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return [o for arg in typing.get_args(hint) for o in _options(arg)]
    if origin is Literal:
        return [("literal", v) for v in typing.get_args(hint)]
    if hint in (int, float, str, bool, type(None)):
        return [hint]
    raise ConfigError(f"Strategy parameter type {hint!r} is not supported by the registry.")


#: Whether a (non-bool) value has each plain type; an int is a valid float.
_PLAIN: dict[Any, Any] = {
    int: lambda v: isinstance(v, int | np.integer),
    float: lambda v: isinstance(v, int | float | np.integer | np.floating),
    str: lambda v: isinstance(v, str),
    type(None): lambda v: v is None,
}


def _accepts(hint: Any, value: Any) -> bool:
    is_bool = isinstance(value, bool | np.bool_)
    for option in _options(hint):
        if isinstance(option, tuple):
            ok = type(value) is type(option[1]) and value == option[1]
        elif option is bool:
            ok = is_bool
        else:
            ok = not is_bool and _PLAIN[option](value)
        if ok:
            return True
    return False


def _describe(hint: Any) -> str:
    words = [
        repr(o[1]) if isinstance(o, tuple) else ("None" if o is type(None) else o.__name__)
        for o in _options(hint)
    ]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _read_params(cls: type[Strategy]) -> dict[str, Param]:
    hints = typing.get_type_hints(cls.__init__)
    out = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or name in CALLER_ARGS:
            continue
        if name not in hints or p.default is inspect.Parameter.empty:
            raise ConfigError(
                f"Strategy {cls.__name__}: parameter {name!r} needs a type hint and a default."
            )
        out[name] = Param(name, hints[name], p.default)
        _options(out[name].hint)  # refuse a hint the checks cannot read, at import
    return out


def register_strategy(cls: S) -> S:
    """Class decorator: register a :class:`~recycle.adapt.base.Strategy` under ``cls.name``.

    Raises ConfigError for a missing or duplicate name, or a parameter without a supported type.
    """
    if not cls.name:
        raise ConfigError(f"Strategy {cls.__name__} has no registry name (class attribute name).")
    if cls.name in STRATEGIES and STRATEGIES[cls.name] is not cls:
        raise ConfigError(
            f"Strategy name {cls.name!r} is registered twice ({STRATEGIES[cls.name].__name__} "
            f"and {cls.__name__})."
        )
    _PARAMS[cls.name] = _read_params(cls)
    STRATEGIES[cls.name] = cls
    return cls


def strategy_names() -> list[str]:
    """Names of every registered strategy: black-box first, then white-box, by name.

    Examples
    --------
    >>> import recycle.adapt.strategies
    >>> "independent" in strategy_names()
    True
    """
    return sorted(STRATEGIES, key=lambda n: (STRATEGIES[n].access == "white-box", n))


def get_strategy(name: str) -> type[Strategy]:
    """Return the strategy class registered as ``name``; ConfigError naming the valid ones."""
    if name not in STRATEGIES:
        raise ConfigError(
            f"Unknown strategy {name!r}; valid strategies are {', '.join(sorted(STRATEGIES))} "
            "or 'auto'."
        )
    return STRATEGIES[name]


def reads_sources(name: str) -> bool:
    """Whether strategy ``name`` needs sources: it reads them, or builds on their shared base.

    >>> import recycle.adapt.strategies
    >>> reads_sources("mcw"), reads_sources("tfidf_logreg"), reads_sources("independent_adapters")
    (True, False, True)
    """
    cls = get_strategy(name)
    return cls.uses_sources or cls.access == "white-box"


def strategy_params(name: str) -> dict[str, Param]:
    """The typed user parameters of strategy ``name`` (a copy)."""
    get_strategy(name)
    return dict(_PARAMS[name])


def _check_value(name: str, param: Param, value: Any) -> None:
    if not param.accepts(value):
        raise ConfigError(
            f"The {param.name!r} parameter of strategy {name!r} must be {param.describe()}. "
            f"Got {value!r} instead."
        )


def _check_named(name: str, values: Mapping[str, Any]) -> None:
    params = strategy_params(name)
    for key, value in values.items():
        if key not in params:
            valid = ", ".join(sorted(params)) or "none"
            raise ConfigError(f"Unknown parameter {key!r} for strategy {name!r}; valid: {valid}.")
        _check_value(name, params[key], value)


def check_params(params: StrategyParams | None) -> None:
    """Refuse unknown strategies, unknown parameters and mistyped values in ``params``.

    ``params`` maps strategy names (or ``"*"``) to ``{parameter: value}``. A ``"*"`` parameter
    must be taken by at least one strategy and have the right type for every one that takes it.
    """
    if params is None:
        return
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"strategy_params must be a dict {{strategy: {{parameter: value}}}}. Got {params!r}."
        )
    for name, values in params.items():
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"strategy_params[{name!r}] must be a dict {{parameter: value}}. Got {values!r}."
            )
        if name != ALL:
            _check_named(name, values)
            continue
        for key, value in values.items():
            takers = [n for n in STRATEGIES if key in _PARAMS[n]]
            if not takers:
                every = sorted({p for ps in _PARAMS.values() for p in ps})
                raise ConfigError(
                    f"No strategy takes the parameter {key!r} given under '*'; strategy "
                    f"parameters are: {', '.join(every)}."
                )
            for taker in takers:
                _check_value(taker, _PARAMS[taker][key], value)


def resolve_params(name: str, params: StrategyParams | None) -> dict[str, Any]:
    """The keyword arguments strategy ``name`` gets from ``params`` (checked first): the
    ``"*"`` parameters it takes, then its own (which win)."""
    check_params(params)
    own = strategy_params(name)
    shared = {k: v for k, v in (params or {}).get(ALL, {}).items() if k in own}
    return {**shared, **(params or {}).get(name, {})}


def build(
    name: str,
    sources: Sequence[SourceModel],
    seed: int,
    params: StrategyParams | None = None,
    progress: ProgressCallback | None = None,
) -> Strategy:
    """An unfitted strategy ``name`` on ``sources`` with its parameters from ``params``.

    ``progress`` goes to strategies whose constructor takes it (the ones that train a network).

    Examples
    --------
    >>> import recycle.adapt.strategies
    >>> build("feature_mixing", [], 0, {"*": {"max_epochs": 20}}).max_epochs
    20
    """
    kwargs = resolve_params(name, params)
    cls = STRATEGIES[name]
    if "progress" in inspect.signature(cls.__init__).parameters:
        kwargs["progress"] = progress
    return cls(sources=list(sources), seed=seed, **kwargs)
