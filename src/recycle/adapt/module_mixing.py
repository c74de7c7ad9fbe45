"""White-box module mixing (Wang & Henao): convex mixing of source adapters inside one network.

All sources share one frozen base (a :mod:`recycle.adapt.family`). For the target, every adapter
site ``j`` outputs ``base_j(x) + sum_i softmax(logits_j)[i] * adapter_i(x)`` over the ``m`` frozen
source adapters and one new trainable adapter; the pooled features are mixed the same way,
``f(x) = lambda_new f_t(x) + sum_n lambda_n f_n(x)`` with ``f_n`` the network with source ``n``'s
adapters (its ``embed``); a new head classifies ``f``. Trained: the new adapters, the head and
the mixing logits. Optional regulariser: ``sigma * mean_n dCor(f_n, f_t)`` on L2-normalised
minibatch features. Early stopping uses a stratified validation split of the target data.

``lambda_new="auto"`` (default) sets the initial weight of the new path from ``LAMBDA_GRID`` by
comparing the leave-one-out 1-NN accuracy of the base features with that of the best source's
features on the target training data (no extra training); ``"grid"`` instead runs a short
training per candidate and keeps the best on the validation split (3x slower, and noisy when the
validation split has one image per class).

Examples
--------
>>> import numpy as np
>>> from recycle.adapt.family import FamilyBase, FamilyConfig, FamilySource
>>> base = FamilyBase(FamilyConfig(channels=(4, 8)))
>>> src = FamilySource.fresh(base, ["a", "b"], name="demo.src")
>>> X = np.random.default_rng(0).integers(0, 255, (20, 28, 28), dtype=np.uint8)
>>> y = np.arange(20) % 2
>>> mm = ModuleMixing([src], lambda_new=0.5, epochs=2).fit(X, y)
>>> mm.predict(X[:4]).shape, mm.mixing_weights_.shape
((4,), (3, 2))
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from recycle.adapt.family.model import FamilyNet, to_tensor
from recycle.adapt.family.source import check_same_base
from recycle.adapt.family.train import fit_loop
from recycle.adapt.strategies import Strategy
from recycle.errors import ConfigError, DataError

LAMBDA_GRID = (0.2, 0.5, 0.8)  # candidate initial weights of the new path for lambda_new="auto"
DC_SIGMA = 0.05  # the paper's weight of the distance-correlation regulariser
MIN_STEPS = 4  # minimum optimiser steps per epoch (small targets get smaller batches)
PROBE_C = 1.0  # inverse L2 strength of the logistic-regression probe that initialises the head
KNN_MARGIN = 0.05  # 1-NN accuracy gap (source vs base) that moves lambda_new off the middle


def stratified_val_split(
    y: np.ndarray, fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, val): ``fraction`` per class, at least 1, keeping >= 1 to train.

    Examples
    --------
    >>> tr, va = stratified_val_split(np.array([0, 0, 0, 1, 1, 1]), 0.1)
    >>> len(tr), len(va)
    (4, 2)
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) < 2:
            raise DataError(
                f"Class {c} has {len(idx)} training example; need >= 2 (one for validation)."
            )
        k = min(len(idx) - 1, max(1, round(fraction * len(idx))))
        val.append(idx[:k])
        train.append(idx[k:])
    return np.concatenate(train), np.concatenate(val)


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


class _AdapterNet(nn.Module):
    """Frozen base + frozen source adapter sets + one trainable set, mixed per site; new head."""

    def __init__(self, sources: list[Any], n_classes: int, init_from: Any, lam: float):
        super().__init__()
        if not sources and init_from is None:
            raise ConfigError("_AdapterNet needs sources or an adapter set to start from.")
        base = check_same_base(sources) if sources else init_from.base
        cfg = (sources[0] if sources else init_from).adapter_config
        self.net = FamilyNet(base, cfg)
        self.names = [f"s{i}" for i in range(len(sources))] + ["new"]
        for i, src in enumerate(sources):
            self.net.add_adapter_set(f"s{i}", src.adapter_state, trainable=False)
        self.net.add_adapter_set("new", None if init_from is None else init_from.adapter_state)
        m = len(sources)
        # Softmax logits whose initial weights are lam for the new path, (1 - lam) / m each.
        init = torch.tensor([math.log((1 - lam) / m)] * m + [math.log(lam)] if m else [0.0])
        self.site_logits = nn.Parameter(init.repeat(len(self.net.sites), 1))
        self.feat_logits = nn.Parameter(init.clone())
        self.head = nn.Linear(base.config.feature_dim, n_classes)

    def trainable(self) -> list[nn.Parameter]:
        new = list(self.net.adapter_set("new").parameters())
        mix = [self.site_logits, self.feat_logits] if len(self.names) > 1 else []
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
        from sklearn.linear_model import LogisticRegression

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


class _AdapterStrategy(Strategy):
    """Shared fitting of adapter-based white-box strategies (see the subclasses)."""

    access: ClassVar[str] = "white-box"
    relative_cost: ClassVar[float] = 50.0
    _mix: ClassVar[bool] = True  # mix frozen source adapters (module mixing) or not

    def _frozen_sources(self) -> list[Any]:
        return list(self.sources or [])

    def _init_from(self) -> Any | None:
        return None

    def _lambda_init(self) -> float:
        lam = getattr(self, "lambda_new", 0.5)
        if lam in ("auto", "grid"):
            return 0.5
        if isinstance(lam, str) or not 0.0 < float(lam) < 1.0:
            raise ConfigError(
                f"The 'lambda_new' parameter must be a float in (0, 1), 'auto' or 'grid'. "
                f"Got {lam!r} instead."
            )
        return float(lam)

    def _build(self, n_classes: int, lam: float) -> _AdapterNet:
        frozen = self._frozen_sources() if self._mix else []
        init = self._init_from()
        if not frozen and init is None:
            if not self.sources:
                raise ConfigError(
                    f"{type(self).__name__} needs at least one family source (for its base); "
                    "got none. Register a white-box family (stream28) in the zoo."
                )
            check_same_base(self.sources)
            init = _Fresh(self.sources[0])
        torch.manual_seed(self.seed)
        return _AdapterNet(frozen, n_classes, init, lam)

    def _src_tensor(self, feats: list[np.ndarray], n: int) -> torch.Tensor:
        if not self._mix or not feats:
            return torch.zeros(n, 0, 1)
        return torch.as_tensor(np.stack(feats, axis=1), dtype=torch.float32)

    def _train(
        self, X: torch.Tensor, y: torch.Tensor, S: torch.Tensor, lam: float, epochs: int
    ) -> tuple[_AdapterNet, float]:
        tr, va = stratified_val_split(y.numpy(), self.val_fraction, self.seed)
        model = self._build(int(y.max()) + 1, lam)
        if self.head_init == "probe":
            model.probe_init(X[tr], S[tr], y[tr].numpy(), self.seed)
        elif self.head_init != "random":
            raise ConfigError(
                f"The 'head_init' parameter must be 'probe' or 'random'. Got {self.head_init!r}."
            )
        sigma = float(self.sigma)

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
            model.trainable(),
            lambda idx, yb: loss(idx, yb),
            lambda idx: model(X[idx], S[idx])[0],
            tr_t,
            y[tr_t],
            va_t,
            y[va_t],
            epochs=epochs,
            # At least MIN_STEPS updates per epoch, even with 20 training images.
            batch_size=min(self.batch_size, max(4, len(tr) // MIN_STEPS)),
            lr=self.lr,
            patience=self.patience,
            seed=self.seed,
            set_train=model.net.train,
        )
        return model, stats["val_accuracy"]

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        xt = to_tensor(X)
        yt = torch.as_tensor(y, dtype=torch.long)
        S = self._src_tensor(feats, len(xt))
        lam = self._lambda_init()
        self.lambda_scores_: dict[str, float] = {}
        mode = getattr(self, "lambda_new", None)
        if self._mix and mode == "grid" and S.shape[1]:
            short = max(3, self.epochs // 4)
            for cand in LAMBDA_GRID:
                self.lambda_scores_[str(cand)] = self._train(xt, yt, S, cand, short)[1]
            lam = max(LAMBDA_GRID, key=lambda c: (self.lambda_scores_[str(c)], -abs(c - 0.5)))
        elif self._mix and mode == "auto" and S.shape[1]:
            lam = self._lambda_from_knn(xt, y, S)
        self.lambda_new_ = lam
        self.model_, self.val_accuracy_ = self._train(xt, yt, S, lam, self.epochs)
        self.trainable_params_ = sum(p.numel() for p in self.model_.trainable())
        self._set_weights()

    def _lambda_from_knn(self, xt: torch.Tensor, y: np.ndarray, S: torch.Tensor) -> float:
        """Initial lambda_new from leave-one-out 1-NN accuracy: base features vs best source."""
        with torch.no_grad():
            f_base = check_same_base(self.sources or [])(xt)
        scores = {"base": loo_1nn_accuracy(f_base, y)}
        for k in range(S.shape[1]):
            scores[f"s{k}"] = loo_1nn_accuracy(S[:, k], y)
        self.lambda_scores_ = scores
        gap = max(v for k, v in scores.items() if k != "base") - scores["base"]
        if gap > KNN_MARGIN:
            return LAMBDA_GRID[0]  # a source already separates the classes: lean on sources
        if gap < -KNN_MARGIN:
            return LAMBDA_GRID[-1]  # the sources are worse than the bare base: lean on new path
        return LAMBDA_GRID[1]

    def _set_weights(self) -> None:
        with torch.no_grad():
            self.mixing_weights_ = torch.softmax(self.model_.site_logits, 1).numpy()
            self.feature_weights_ = torch.softmax(self.model_.feat_logits, 0).numpy()

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        xt = to_tensor(X)
        S = self._src_tensor(feats, len(xt))
        with torch.no_grad():
            self.model_.net.eval()
            out = [
                torch.softmax(self.model_(xt[i : i + 512], S[i : i + 512])[0], 1)
                for i in range(0, len(xt), 512)
            ]
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
        self.val_accuracy_ = float(config["val_accuracy_"])
        self.lambda_scores_ = {}
        self.model_ = self._build(len(self.classes_), self.lambda_new_)
        missing = self.model_.load_state_dict(
            {k: torch.as_tensor(v) for k, v in tensors.items()}, strict=False
        )
        if missing.unexpected_keys:
            raise ConfigError(f"Saved state has unknown tensors {missing.unexpected_keys[:3]}.")
        self._set_weights()


class _Fresh:
    """A source stand-in whose adapters start at zero (for independent adapters)."""

    def __init__(self, source: Any) -> None:
        self.base, self.adapter_config, self.adapter_state = (
            source.base,
            source.adapter_config,
            None,
        )


class ModuleMixing(_AdapterStrategy):
    """Module mixing of ``m`` family sources (the paper's white-box method).

    Parameters
    ----------
    sources : list of FamilySource
        Selected sources sharing one base (best first).
    seed : int
    lambda_new : float in (0, 1), "auto" or "grid"
        Initial weight of the new path at every site and in the feature mix; "auto" picks it
        from ``LAMBDA_GRID`` by 1-NN accuracy of base vs source features, "grid" by validation
        accuracy of short runs.
    sigma : float
        Weight of the distance-correlation regulariser (0 disables it; the paper uses 0.05).
    epochs, lr, batch_size, patience : training settings (Adam, early stopping).
    val_fraction : float
        Share of each class held out for early stopping (at least one example).
    head_init : {"probe", "random"}
        "probe" starts the new head from a logistic regression on the initial (mixed) features
        of the training split, then fine-tunes everything (LP-FT); "random" is PyTorch's init.
    """

    name: ClassVar[str] = "module_mixing"

    def __init__(
        self,
        sources: list[Any] | None = None,
        seed: int = 0,
        lambda_new: float | str = "auto",
        sigma: float = 0.0,
        epochs: int = 30,
        lr: float = 3e-3,
        batch_size: int = 32,
        patience: int = 8,
        val_fraction: float = 0.1,
        head_init: str = "probe",
    ) -> None:
        self.sources = sources
        self.head_init = head_init
        self.seed = seed
        self.lambda_new = lambda_new
        self.sigma = sigma
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.patience = patience
        self.val_fraction = val_fraction
