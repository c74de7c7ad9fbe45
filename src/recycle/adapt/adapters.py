"""The adapter machinery of the white-box strategies (module mixing and its baselines).

All sources share one frozen base (a :mod:`recycle.adapt.family`). :class:`AdapterNet` is that
base with the ``m`` frozen source adapter sets and one new trainable set: every adapter site
``j`` outputs ``base_j(x) + sum_i softmax(logits_j)[i] * adapter_i(x)``; the pooled features are
mixed the same way with the sources' features, ``f(x) = lambda_new f_t(x) + sum_n lambda_n
f_n(x)``; a new head classifies ``f``. With no frozen source (the baselines) it is the base with
one adapter set, fresh or a source's, and a new head.

:class:`AdapterStrategy` is the shared fit / predict / state of the three white-box strategies;
each one says which adapters it starts from and mixes (:mod:`recycle.adapt.strategies`).
Training is the package's loop (:func:`recycle.adapt.training.fit_loop`, early stopping on
validation accuracy) on the package's stratified hold-out
(:func:`recycle.adapt.split.stratified_holdout`).

Examples
--------
>>> import torch
>>> x = torch.randn(16, 4)
>>> round(float(distance_correlation(x, 2 * x)), 4)
1.0
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from recycle.adapt.base import Strategy
from recycle.adapt.family.model import FamilyNet
from recycle.adapt.family.source import check_same_base, inference_batch
from recycle.adapt.split import stratified_holdout
from recycle.adapt.training import fit_loop
from recycle.errors import ConfigError

MIN_STEPS = 4  # minimum optimiser steps per epoch (small targets get smaller batches)
PROBE_C = 1.0  # inverse L2 strength of the logistic-regression probe that initialises the head
HEAD_INITS = ("probe", "random")


def distance_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distance correlation (Szekely 2007) between row-matched ``a`` and ``b``.

    Examples
    --------
    >>> x = torch.randn(16, 4)
    >>> round(float(distance_correlation(x, 2 * x)), 4)
    1.0
    """

    def centred(x: torch.Tensor) -> torch.Tensor:
        sq = (x.unsqueeze(0) - x.unsqueeze(1)).pow(2).sum(-1)
        d = torch.sqrt(sq + 1e-12)
        return d - d.mean(0, keepdim=True) - d.mean(1, keepdim=True) + d.mean()

    A, B = centred(a), centred(b)
    dcov = (A * B).mean()
    return dcov / torch.sqrt((A * A).mean() * (B * B).mean() + 1e-12)


