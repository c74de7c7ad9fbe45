"""The one minibatch training loop of the adapt package.

:func:`fit_loop` trains the small target network (feature mixing, independent), the adapters of
the white-box strategies, and a family's base and sources: Adam over the trainable parameters,
shuffled minibatches from a seeded generator, and, when a validation split is given, early
stopping with the best epoch's parameters restored. ``params`` is a list of parameters or of
torch parameter groups (``{"params": [...], "lr": ...}``: discriminative learning rates, a group
without ``"lr"`` takes ``lr``); ``deadline`` (a :func:`time.monotonic` value) ends training
after the minibatch that passes it. What "best" means is ``monitor``:

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

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

import torch
from torch import nn

from recycle.errors import ConfigError
from recycle.progress import ProgressCallback

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MONITORS = ("accuracy", "loss")
ParamGroup = Mapping[str, Any]


def param_groups(params: Sequence[nn.Parameter] | Sequence[ParamGroup]) -> list[dict[str, Any]]:
    """``params`` as torch parameter groups, each keeping only parameters that require grad;
    empty groups are dropped.

    >>> a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3), requires_grad=False)
    >>> [len(g["params"]) for g in param_groups([a, b])]
    [1]
    >>> param_groups([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}])[0]["lr"]
    0.1
    """
    if params and isinstance(params[0], Mapping):
        raw = [dict(cast(ParamGroup, g)) for g in params]
    else:
        raw = [{"params": list(params)}]
    groups = []
    for group in raw:
        kept = [p for p in cast(list[nn.Parameter], group["params"]) if p.requires_grad]
        if kept:
            groups.append({**group, "params": kept})
    return groups


def fit_loop(
    params: Sequence[nn.Parameter] | Sequence[ParamGroup],
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
    deadline: float | None = None,
) -> dict[str, Any]:
    """Minimise ``loss_fn(xb, yb)`` over ``params``; early-stop on the validation split.

    ``X`` may be the inputs or row indices into them (``loss_fn`` and ``predict_fn`` read what
    they are given). ``predict_fn(x)`` returns logits (used for validation). With a non-empty
    validation split, training stops after ``patience`` epochs without improvement of
    ``monitor`` and the parameters of the best epoch are restored. ``set_train(mode)`` switches
    train/eval mode around each epoch.

    Returns ``{"epochs": run, "best_epoch": restored (the last without validation),
    "val_accuracy": at the best epoch (None without validation), "val_loss": likewise,
    "out_of_time": whether ``deadline`` ended training}``.
    """
    if monitor not in MONITORS:
        raise ConfigError(f"fit_loop's monitor must be one of {MONITORS}. Got {monitor!r}.")
    groups = param_groups(params)
    params = [p for g in groups for p in g["params"]]
    opt = torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = len(X)
    validate = X_val is not None and y_val is not None and len(X_val) > 0
    best_acc: float | None = None
    best_loss, best_state, best_epoch, bad, epoch = float("inf"), None, 0, 0, 0
    out_of_time = False
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
            out_of_time = deadline is not None and time.monotonic() > deadline
            if out_of_time:
                break
        if set_train is not None:
            set_train(False)
        if progress is not None:
            progress(task, epoch, epochs)
        if validate and X_val is not None and y_val is not None:
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
        if out_of_time:
            break
    if best_state is not None:
        with torch.no_grad():
            for p, b in zip(params, best_state, strict=True):
                p.copy_(b)
    return {
        "epochs": epoch,
        "best_epoch": best_epoch if validate else epoch,
        "val_accuracy": best_acc,
        "val_loss": best_loss if validate else None,
        "out_of_time": out_of_time,
    }


def _improves(
    monitor: str, acc: float, loss: float, best_acc: float | None, best_loss: float
) -> bool:
    """Whether an epoch with ``acc`` and ``loss`` is better than the best so far."""
    if monitor == "loss":
        return loss < best_loss
    best = -1.0 if best_acc is None else best_acc
    return acc > best or (acc == best and loss < best_loss)
