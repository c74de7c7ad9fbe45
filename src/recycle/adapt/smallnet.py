"""The small target network of feature mixing and the independent baseline.

The target's "own" network depends on the modality of ``X``:

- images: a LeNet-5-like CNN on 28x28 grayscale (RGB is averaged to gray, other sizes are
  resized bilinearly), feature size 84;
- tabular: an MLP on standardised columns, feature size 64;
- text: the same MLP on a stateless hashing bag-of-words vector (``HashingVectorizer``,
  2**12 buckets, L2-normalised word uni- and bi-grams). We do not use a sentence encoder here:
  that would be a pre-trained source in disguise, and "independent" must use no pre-training.

:class:`SmallNetwork` is that network with ``n_paths`` fixed feature paths mixed into its own
features (:class:`MixNet`) and a new head: feature mixing passes the sources' reduced features,
the independent baseline none. Both strategies hold one (composition), and it trains with the
package's loop (:func:`recycle.adapt.training.fit_loop`) on the package's stratified hold-out
(:func:`recycle.adapt.split.early_stopping_split`: none on a target too small to spare the rows).

Examples
--------
>>> import numpy as np
>>> enc = OwnInput.fit(np.zeros((4, 28, 28), dtype=np.uint8))
>>> enc.kind, enc.transform(np.zeros((2, 28, 28), dtype=np.uint8)).shape
('lenet', (2, 1, 28, 28))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.feature_extraction.text import HashingVectorizer
from torch import nn

from recycle.adapt.base import infer_modality
from recycle.adapt.split import early_stopping_split
from recycle.adapt.training import fit_loop
from recycle.progress import ProgressCallback

IMAGE_SIZE = 28  # LeNet-5 input side
LENET_K = 84  # LeNet-5 penultimate width
MLP_K = 64  # MLP feature width
MLP_HIDDEN = 128  # MLP hidden width
HASH_FEATURES = 2**12  # hashing bag-of-words buckets for text
WEIGHT_DECAY = 5e-4  # Adam L2 of the small network
VAL_FRACTION = 0.1  # the paper holds out 10% of the target as validation


@dataclass
class OwnInput:
    """How raw ``X`` becomes the input tensor of the own network (fitted stats included)."""

    kind: str  # "lenet" or "mlp"
    modality: str  # "image", "tabular" or "text"
    mean: np.ndarray  # per-channel / per-column means
    std: np.ndarray  # per-channel / per-column standard deviations

    @property
    def d_in(self) -> int:
        return 1 if self.kind == "lenet" else int(self.mean.shape[0])

    @staticmethod
    def _raw(X: Any, modality: str) -> np.ndarray:
        if modality == "text":
            vec = HashingVectorizer(
                n_features=HASH_FEATURES, alternate_sign=False, ngram_range=(1, 2), norm="l2"
            )
            return vec.transform(list(X)).toarray().astype(np.float32)
        if modality == "image":
            arr = np.asarray(X, dtype=np.float32)
            if arr.ndim == 4:
                arr = arr.mean(axis=3)
            if arr.max(initial=0.0) > 1.5:
                arr = arr / 255.0
            t = torch.from_numpy(arr[:, None])
            if t.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
                t = nn.functional.interpolate(
                    t, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False
                )
            return t.numpy()
        return np.asarray(X, dtype=np.float32).reshape(len(X), -1)

    @classmethod
    def fit(cls, X: Any) -> OwnInput:
        """Fit normalisation statistics on the target's train ``X``."""
        modality = infer_modality(X)
        raw = cls._raw(X, modality)
        if modality == "image":
            mean, std = np.array([raw.mean()]), np.array([raw.std()])
            kind = "lenet"
        elif modality == "text":
            mean, std = np.zeros(raw.shape[1]), np.ones(raw.shape[1])
            kind = "mlp"
        else:
            mean, std = raw.mean(axis=0), raw.std(axis=0)
            kind = "mlp"
        std = np.where(std > 1e-6, std, 1.0)
        return cls(kind, modality, mean.astype(np.float32), std.astype(np.float32))

    def transform(self, X: Any) -> np.ndarray:
        raw = self._raw(X, self.modality)
        if self.kind == "lenet":
            return ((raw - self.mean[0]) / self.std[0]).astype(np.float32)
        return ((raw - self.mean) / self.std).astype(np.float32)

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"kind": self.kind, "modality": self.modality}, {"mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> OwnInput:
        return cls(config["kind"], config["modality"], tensors["mean"], tensors["std"])


class LeNet5(nn.Module):
    """LeNet-5-like CNN: 1x28x28 -> conv6 -> pool -> conv16 -> pool -> 120 -> ``k`` features."""

    def __init__(self, k: int = LENET_K) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, k), nn.ReLU(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MLP(nn.Module):
    """Two-layer MLP: ``d_in -> hidden -> k`` features (ReLU)."""

    def __init__(self, d_in: int, k: int = MLP_K, hidden: int = MLP_HIDDEN) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, k), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def own_network(kind: str, d_in: int) -> tuple[nn.Module, int]:
    """The own network for ``kind`` and its feature size ``k``."""
    if kind == "lenet":
        return LeNet5(), LENET_K
    return MLP(d_in), MLP_K


