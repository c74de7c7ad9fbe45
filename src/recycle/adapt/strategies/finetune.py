"""``finetune``: fine-tune a pre-trained backbone on the target, as practitioners do; no source.

The backbone is EfficientNet-Lite0 (ImageNet) for images and all-MiniLM-L6-v2 for texts
(:mod:`recycle.adapt.tunable`), with a new linear head. Practice followed (ULMFiT, Howard and
Ruder 2018; the timm and Hugging Face fine-tuning recipes):

- **freeze, then unfreeze gradually**: stage 0 fits the head alone on the frozen backbone's
  features (a standardised logistic regression: linear probing before fine-tuning, LP-FT,
  Kumar et al. 2022); stage ``k`` (1..``unfreeze``) then trains the head and the top ``k``
  units (EfficientNet's head conv and stages, MiniLM's layers), each stage early-stopped on the
  hold-out with its best epoch kept;
- **discriminative learning rates**: the head learns at ``lr``, the top unit at ``body_lr``,
  each unit below at ``lr_decay`` times the one above (one Adam parameter group per unit);
- **augmentation** in the unfreezing stages: images get random flips, crops and small
  rotations, texts token dropout (:func:`~recycle.adapt.tunable.augment_images`,
  :func:`~recycle.adapt.tunable.drop_tokens`);
- **early stopping** on a stratified hold-out (:func:`recycle.adapt.split.stratified_holdout`),
  through the package's one training loop (:func:`recycle.adapt.training.fit_loop`).

Settings left as ``None`` (``schedule``, ``augment``) are chosen by validation among at most
three candidates: the head alone (stage 0), and gradual unfreezing from that head without then
with augmentation. The candidate with the lowest hold-out loss (ties: higher accuracy) is
kept, and stages stop on the hold-out loss (Hugging Face's Trainer's default). A gradual run
is skipped when the time spent plus the longest run so far would pass ``max_seconds``, and
every stage stops at that deadline (``tried_`` lists what ran, ``skipped_`` what did not). A
kept unfrozen model is the one trained on the non-held-out rows (no refit); a kept head alone
is refitted on every row (a logistic regression: milliseconds). Without a hold-out (a class
with one row) nothing is chosen: ``DEFAULT_SETTING`` fills in what is not set, trained
without early stopping.

The saved state is the head and the units that were trained (safetensors in a model folder);
loading rebuilds the pre-trained backbone and puts them back. No ONNX export (a one-line
error names the exportable strategies).

Examples
--------
>>> texts = ["a wonderful, moving film", "great acting and a fine story",
...          "dull and far too long", "a boring, clumsy mess"] * 3
>>> est = Finetune(schedule="head").fit(texts, [1, 1, 0, 0] * 3)
>>> est.predict(["a wonderful, fine story", "a dull, boring mess"]).tolist()
[1, 0]
>>> est.setting_
{'schedule': 'head', 'augment': False}
"""

from __future__ import annotations

import copy
import time
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.adapt.split import stratified_holdout
from recycle.adapt.training import fit_loop
from recycle.adapt.tunable import (
    ScaledHead,
    Tunable,
    image_tunable,
    linear_probe,
    n_params,
    text_tunable,
)
from recycle.data import infer_modality
from recycle.errors import ConfigError, DataError
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel

Schedule = Literal["head", "gradual"]
#: The setting used when there is no hold-out to choose one.
DEFAULT_SETTING: dict[str, Any] = {"schedule": "gradual", "augment": False}
#: Default (head, top unit) learning rates per backbone: the usual recipes, BERT fine-tuning's
#: 2e-5 (also SetFit's) for MiniLM, 1e-4 for the convnet; the head 5-10x the top unit.
LEARNING_RATES = {"text": (1e-4, 2e-5), "image": (1e-3, 1e-4)}
#: Rows per forward pass outside training (embedding, prediction).
EVAL_BATCH = 64


