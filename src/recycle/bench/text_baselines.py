"""A target-only text baseline for the ``text`` protocol: TF-IDF + logistic regression.

The Recycler's ``independent`` strategy on text is a small MLP on hashed bag-of-words features
(:mod:`recycle.adapt.smallnet`). On a few dozen snippets the textbook target-only baseline is a
linear model on TF-IDF n-grams, so the benchmark reports both: recycling must beat the stronger
of the two to claim a gain.

Examples
--------
>>> texts = ["good fun", "great film", "bad plot", "awful acting"] * 5
>>> est = TfidfLogReg().fit(texts, [1, 1, 0, 0] * 5)
>>> est.predict(["great fun"]).tolist(), est.trainable_params_ > 0
([1], True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

#: Inverse regularisation of the logistic regression (sklearn's default).
C_DEFAULT = 1.0


class TfidfLogReg(ClassifierMixin, BaseEstimator):
    """TF-IDF word uni- and bi-grams (sublinear tf) + L2 logistic regression, target data only.

    Parameters
    ----------
    C : float, default 1.0
        Inverse regularisation strength.
    seed : int, default 0

    Attributes
    ----------
    classes_ : ndarray
    trainable_params_ : int
        Weights and biases of the logistic regression.
    """

    def __init__(self, C: float = C_DEFAULT, seed: int = 0) -> None:
        self.C = C
        self.seed = seed

    def fit(self, X: Any, y: Any) -> TfidfLogReg:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        self.pipeline_ = Pipeline(
            [
                ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                ("lr", LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)),
            ]
        ).fit([str(t) for t in X], np.asarray(y))
        lr = self.pipeline_.named_steps["lr"]
        self.classes_ = lr.classes_
        self.trainable_params_ = int(lr.coef_.size + lr.intercept_.size)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return np.asarray(self.pipeline_.predict_proba([str(t) for t in X]))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