def count_trainable(module: nn.Module) -> int:
    """Number of parameters with ``requires_grad``."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def module_tensors(module: nn.Module, prefix: str = "net") -> dict[str, np.ndarray]:
    """The module's state dict as numpy arrays (keys prefixed)."""
    return {f"{prefix}.{k}": v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_module_tensors(
    module: nn.Module, tensors: dict[str, np.ndarray], prefix: str = "net"
) -> None:
    """Load arrays written by :func:`module_tensors` into ``module``."""
    start = prefix + "."
    state = {
        k[len(start) :]: torch.from_numpy(np.array(v))
        for k, v in tensors.items()
        if k.startswith(start)
    }
    module.load_state_dict(state)


def predict_logits(model: nn.Module, inputs: list[np.ndarray], batch: int = 512) -> np.ndarray:
    """Logits of ``model`` in eval mode, batched."""
    model.eval()
    n = inputs[0].shape[0]
    out = []
    with torch.no_grad():
        for s in range(0, n, batch):
            out.append(
                model(*[torch.from_numpy(np.ascontiguousarray(a[s : s + batch])) for a in inputs])
            )
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


class MixNet(nn.Module):
    """Own network + convex mix of its features with fixed path features + a new head."""

    def __init__(
        self, own: nn.Module, k: int, n_sources: int, n_classes: int, lambda_new: float
    ) -> None:
        super().__init__()
        self.own = own
        self.norm = nn.LayerNorm(k, elementwise_affine=False)
        init = [lambda_new] + [(1.0 - lambda_new) / n_sources] * n_sources if n_sources else [1.0]
        self.mix_logits = nn.Parameter(torch.log(torch.tensor(init, dtype=torch.float32)))
        self.mix_logits.requires_grad_(n_sources > 0)
        self.head = nn.Linear(k, n_classes)

    def weights(self) -> torch.Tensor:
        """Convex mixing weights: own network first, then one per path."""
        return torch.softmax(self.mix_logits, dim=0)

    def features(self, x_own: torch.Tensor, z_src: torch.Tensor) -> torch.Tensor:
        paths = [self.norm(self.own(x_own))]
        paths += [self.norm(z_src[:, i]) for i in range(z_src.shape[1])]
        return (self.weights()[None, :, None] * torch.stack(paths, dim=1)).sum(dim=1)

    def forward(self, x_own: torch.Tensor, z_src: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x_own, z_src))


@dataclass
class TrainSettings:
    """How a :class:`SmallNetwork` trains (the strategies' parameters of the same names)."""

    max_epochs: int = 100  # upper bound; early stopping usually ends sooner
    patience: int = 10  # epochs without validation improvement before stopping
    lr: float = 1e-3  # Adam learning rate
    batch_size: int = 32


