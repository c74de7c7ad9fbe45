"""``tfidf_logreg``: TF-IDF word n-grams + logistic regression on the target texts; no source.

The textbook target-only baseline for a few dozen texts, and one of auto's no-source references
on text (a recycled model must beat it to be chosen). The features are scikit-learn's
``TfidfVectorizer(ngram_range=(1, ngram_max), sublinear_tf=True)`` computed by hand from the
counts, so the fitted state is the vocabulary (a JSON list), the idf vector and the logistic
regression's arrays: nothing is pickled, and a saved model predicts exactly as before.

Examples
--------
>>> texts = ["good fun", "great film", "bad plot", "awful acting"] * 5
>>> est = TfidfLogReg().fit(texts, [1, 1, 0, 0] * 5)
>>> est.predict(["great fun"]).tolist(), est.trainable_params_
([1], 26)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

from recycle.adapt._linear import fit_logreg, logreg_proba, n_linear_params, pack, unpack
from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.errors import DataError
from recycle.sources.base import SourceModel


def tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear-tf TF-IDF rows, L2-normalised (scikit-learn's ``TfidfTransformer`` output).

    >>> counts = sparse.csr_matrix(np.array([[2, 0], [1, 1]]))
    >>> tfidf(counts, np.array([1.0, 2.0])).toarray().round(3).tolist()
    [[1.0, 0.0], [0.447, 0.894]]
    """
    tf = counts.astype(np.float64).tocsr(copy=True)
    tf.data = 1.0 + np.log(tf.data)
    return normalize(tf.multiply(idf).tocsr(), norm="l2")


def smooth_idf(counts: sparse.csr_matrix) -> np.ndarray:
    """``log((1 + n) / (1 + df)) + 1`` per column, as scikit-learn's default idf."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return np.log((1 + n) / (1 + df)) + 1.0


@register_strategy
class TfidfLogReg(Strategy):
    """TF-IDF word n-grams (sublinear tf, smooth idf, L2 rows) + logistic regression.

    Parameters
    ----------
    sources : list of SourceModel, optional
        Ignored (the strategy reads no source).
    seed : int, default 0
    C : float, default 1.0
        Inverse L2 strength of the logistic regression (scikit-learn's default; the TF-IDF rows
        are unit vectors, so they are not standardised).
    ngram_max : int, default 2
        Longest word n-gram (1: words only).
    """

    name: ClassVar[str] = "tfidf_logreg"
    uses_sources: ClassVar[bool] = False

    def __init__(
        self,
        sources: list[SourceModel] | None = None,
        seed: int = 0,
        C: float = 1.0,
        ngram_max: int = 2,
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.C = C
        self.ngram_max = ngram_max

    def _counter(self, vocabulary: list[str] | None = None) -> CountVectorizer:
        return CountVectorizer(ngram_range=(1, self.ngram_max), vocabulary=vocabulary)

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        if not isinstance(X, list):
            raise DataError("tfidf_logreg takes texts (a 'text' column); got numeric data.")
        counter = self._counter()
        try:
            counts = counter.fit_transform(X).tocsr()
        except ValueError as exc:  # every text empty or stop words only
            raise DataError(f"tfidf_logreg found no words in the texts ({exc}).") from exc
        order = sorted(counter.vocabulary_, key=counter.vocabulary_.__getitem__)
        self.vocabulary_ = order
        idf = smooth_idf(counts)
        head = fit_logreg(tfidf(counts, idf), y, len(self.classes_), self.C, self.seed)
        self.arrays_ = {"idf": idf, **pack("head", head)}
        self.trainable_params_ = n_linear_params(self.arrays_)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        counts = self._counter(self.vocabulary_).transform([str(t) for t in X]).tocsr()
        design = tfidf(counts, self.arrays_["idf"])
        return logreg_proba(unpack("head", self.arrays_), design)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"vocabulary": list(self.vocabulary_)}, dict(self.arrays_)

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.vocabulary_ = [str(t) for t in config["vocabulary"]]
        self.arrays_ = {k: np.asarray(v) for k, v in tensors.items()}