def _bounds(est: Finetune, n_units: int) -> None:
    """ConfigError naming the parameter, its valid range and the value, for a bad one."""
    checks = [
        ("unfreeze", est.unfreeze, 1 <= est.unfreeze <= n_units, f"an int in 1..{n_units}"),
        ("lr", est.lr, est.lr is None or est.lr > 0, "a float > 0 or None"),
        ("body_lr", est.body_lr, est.body_lr is None or est.body_lr > 0, "a float > 0 or None"),
        ("lr_decay", est.lr_decay, 0 < est.lr_decay <= 1, "a float in (0, 1]"),
        ("max_epochs", est.max_epochs, est.max_epochs >= 1, "an int >= 1"),
        ("patience", est.patience, est.patience >= 1, "an int >= 1"),
        ("batch_size", est.batch_size, est.batch_size >= 1, "an int >= 1"),
        ("val_fraction", est.val_fraction, 0 < est.val_fraction < 1, "a float in (0, 1)"),
        ("token_dropout", est.token_dropout, 0 <= est.token_dropout < 1, "a float in [0, 1)"),
        ("max_seconds", est.max_seconds, est.max_seconds > 0, "a float > 0"),
    ]
    for name, value, ok, valid in checks:
        if not ok:
            raise ConfigError(
                f"The {name!r} parameter of strategy 'finetune' must be {valid}. Got {value!r}."
            )