class SmallNetwork:
    """The own network, mixed with ``n_paths`` fixed ``k``-d feature paths, and a new head.

    Built with :meth:`build` (after ``torch.manual_seed``: the initial weights come from torch's
    global generator), trained with :meth:`fit`; ``paths`` are ``(n, n_paths, k)`` arrays.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 5)); y = np.arange(40) % 2
    >>> net = SmallNetwork.build(OwnInput.fit(X), 0, 2, 1.0)
    >>> _ = net.fit(X, None, y, TrainSettings(max_epochs=2))
    >>> net.proba(X[:3], None).shape
    (3, 2)
    """

    def __init__(self, own_input: OwnInput, model: MixNet) -> None:
        self.own_input = own_input
        self.model = model

    @classmethod
    def build(cls, own_input: OwnInput, n_paths: int, n_classes: int, lam: float) -> SmallNetwork:
        """A fresh network; ``lam`` is the own path's initial mixing weight."""
        own, k = own_network(own_input.kind, own_input.d_in)
        return cls(own_input, MixNet(own, k, n_paths, n_classes, lam))

    @property
    def k(self) -> int:
        """Feature size of the own network (and of every path)."""
        return int(self.model.head.in_features)

    def _inputs(self, X: Any, paths: np.ndarray | None) -> list[np.ndarray]:
        if paths is None:
            paths = np.zeros((len(X), 0, self.k), dtype=np.float32)
        return [self.own_input.transform(X), paths]

    def fit(
        self,
        X: Any,
        paths: np.ndarray | None,
        y: np.ndarray,
        settings: TrainSettings,
        seed: int = 0,
        progress: ProgressCallback | None = None,
        task: str = "train",
    ) -> dict[str, Any]:
        """Train on ``(X, y)`` with cross-entropy, early stopping on the validation loss of a
        stratified hold-out; returns :func:`~recycle.adapt.training.fit_loop`'s log."""
        model = self.model
        torch.manual_seed(seed)
        tr, va = early_stopping_split(y, VAL_FRACTION, seed)
        tens = [torch.from_numpy(np.ascontiguousarray(a)) for a in self._inputs(X, paths)]
        yt = torch.from_numpy(y.astype(np.int64))

        def logits(rows: torch.Tensor) -> torch.Tensor:
            return model(*[t[rows] for t in tens])

        tr_t, va_t = torch.from_numpy(tr), torch.from_numpy(va)
        log = fit_loop(
            list(model.parameters()),
            lambda rows, yb: nn.functional.cross_entropy(logits(rows), yb),
            logits, tr_t, yt[tr_t], va_t, yt[va_t],
            epochs=settings.max_epochs, batch_size=settings.batch_size, lr=settings.lr,
            weight_decay=WEIGHT_DECAY, patience=settings.patience, seed=seed, monitor="loss",
            set_train=model.train, progress=progress, task=task,
        )  # fmt: skip
        if progress is not None:
            progress(task, settings.max_epochs, settings.max_epochs)
        model.eval()
        return log

    def proba(self, X: Any, paths: np.ndarray | None) -> np.ndarray:
        """Class probabilities (float64, rows sum to 1)."""
        logits = predict_logits(self.model, self._inputs(X, paths))
        e = np.exp((logits - logits.max(axis=1, keepdims=True)).astype(np.float64))
        return e / e.sum(axis=1, keepdims=True)

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``({"own": ...}, tensors)``: input statistics (``own.*``) and weights (``net.*``)."""
        own_cfg, own_t = self.own_input.to_state()
        tensors = {f"own.{k}": v for k, v in own_t.items()}
        return {"own": own_cfg}, {**tensors, **module_tensors(self.model)}

    @classmethod
    def from_state(
        cls, config: dict[str, Any], tensors: dict[str, np.ndarray], n_paths: int, n_classes: int
    ) -> SmallNetwork:
        """Inverse of :meth:`to_state` (``n_paths`` and ``n_classes`` as built)."""
        own_t = {k[4:]: v for k, v in tensors.items() if k.startswith("own.")}
        net = cls.build(OwnInput.from_state(config["own"], own_t), n_paths, n_classes, 0.5)
        load_module_tensors(net.model, tensors)
        net.model.eval()
        return net