def loo_1nn_accuracy(F: torch.Tensor, y: np.ndarray) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy of L2-normalised features ``F``.

    Examples
    --------
    >>> F = torch.tensor([[0.0, 1], [0, 1.1], [1, 0], [1.1, 0]])
    >>> loo_1nn_accuracy(F, np.array([0, 0, 1, 1]))
    1.0
    """
    Fn = nn.functional.normalize(F.float(), dim=1)
    d = torch.cdist(Fn, Fn)
    d.fill_diagonal_(float("inf"))
    nearest = d.argmin(1).numpy()
    return float((np.asarray(y)[nearest] == np.asarray(y)).mean())


class AdapterNet(nn.Module):
    """Frozen base + frozen source adapter sets + one trainable set, mixed per site; new head."""

    def __init__(
        self,
        sources: list[Any],
        n_classes: int,
        init_from: Any,
        lam: float,
        new_adapter: bool = True,
    ):
        super().__init__()
        if not sources and (init_from is None or not new_adapter):
            raise ConfigError("AdapterNet needs sources or an adapter set to start from.")
        base = check_same_base(sources) if sources else init_from.base
        cfg = (sources[0] if sources else init_from).adapter_config
        self.net = FamilyNet(base, cfg)
        self.names = [f"s{i}" for i in range(len(sources))]
        for i, src in enumerate(sources):
            self.net.add_adapter_set(f"s{i}", src.adapter_state, trainable=False)
        m = len(sources)
        # Softmax logits whose initial weights are lam for the new path, (1 - lam) / m each.
        init = torch.tensor([math.log((1 - lam) / m)] * m + [math.log(lam)] if m else [0.0])
        if new_adapter:
            self.names.append("new")
            self.net.add_adapter_set("new", None if init_from is None else init_from.adapter_state)
            sites = init.repeat(len(self.net.sites), 1)
        else:  # the ablation without a new adapter: sites mix the source adapters only
            sites = torch.zeros(len(self.net.sites), m)
        self.site_logits = nn.Parameter(sites)
        self.feat_logits = nn.Parameter(init.clone())
        self.head = nn.Linear(base.feature_dim, n_classes)

    def trainable(self) -> list[nn.Parameter]:
        new = list(self.net.adapter_set("new").parameters()) if "new" in self.names else []
        mix = [self.site_logits, self.feat_logits] if len(self.names) > 1 or not new else []
        return [*new, *self.head.parameters(), *mix]

    def forward(self, x: torch.Tensor, src_f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits, f_t); ``src_f`` is ``(n, m, d)`` source features (f_n = embed)."""
        w = torch.softmax(self.site_logits, dim=1)
        self.net.activate(self.names, list(w))
        f_t = self.net.features(x)
        f = self.mixed(f_t, src_f)
        return self.head(f), f_t

    def mixed(self, f_t: torch.Tensor, src_f: torch.Tensor) -> torch.Tensor:
        """Convex mix of the new path's pooled features with the sources' features."""
        if not src_f.shape[1]:
            return f_t
        fw = torch.softmax(self.feat_logits, dim=0)
        return fw[-1] * f_t + torch.einsum("m,nmd->nd", fw[:-1], src_f)

    def probe_init(self, x: torch.Tensor, src_f: torch.Tensor, y: np.ndarray, seed: int) -> None:
        """Set the head to a logistic regression on the initial features (LP-FT style)."""
        with torch.no_grad():
            self.net.activate(self.names, list(torch.softmax(self.site_logits, dim=1)))
            F = self.mixed(self.net.features(x), src_f).numpy()
        lr = LogisticRegression(C=PROBE_C, max_iter=1000, random_state=seed).fit(F, y)
        coef, bias = lr.coef_, lr.intercept_
        if coef.shape[0] == 1:  # binary: sklearn keeps one row; split it symmetrically
            coef, bias = np.vstack([-coef / 2, coef / 2]), np.array([-bias[0] / 2, bias[0] / 2])
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(coef, dtype=torch.float32))
            self.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))


class FreshAdapters:
    """A source stand-in whose adapters start at zero (independent adapters' new path)."""

    def __init__(self, source: Any) -> None:
        self.base, self.adapter_config, self.adapter_state = (
            source.base,
            source.adapter_config,
            None,
        )


