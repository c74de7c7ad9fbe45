"""A fixed random-projection black-box source shared by the adapt benchmarks.

Kept free of recycle imports so that a benchmark can run against any version of recycle (an old
checkout's ``src`` first on the path) with the same sources.
"""

import numpy as np


class Proj:
    modality, access = "tabular", "black-box"

    def __init__(self, seed, d=16):
        self.seed, self.feature_dim, self.source_id = seed, d, f"proj{seed}"

    def embed(self, X):
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        W = np.random.default_rng(self.seed).normal(size=(X.shape[1], self.feature_dim))
        return np.tanh(X @ W / np.sqrt(X.shape[1])).astype(np.float32)