@register_strategy
class Finetune(Strategy):
    """Fine-tuning of EfficientNet-Lite0 (images) or all-MiniLM-L6-v2 (texts); no source.

    Parameters
    ----------
    sources : list of SourceModel, optional
        Ignored (the backbone is a builtin pre-trained network).
    seed : int, default 0
    schedule : {"head", "gradual"} or None, default None
        Head only, or head then the top ``unfreeze`` units one at a time; None: by validation.
    augment : bool or None, default None
        Augment training batches of the unfreezing stages; None: by validation.
    unfreeze : int, default 2
        Units unfrozen by the gradual schedule, from the top.
    lr : float or None, default None
        Adam learning rate of the head in the unfreezing stages; None: :data:`LEARNING_RATES`.
    body_lr : float or None, default None
        Learning rate of the top unit; None: :data:`LEARNING_RATES`.
    lr_decay : float, default 0.5
        Each unit learns at this times the rate of the unit above it.
    max_epochs : int, default 30
        Most epochs per stage.
    patience : int, default 5
        Epochs without a better hold-out score before a stage stops.
    batch_size : int, default 8
    val_fraction : float, default 0.2
        Rows of each class held out for early stopping and the choice of settings.
    token_dropout : float, default 0.1
        Probability of removing a token when texts are augmented.
    image_size : int or None, default None
        Image side fed to the backbone; None: the builtin's (128 px for small images).
    max_seconds : float, default 120.0
        Time budget of the fit (checked before each run and after every minibatch).
    progress : callable, optional
        ``progress(task, step, steps)``.
    """

    name: ClassVar[str] = "finetune"
    uses_sources: ClassVar[bool] = False
    #: Training a pre-trained network end to end: as dear as SetFit.
    relative_cost: ClassVar[float] = 2000.0

    def __init__(
        self,
        sources: list[SourceModel] | None = None,
        seed: int = 0,
        schedule: Schedule | None = None,
        augment: bool | None = None,
        unfreeze: int = 2,
        lr: float | None = None,
        body_lr: float | None = None,
        lr_decay: float = 0.5,
        max_epochs: int = 30,
        patience: int = 5,
        batch_size: int = 8,
        val_fraction: float = 0.2,
        token_dropout: float = 0.1,
        image_size: int | None = None,
        max_seconds: float = 120.0,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.schedule = schedule
        self.augment = augment
        self.unfreeze = unfreeze
        self.lr = lr
        self.body_lr = body_lr
        self.lr_decay = lr_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.token_dropout = token_dropout
        self.image_size = image_size
        self.max_seconds = max_seconds
        self.progress = progress

    # -- the backbone ----------------------------------------------------------------------
    def _tunable(self, modality: str) -> Tunable:
        if modality == "text":
            return text_tunable(self.token_dropout)
        if modality == "image":
            return image_tunable(self.image_size)
        raise DataError(
            "finetune takes images or texts (its backbones are EfficientNet-Lite0 and "
            f"all-MiniLM-L6-v2); got {modality} data. Use 'no_source' for tables."
        )

    def learning_rates(self, modality: str) -> tuple[float, float]:
        """``(lr, body_lr)``: the parameters, or the backbone's defaults where None."""
        head, body = LEARNING_RATES[modality]
        lr, body_lr = self.lr, self.body_lr
        return (head if lr is None else lr, body if body_lr is None else body_lr)

    def param_groups(self, tunable: Tunable, head: nn.Module, top: int) -> list[dict[str, Any]]:
        """Adam parameter groups: the head at ``lr``, then the top ``top`` units, the one
        nearest the output at ``body_lr`` and each below at ``lr_decay`` times the one above."""
        head_lr, body_lr = self.learning_rates(tunable.modality)
        groups = [{"params": list(head.parameters()), "lr": head_lr, "unit": "head"}]
        n = len(tunable.units)
        for depth in range(top):
            unit = n - 1 - depth
            lr = body_lr * self.lr_decay**depth
            groups.append({"params": list(tunable.units[unit].parameters()), "lr": lr,
                           "unit": unit})  # fmt: skip
        return groups

    # -- fitting -----------------------------------------------------------------------------
    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        modality = infer_modality(X)
        start = time.monotonic()
        deadline = start + self.max_seconds
        base = self._tunable(modality)
        _bounds(self, len(base.units))
        tr, va = stratified_holdout(y, self.val_fraction, self.seed)
        schedule, augments = self._grid(len(va))
        inputs = _prepare(base, X)
        F = _embed(base, inputs)
        probe = linear_probe(F[tr], y[tr], len(self.classes_), self.seed)
        cands = []
        if schedule in (None, "head"):
            score = _score(probe, F[va], y[va])
            cands.append(_candidate("head", False, score, base, probe, 0))
        self.skipped_: list[dict[str, Any]] = []
        longest = 0.0
        for i, augment in enumerate(augments if schedule != "head" else []):
            began = time.monotonic()
            if i > 0 and began - start + longest > self.max_seconds:
                self.skipped_.append({"schedule": "gradual", "augment": augment,
                                      "reason": "time budget"})  # fmt: skip
                continue
            tunable = self._tunable(modality)
            head = copy.deepcopy(probe)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)  # dropout and drop-connect
                log = self._unfreeze(tunable, head, inputs, y, tr, va, augment, deadline)
            score = {k: log[k] for k in ("val_accuracy", "val_loss", "epochs")}
            cands.append(_candidate("gradual", augment, score, tunable, head, log["top"]))
            longest = max(longest, time.monotonic() - began)
        self.tried_ = [c["setting"] | c["score"] for c in cands]
        best = max(cands, key=_key)  # the first candidate is never skipped
        if best["top"] == 0 and len(va):  # the head alone: refit on every row (milliseconds)
            best["head"] = linear_probe(F, y, len(self.classes_), self.seed)
        self.setting_, self.head_, self.units_trained_ = best["setting"], best["head"], best["top"]
        self.tunable_ = best["tunable"]
        self.tunable_.freeze_all_but(0)
        self.tunable_.train(False)
        self.trainable_params_ = n_params([self.head_.linear, *self._trained_units()])

    def _grid(self, n_val: int) -> tuple[Schedule | None, list[bool]]:
        """The schedule (None: both) and the augmentation settings of the gradual runs."""
        if n_val == 0:  # nothing to choose by: the default for what is not set
            schedule = self.schedule or DEFAULT_SETTING["schedule"]
            return schedule, [DEFAULT_SETTING["augment"] if self.augment is None else self.augment]
        return self.schedule, [False, True] if self.augment is None else [self.augment]

    def _unfreeze(self, tunable: Tunable, head: nn.Module, inputs: torch.Tensor, y: np.ndarray,
                  tr: np.ndarray, va: np.ndarray, augment: bool,
                  deadline: float) -> dict[str, Any]:  # fmt: skip
        """Stages 1..``unfreeze``: the top ``k`` units and the head, each stage early-stopped;
        the last stage's log with ``top``, the units trained."""
        gen = torch.Generator().manual_seed(self.seed)
        y_t = torch.as_tensor(y)

        def logits(idx: torch.Tensor, train: bool = False) -> torch.Tensor:
            x = inputs[idx]
            if train and augment:
                x = tunable.augment(x, gen)
            return head(tunable.model(x))  # type: ignore[no-any-return]

        log: dict[str, Any] = {}
        for top in range(1, self.unfreeze + 1):
            tunable.freeze_all_but(top)
            log = fit_loop(
                self.param_groups(tunable, head, top),
                lambda idx, yb: nn.functional.cross_entropy(logits(idx, True), yb),
                logits, torch.as_tensor(tr), y_t[tr], torch.as_tensor(va), y_t[va],
                epochs=self.max_epochs, batch_size=self.batch_size,
                patience=self.patience, seed=self.seed + top, monitor="loss",
                set_train=tunable.train,
                progress=self.progress, task=f"finetune: top {top} unit(s)", deadline=deadline,
            )  # fmt: skip
            log["top"] = top
            if log["out_of_time"]:
                break
        tunable.freeze_all_but(0)
        tunable.train(False)
        return log

    def _trained_units(self) -> list[nn.Module]:
        units = self.tunable_.units
        return units[len(units) - self.units_trained_ :] if self.units_trained_ else []

    # -- prediction and state ----------------------------------------------------------------
    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        feats_ = _embed(self.tunable_, _prepare(self.tunable_, X))
        with torch.no_grad():
            return torch.softmax(self.head_(feats_), dim=1).numpy()

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        tensors = {f"head.{k}": v.numpy() for k, v in self.head_.state_dict().items()}
        first = len(self.tunable_.units) - self.units_trained_
        for j, unit in enumerate(self._trained_units(), start=first):
            tensors |= {f"unit{j}.{k}": v.numpy() for k, v in unit.state_dict().items()}
        config = {"modality": self.tunable_.modality, "setting": self.setting_,
                  "units_trained": self.units_trained_, "tried": self.tried_}  # fmt: skip
        return config, tensors

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        tunable = self._tunable(str(config["modality"]))
        self.units_trained_ = int(config["units_trained"])
        self.setting_, self.tried_ = dict(config["setting"]), list(config.get("tried", []))
        head = ScaledHead(tunable.feature_dim, len(self.classes_))
        head.load_state_dict(_prefixed(tensors, "head."), strict=True)
        self.tunable_, self.head_ = tunable, head
        first = len(tunable.units) - self.units_trained_
        for j, unit in enumerate(self._trained_units(), start=first):
            unit.load_state_dict(_prefixed(tensors, f"unit{j}."), strict=True)
        tunable.freeze_all_but(0)
        tunable.train(False)