class AdapterStrategy(Strategy):
    """Fit, predict and state shared by the white-box strategies.

    A subclass says what its new path starts from (:meth:`_start_from`), whether it mixes the
    frozen source adapters in (``mixes_sources``), and may pick the initial mixing weight
    (:meth:`_initial_lambda`) and a regulariser weight (:meth:`_sigma`). Its constructor stores
    ``max_epochs``, ``lr``, ``batch_size``, ``patience``, ``val_fraction`` and ``head_init``.
    """

    access: ClassVar[str] = "white-box"
    relative_cost: ClassVar[float] = 50.0
    #: Mix the frozen source adapters into the new path (module mixing) or not (baselines).
    mixes_sources: ClassVar[bool] = True
    #: Models saved before the epochs parameter was named like the other strategies'.
    legacy_params: ClassVar[dict[str, str | None]] = {"epochs": "max_epochs"}

    max_epochs: int
    lr: float
    batch_size: int
    patience: int
    val_fraction: float
    head_init: str

    def _start_from(self) -> Any | None:
        """The source whose adapters the new path starts from (None: zero adapters)."""
        return None

    def _sigma(self) -> float:
        """Weight of the distance-correlation regulariser (0: none)."""
        return 0.0

    def _new_adapter(self) -> bool:
        """Whether the network gets a new trainable adapter at every site."""
        return True

    def _initial_lambda(self, xt: torch.Tensor, yt: torch.Tensor, S: torch.Tensor) -> float:
        """Initial weight of the new path in every mix (unused without frozen sources)."""
        return 0.5

    def _build(self, n_classes: int, lam: float) -> AdapterNet:
        frozen = list(self.sources or []) if self.mixes_sources else []
        start = self._start_from()
        if not frozen and start is None:
            self._base()  # a clear error without sources or with several bases
            start = FreshAdapters(self.sources[0])  # type: ignore[index]
        torch.manual_seed(self.seed)
        return AdapterNet(frozen, n_classes, start, lam, self._new_adapter())

    def _src_tensor(self, feats: list[np.ndarray], n: int) -> torch.Tensor:
        if not self.mixes_sources or not feats:
            return torch.zeros(n, 0, 1)
        return torch.as_tensor(np.stack(feats, axis=1), dtype=torch.float32)

    def _train(
        self, X: torch.Tensor, y: torch.Tensor, S: torch.Tensor, lam: float, epochs: int
    ) -> tuple[AdapterNet, float | None]:
        """Build and train a network with initial mixing weight ``lam``; its validation accuracy."""
        tr, va = stratified_holdout(y.numpy(), self.val_fraction, self.seed)
        model = self._build(int(y.max()) + 1, lam)
        if self.head_init not in HEAD_INITS:
            raise ConfigError(
                f"The 'head_init' parameter must be 'probe' or 'random'. Got {self.head_init!r}."
            )
        if self.head_init == "probe":
            model.probe_init(X[tr], S[tr], y[tr].numpy(), self.seed)
        sigma = self._sigma()

        def loss(idx: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            logits, f_t = model(X[idx], S[idx])
            out = nn.functional.cross_entropy(logits, yb)
            if sigma > 0 and S.shape[1] and len(idx) > 2:
                ft = nn.functional.normalize(f_t, dim=1)
                dcs = [
                    distance_correlation(nn.functional.normalize(S[idx, k], dim=1), ft)
                    for k in range(S.shape[1])
                ]
                out = out + sigma * torch.stack(dcs).mean()
            return out

        tr_t, va_t = torch.as_tensor(tr), torch.as_tensor(va)
        stats = fit_loop(
            model.trainable(), loss, lambda idx: model(X[idx], S[idx])[0],
            tr_t, y[tr_t], va_t, y[va_t], epochs=epochs,
            # At least MIN_STEPS updates per epoch, even with 20 training images.
            batch_size=min(self.batch_size, max(4, len(tr) // MIN_STEPS)),
            lr=self.lr, patience=self.patience, seed=self.seed, set_train=model.net.train,
        )  # fmt: skip
        return model, stats["val_accuracy"]

    def _base(self) -> Any:
        """The family base of the sources (the CNN or MiniLM); encodes the raw inputs."""
        if not self.sources:
            raise ConfigError(
                f"{type(self).__name__} needs at least one family source (for its base); "
                "got none. Register a white-box family (stream28, the text LoRA library) in "
                "the zoo."
            )
        return check_same_base(list(self.sources))

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        xt = self._base().encode(X)
        yt = torch.as_tensor(y, dtype=torch.long)
        S = self._src_tensor(feats, len(xt))
        self.lambda_scores_: dict[str, float | None] = {}
        self.lambda_new_ = self._initial_lambda(xt, yt, S)
        self.model_, self.val_accuracy_ = self._train(xt, yt, S, self.lambda_new_, self.max_epochs)
        self.trainable_params_ = sum(p.numel() for p in self.model_.trainable())
        self._set_weights()

    def _set_weights(self) -> None:
        with torch.no_grad():
            self.mixing_weights_ = torch.softmax(self.model_.site_logits, 1).numpy()
            self.feature_weights_ = torch.softmax(self.model_.feat_logits, 0).numpy()

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        base = self._base()
        S = self._src_tensor(feats, len(X))
        step = inference_batch(base)
        self.model_.net.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(X), step):
                logits = self.model_(base.encode(X[i : i + step]), S[i : i + step])[0]
                out.append(torch.softmax(logits, 1))
        return torch.cat(out).numpy()

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state = {
            k: v.detach().numpy()
            for k, v in self.model_.state_dict().items()
            if ".new." in f".{k}" or k.startswith(("head.", "site_logits", "feat_logits"))
        }
        config = {"lambda_new_": self.lambda_new_, "val_accuracy_": self.val_accuracy_}
        return config, state

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.lambda_new_ = float(config["lambda_new_"])
        val = config["val_accuracy_"]
        self.val_accuracy_ = None if val is None else float(val)
        self.lambda_scores_ = {}
        self.model_ = self._build(len(self.classes_), self.lambda_new_)
        missing = self.model_.load_state_dict(
            {k: torch.as_tensor(v) for k, v in tensors.items()}, strict=False
        )
        if missing.unexpected_keys:
            raise ConfigError(f"Saved state has unknown tensors {missing.unexpected_keys[:3]}.")
        self._set_weights()
