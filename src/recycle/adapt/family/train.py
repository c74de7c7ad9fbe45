"""Training routines of a family: the shared base (on source-half images) and its sources.

- :func:`pretrain_base`: train the whole base network plus a throw-away head on images that no
  target task uses (stream28 uses the source halves of the source tasks' classes).
- :func:`train_source`: a source = new adapters + new head trained on a source task, with the base
  (weights *and* BN statistics) frozen.

Both train with the package's one loop, :func:`recycle.adapt.training.fit_loop`.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.integers(0, 255, (40, 28, 28), dtype=np.uint8); y = np.arange(40) % 2
>>> base = pretrain_base(X, y, FamilyConfig(channels=(4, 8)), epochs=1)
>>> src = train_source(base, X, y, ["a", "b"], epochs=1, name="demo.task")
>>> src.predict_proba(X[:3]).shape
(3, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from recycle.adapt.family.config import AdapterConfig, FamilyConfig
from recycle.adapt.family.ia3_config import IA3Spec
from recycle.adapt.family.lora_config import LoraSpec
from recycle.adapt.family.model import FamilyBase, FamilyNet, to_tensor
from recycle.adapt.family.source import FamilySource
from recycle.adapt.family.text import TextBase
from recycle.adapt.training import fit_loop
from recycle.errors import DataError
from recycle.progress import ProgressCallback


def _check_xy(X: Any, y: np.ndarray) -> None:
    if len(X) != len(y) or len(X) == 0:
        raise DataError(f"X and y must be non-empty with equal length; got {len(X)} and {len(y)}.")


def pretrain_base(
    X: np.ndarray,
    y: np.ndarray,
    config: FamilyConfig | None = None,
    *,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> FamilyBase:
    """Train the whole base plus a temporary linear head on ``(X, y)``; return the base (eval).

    Parameters
    ----------
    X, y : arrays
        Images (uint8 ``n x 28 x 28``) and integer labels. They must not include any image of a
        target task (the base is shared by every source and target).
    config : FamilyConfig, optional
    epochs, batch_size, lr, seed : training settings.
    progress : callable, optional
        ``progress("pretrain base", epoch, epochs)``.
    """
    _check_xy(X, y)
    config = config or FamilyConfig()
    torch.manual_seed(seed)
    base = FamilyBase(config)
    head = nn.Linear(config.feature_dim, int(np.max(y)) + 1)
    xt, yt = to_tensor(X, config.image_size), torch.as_tensor(np.asarray(y), dtype=torch.long)

    def loss(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(head(base(xb)), yb)

    def set_train(mode: bool) -> None:
        base.train(mode)

    fit_loop(
        [*base.parameters(), *head.parameters()],
        loss,
        lambda x: head(base(x)),
        xt,
        yt,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        set_train=set_train,
        progress=progress,
        task="pretrain base",
    )
    base.eval()
    base.requires_grad_(False)
    return base


def train_source(
    base: FamilyBase | TextBase,
    X: Any,
    y: np.ndarray,
    classes: Sequence[str],
    *,
    adapter_config: AdapterConfig | LoraSpec | IA3Spec | None = None,
    name: str = "family.source",
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    base_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> FamilySource:
    """Train a source: new adapters + new head on ``(X, y)``, base weights and BN frozen.

    ``base`` is any family base: the CNN (images) or the MiniLM :class:`TextBase` (a list of
    texts; LoRA adapters on its query/value projections).

    Returns a :class:`FamilySource` (white-box, with ``embed`` and ``predict_proba``).
    """
    _check_xy(X, y)
    if len(classes) <= int(np.max(y)):
        raise DataError(f"Labels go up to {int(np.max(y))} but only {len(classes)} classes given.")
    torch.manual_seed(seed)
    net = FamilyNet(base, adapter_config)
    net.add_adapter_set("task")
    net.activate(["task"])
    head = nn.Linear(base.feature_dim, len(classes))
    xt = base.encode(X)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)

    def loss(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(head(net.features(xb)), yb)

    fit_loop(
        [*net.adapter_set("task").parameters(), *head.parameters()],
        loss,
        lambda x: head(net.features(x)),
        xt,
        yt,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        set_train=net.train,
        progress=progress,
        task=f"train {name}",
    )
    state = {k: v.detach().clone() for k, v in net.adapter_set("task").state_dict().items()}
    return FamilySource(
        base=base,
        adapter_state=state,
        head_state={k: v.detach().clone() for k, v in head.state_dict().items()},
        classes=list(classes),
        adapter_config=net.adapter_config,
        name=name,
        base_id=base_id,
    )
