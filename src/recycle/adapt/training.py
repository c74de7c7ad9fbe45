"""The one minibatch training loop of the adapt package.

:func:`fit_loop` trains the small target network (feature mixing, independent), the adapters of
the white-box strategies, and a family's base and sources: Adam over the trainable parameters,
shuffled minibatches from a seeded generator, and, when a validation split is given, early
stopping with the best epoch's parameters restored. What "best" means is ``monitor``:

- ``"accuracy"``: highest validation accuracy, ties broken by the lower loss (tiny validation
  splits of adapters saturate at 1.0);
- ``"loss"``: lowest validation loss (the small network: accuracy on a few dozen rows
  saturates early).

Examples
--------
>>> import torch
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> X = torch.randn(64, 3); y = (X[:, 0] > 0).long(); head = torch.nn.Linear(3, 2)
>>> log = fit_loop(list(head.parameters()),
...                lambda xb, yb: torch.nn.functional.cross_entropy(head(xb), yb),
...                head, X[:48], y[:48], X[48:], y[48:], epochs=20, lr=0.05)
>>> log["val_accuracy"] > 0.8
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import nn

from recycle.errors import ConfigError
from recycle.progress import ProgressCallback

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MONITORS = ("accuracy", "loss")


def fit_loop(
    params: Sequence[nn.Parameter],
    loss_fn: LossFn,
    predict_fn: Callable[[torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    patience: int = 8,
    seed: int = 0,
    monitor: Literal["accuracy", "loss"] = "accuracy",
    set_train: Callable[[bool], object] | None = None,
    progress: ProgressCallback | None = None,
    task: str = "train",
) -> dict[str, Any]:
    """Minimise ``loss_fn(xb, yb)`` over ``params``; early-stop on the validation split.

    ``X`` may be the inputs or row indices into them (``loss_fn`` and ``predict_fn`` read what
    they are given). ``predict_fn(x)`` returns logits (used for validation). With a non-empty
    validation split, training stops after ``patience`` epochs without improvement of
    ``monitor`` and the parameters of the best epoch are restored. ``set_train(mode)`` switches
    train/eval mode around each epoch.

    Returns ``{"epochs": run, "best_epoch": restored (the last without validation),
    "val_accuracy": at the best epoch (None without validation)}``.
    """
    if monitor not in MONITORS:
        raise ConfigError(f"fit_loop's monitor must be one of {MONITORS}. Got {monitor!r}.")
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = len(X)
    validate = X_val is not None and y_val is not None and len(X_val) > 0
    best_acc: float | None = None
    best_loss, best_state, best_epoch, bad, epoch = float("inf"), None, 0, 0, 0
    for epoch in range(1, epochs + 1):
        if set_train is not None:
            set_train(True)
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(X[idx], y[idx])
            loss.backward()
            opt.step()
        if set_train is not None:
            set_train(False)
        if progress is not None:
            progress(task, epoch, epochs)
        if not validate or X_val is None or y_val is None:
            continue
        with torch.no_grad():
            logits = predict_fn(X_val)
            acc = float((logits.argmax(1) == y_val).float().mean())
            val_loss = float(nn.functional.cross_entropy(logits, y_val))
        if _improves(monitor, acc, val_loss, best_acc, best_loss):
            best_acc, best_loss, best_epoch, bad = acc, val_loss, epoch, 0
            best_state = [p.detach().clone() for p in params]
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        with torch.no_grad():
            for p, b in zip(params, best_state, strict=True):
                p.copy_(b)
    return {
        "epochs": epoch,
        "best_epoch": best_epoch if validate else epoch,
        "val_accuracy": best_acc,
    }


def _improves(
    monitor: str, acc: float, loss: float, best_acc: float | None, best_loss: float
) -> bool:
    """Whether an epoch with ``acc`` and ``loss`` is better than the best so far."""
    if monitor == "loss":
        return loss < best_loss
    best = -1.0 if best_acc is None else best_acc
    return acc > best or (acc == best and loss < best_loss)
