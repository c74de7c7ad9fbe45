"""``lorahub``: gradient-free mixing weights over the sources' adapters (LoraHub, Huang et al.).

The ``m`` selected family sources' adapters are merged into one update per site,
``delta_j(x) = sum_k w_k adapter_{k,j}(x)`` (one weight per source, shared by all sites; for
LoRA this is exactly the merged ``sum_k w_k B_k A_k``), on the frozen base. The weights are
found without gradients through the base: Nelder-Mead (scipy) from uniform ``1/m`` over
``[-W_BOUND, W_BOUND]``, at most ``max_evals`` evaluations, each scored on the few target shots
as the out-of-fold log-loss of a logistic regression on the merged network's pooled features
plus ``alpha * ||w||_1`` (LoraHub's L1 term). The best weights seen win; a logistic-regression
head is then fitted on all shots. Trainable parameters: the ``m`` weights and the head.

Examples
--------
>>> import numpy as np
>>> from recycle.adapt.family import FamilyBase, FamilyConfig, FamilySource
>>> base = FamilyBase(FamilyConfig(channels=(4, 8)))
>>> srcs = [FamilySource.fresh(base, ["a", "b"], name=f"d.s{i}") for i in range(2)]
>>> X = np.random.default_rng(0).integers(0, 255, (20, 28, 28), dtype=np.uint8)
>>> y = np.arange(20) % 2
>>> hub = LoraHub(srcs, max_evals=5).fit(X, y)
>>> hub.weights_.shape, hub.predict(X[:3]).shape
((2,), (3,))
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from scipy.optimize import minimize

from recycle.adapt._linear import (
    apply_scaler,
    fit_logreg,
    fit_scaler,
    l2_normalize,
    logreg_proba,
    oof_proba,
    pack,
    unpack,
)
from recycle.adapt.base import Strategy
from recycle.adapt.family.model import FamilyNet
from recycle.adapt.family.source import batched, check_same_base
from recycle.adapt.registry import register_strategy
from recycle.errors import ConfigError

W_BOUND = 1.5  # LoraHub's bound on each weight
L1_ALPHA = 0.05  # weight of the L1 term (LoraHub: 0.05)


@register_strategy
class LoraHub(Strategy):
    """Gradient-free merge weights of the sources' adapters + a logistic-regression head.

    Parameters
    ----------
    sources : list of FamilySource
        Selected sources sharing one base (best first).
    seed : int
    max_evals : int
        Evaluations of the objective (one forward pass of the shots each).
    alpha : float
        Weight of the L1 penalty on the merge weights.
    """

    name: ClassVar[str] = "lorahub"
    access: ClassVar[str] = "white-box"
    relative_cost: ClassVar[float] = 30.0
    # The merged adapters come from the sources' modules; their own features are not needed.
    uses_sources: ClassVar[bool] = False

    def __init__(
        self,
        sources: list[Any] | None = None,
        seed: int = 0,
        max_evals: int = 40,
        alpha: float = L1_ALPHA,
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.max_evals = max_evals
        self.alpha = alpha

    def _net(self) -> tuple[Any, FamilyNet]:
        if not self.sources:
            raise ConfigError(
                "LoraHub needs family sources (adapters on one base); got none. Select sources "
                "from a white-box family (the text LoRA library, stream28)."
            )
        sources: list[Any] = list(self.sources)
        base = check_same_base(sources)
        net = FamilyNet(base, sources[0].adapter_config)
        for k, src in enumerate(sources):
            net.add_adapter_set(f"s{k}", src.adapter_state, trainable=False)
        return base, net

    def _features(self, base: Any, net: FamilyNet, X: Any, w: np.ndarray) -> np.ndarray:
        weights = torch.as_tensor(w, dtype=torch.float32)
        net.activate(net.set_names, [weights] * len(net.sites))
        return l2_normalize(batched(base, net.features, X).numpy().astype(np.float64))

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        if self.max_evals < 1:
            raise ConfigError(f"max_evals must be >= 1; got {self.max_evals}.")
        base, net = self._net()
        m, n_classes = len(net.set_names), len(self.classes_)
        seen: list[tuple[float, np.ndarray]] = []

        def objective(w: np.ndarray) -> float:
            F = self._features(base, net, X, w)
            proba = oof_proba(F, y, n_classes, seed=self.seed)
            loss = -float(np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None))))
            score = loss + self.alpha * float(np.abs(w).sum())
            seen.append((score, np.array(w, dtype=np.float64)))
            return score

        minimize(
            objective, np.full(m, 1.0 / m), method="Nelder-Mead",
            bounds=[(-W_BOUND, W_BOUND)] * m,
            options={"maxfev": int(self.max_evals), "initial_simplex": _simplex(m)},
        )  # fmt: skip
        score, w = min(seen, key=lambda t: t[0])
        F = self._features(base, net, X, w)
        scaler = fit_scaler(F)
        head = fit_logreg(apply_scaler(scaler, F), y, n_classes, seed=self.seed)
        self.weights_ = w
        self.objective_ = score
        self.n_evals_ = len(seen)
        self.arrays_ = {"weights": w, **pack("scaler", scaler), **pack("head", head)}
        self.trainable_params_ = int(m + head["W"].size + head["b"].size)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        base, net = getattr(self, "_cached", None) or self._net()
        self._cached = (base, net)
        F = self._features(base, net, X, self.arrays_["weights"])
        return logreg_proba(
            unpack("head", self.arrays_), apply_scaler(unpack("scaler", self.arrays_), F)
        )

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        super()._load_state(config, tensors)
        self.weights_ = np.asarray(self.arrays_["weights"])


def _simplex(m: int) -> np.ndarray:
    """Nelder-Mead's start: uniform ``1/m``, then each source's weight raised by 0.5."""
    start = np.full((m + 1, m), 1.0 / m)
    for k in range(m):
        start[k + 1, k] += 0.5
    return start
