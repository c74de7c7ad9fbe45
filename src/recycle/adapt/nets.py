"""The small target network and its training loop (feature mixing and the independent baseline).

The target's "own" network depends on the modality of ``X``:

- images: a LeNet-5-like CNN on 28x28 grayscale (RGB is averaged to gray, other sizes are
  resized bilinearly), feature size 84;
- tabular: an MLP on standardised columns, feature size 64;
- text: the same MLP on a stateless hashing bag-of-words vector (``HashingVectorizer``,
  2**12 buckets, L2-normalised word uni- and bi-grams). We do not use a sentence encoder here:
  that would be a pre-trained source in disguise, and "independent" must use no pre-training.

:func:`train_classifier` trains any module mapping a tuple of input tensors to logits with
Adam, early stopping on a stratified validation split, and restores the best epoch.

Examples
--------
>>> import numpy as np
>>> enc = OwnInput.fit(np.zeros((4, 28, 28), dtype=np.uint8))
>>> enc.kind, enc.transform(np.zeros((2, 28, 28), dtype=np.uint8)).shape
('lenet', (2, 1, 28, 28))
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.model_selection import train_test_split
from torch import nn

from recycle.adapt.strategies import infer_modality
from recycle.progress import ProgressCallback

IMAGE_SIZE = 28  # LeNet-5 input side
LENET_K = 84  # LeNet-5 penultimate width
MLP_K = 64  # MLP feature width
MLP_HIDDEN = 128  # MLP hidden width
HASH_FEATURES = 2**12  # hashing bag-of-words buckets for text


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


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_classifier`."""

    max_epochs: int = 100  # upper bound; early stopping usually ends sooner
    patience: int = 10  # epochs without validation improvement before stopping
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 5e-4  # Adam L2
    batch_size: int = 32
    val_fraction: float = 0.1  # the paper holds out 10% of the target as validation


def train_classifier(
    model: nn.Module,
    inputs: list[np.ndarray],
    y: np.ndarray,
    cfg: TrainConfig,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    task: str = "train",
) -> dict[str, Any]:
    """Train ``model(*inputs) -> logits`` with cross-entropy; early stopping on a val split.

    Returns a small log: epochs run, best epoch (lowest validation loss) and its validation
    accuracy (None when the target is too small to hold out a stratified validation split).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n = len(y)
    n_classes = int(y.max()) + 1
    counts = np.bincount(y)
    n_val = round(cfg.val_fraction * n)
    use_val = counts.min() >= 2 and n_val >= n_classes and n - n_val >= n_classes
    idx = np.arange(n)
    if use_val:
        tr, va = train_test_split(idx, test_size=n_val, stratify=y, random_state=seed)
    else:
        tr, va = idx, idx[:0]
    tens = [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs]
    yt = torch.from_numpy(y.astype(np.int64))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    best_loss, best_acc, best_state, best_epoch, since = float("inf"), None, None, 0, 0
    epoch = 0
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        order = torch.from_numpy(tr)[torch.randperm(len(tr), generator=gen)]
        for start in range(0, len(order), cfg.batch_size):
            b = order[start : start + cfg.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(*[t[b] for t in tens]), yt[b])
            loss.backward()
            opt.step()
        if progress is not None:
            progress(task, epoch, cfg.max_epochs)
        if not use_val:
            continue
        model.eval()
        with torch.no_grad():
            vb = torch.from_numpy(va)
            logits = model(*[t[vb] for t in tens])
            val_loss = float(loss_fn(logits, yt[vb]))
            acc = float((logits.argmax(1) == yt[vb]).float().mean())
        # early stopping on validation loss: accuracy on a few dozen rows saturates early
        if val_loss < best_loss:
            best_loss, best_acc, best_epoch, since = val_loss, acc, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since += 1
            if since >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    if progress is not None:
        progress(task, cfg.max_epochs, cfg.max_epochs)
    model.eval()
    return {
        "epochs": epoch,
        "best_epoch": best_epoch if use_val else epoch,
        "val_accuracy": best_acc,
    }


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