def _key(cand: dict[str, Any]) -> tuple[float, float]:
    """Candidates compare by lower hold-out loss, then by hold-out accuracy (the loss first:
    a hold-out of a few rows ties on accuracy, and an overconfident model shows in its loss)."""
    score = cand["score"]
    return (-(score["val_loss"] or 0.0), score["val_accuracy"] or 0.0)


def _candidate(schedule: str, augment: bool, score: dict[str, Any], tunable: Tunable,
               head: ScaledHead, top: int) -> dict[str, Any]:  # fmt: skip
    return {"setting": {"schedule": schedule, "augment": augment}, "score": score,
            "tunable": tunable, "head": head, "top": top}  # fmt: skip


def _score(head: nn.Module, F: torch.Tensor, y: np.ndarray) -> dict[str, Any]:
    """Hold-out accuracy and loss of ``head`` on features ``F`` (None without a hold-out)."""
    if len(y) == 0:
        return {"val_accuracy": None, "val_loss": None, "epochs": 0}
    with torch.no_grad():
        z = head(F)
        y_t = torch.as_tensor(y)
        acc = float((z.argmax(1) == y_t).float().mean())
        return {"val_accuracy": acc, "val_loss": float(nn.functional.cross_entropy(z, y_t)),
                "epochs": 0}  # fmt: skip


def _prepare(tunable: Tunable, X: Any) -> torch.Tensor:
    """The backbone's input tensor for all of ``X`` (images in chunks, to bound memory)."""
    if tunable.modality == "text":
        return tunable.prepare(X)
    chunks = [tunable.prepare(X[i : i + EVAL_BATCH]) for i in range(0, len(X), EVAL_BATCH)]
    return torch.cat(chunks)


def _embed(tunable: Tunable, inputs: torch.Tensor) -> torch.Tensor:
    """Features of prepared inputs in eval mode, without gradients."""
    tunable.train(False)
    with torch.no_grad():
        parts = [tunable.model(inputs[i : i + EVAL_BATCH])
                 for i in range(0, len(inputs), EVAL_BATCH)]  # fmt: skip
    return torch.cat(parts) if parts else torch.zeros(0, tunable.feature_dim)


def _prefixed(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in tensors.items()
            if k.startswith(prefix)}  # fmt: skip
