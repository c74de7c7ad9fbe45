"""The spectrum of a feature matrix, shared by LogME and the H-score (never forms U).

Examples
--------
>>> import numpy as np
>>> F = np.random.default_rng(0).normal(size=(6, 3))
>>> sigma, vecs, right = spectrum(F)
>>> bool(np.allclose(np.sort(sigma), np.sort(np.linalg.svd(F, compute_uv=False) ** 2))), right
(True, True)
"""

from __future__ import annotations

import numpy as np

#: Smallest min(n, d) at which the Gram spectrum is computed in float32 (speed).
FLOAT32_SPECTRUM_MIN = 256


def spectrum(F: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Eigen-decomposition of the smaller Gram matrix of F: ``(sigma, vectors, right)``.

    ``sigma`` (k,) >= 0 are the squared singular values, k = min(n, d). With ``right`` (n > d)
    the vectors are F's right singular vectors V (d x k), else its left ones U (n x k); use
    :func:`project` for ``U^T B`` so U is never formed (``U^T B = diag(1/s) V^T F^T B``). From
    :data:`FLOAT32_SPECTRUM_MIN` on, the decomposition is float32 (about 1.6x faster; LogME
    changes by <= ~1e-4 relative).
    """
    n, d = F.shape
    right = n > d
    if min(n, d) >= FLOAT32_SPECTRUM_MIN:
        import torch

        with torch.inference_mode():
            Ft = torch.from_numpy(np.ascontiguousarray(F, dtype=np.float32))
            ev, vec = torch.linalg.eigh(Ft.T @ Ft if right else Ft @ Ft.T)
        sigma, vecs = ev.double().numpy(), vec.double().numpy()
    else:
        sigma, vecs = np.linalg.eigh(F.T @ F if right else F @ F.T)
    return np.clip(sigma, 0.0, None), vecs, right


def project(
    F: np.ndarray, sigma: np.ndarray, vecs: np.ndarray, right: bool, B: np.ndarray
) -> np.ndarray:
    """``U^T B`` for the left singular vectors U of F (zero rows for zero singular values)."""
    if not right:
        return vecs.T @ B
    s = np.sqrt(sigma)
    proj = vecs.T @ (F.T @ B)
    ok = (s > 1e-6 * max(float(s.max(initial=0.0)), 1e-300))[:, None]
    return np.divide(proj, s[:, None], out=np.zeros_like(proj), where=ok)
