"""Shared pieces of the deploy tests: real zoos and running an ONNX file without recycle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: Run in a child ``python -I``: recycle and torch are made unimportable before anything else,
#: so the file must run with onnxruntime alone.
ISOLATED = """
import json, sys
sys.modules["recycle"] = None
sys.modules["torch"] = None
try:
    import recycle
except ImportError:
    pass
else:
    raise SystemExit("recycle is importable")
import numpy as np, onnxruntime as ort
X = np.load(sys.argv[2])["X"].astype(np.float32)
sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
props = sess.get_modelmeta().custom_metadata_map
p = sess.run(["probabilities"], {"input": X})[0]
np.save(sys.argv[3], p)
print(json.dumps({"classes": json.loads(props["classes"]), "recycle": json.loads(props["recycle"]),
                  "inputs": [i.name for i in sess.get_inputs()]}))
"""


def run_isolated(onnx_file: Path, X: np.ndarray, tmp: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Probabilities and metadata of ``onnx_file`` on ``X``, computed in a process without
    recycle or torch (``python -I``, both blocked from import)."""
    data, out = tmp / "rows.npz", tmp / "proba.npy"
    np.savez(data, X=X)
    done = subprocess.run(
        [sys.executable, "-I", "-c", ISOLATED, str(onnx_file), str(data), str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(out), json.loads(done.stdout.strip().splitlines()[-1])


def agreement(proba: np.ndarray, labels: np.ndarray, classes: list[Any]) -> float:
    """Share of rows whose argmax class equals ``labels``."""
    return float((np.asarray(classes)[proba.argmax(axis=1)] == labels).mean())


def tabular_zoo(root: Path, data_licence: str = "") -> tuple[str, dict[str, np.ndarray]]:
    """A zoo of two real skops sources (a PCA pipeline and a logistic regression) fitted on one
    half of the breast-cancer table; the other half is the target. ``data_licence``, when
    given, is the training-data licence on the logistic regression's card."""
    import skops.io
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from recycle.sources import SklearnSource
    from recycle.sources.sklearn_source import load_skops
    from recycle.zoo import ModelCard, Zoo

    X, y = load_breast_cancer(return_X_y=True)
    X = X.astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    src, tgt = order[:280], order[280:]
    zoo = Zoo.open(root / "zoo")
    models = {
        "pca.cancer": make_pipeline(StandardScaler(), PCA(8)).fit(X[src]),
        "logreg.cancer": make_pipeline(StandardScaler(), LogisticRegression()).fit(X[src], y[src]),
    }
    for name, est in models.items():
        source = SklearnSource(load_skops(skops.io.dumps(est)), source_id=name)
        classes = source.source_classes
        card = ModelCard(
            name=name, modality="tabular", task="feature-extraction", access="black-box",
            license="BSD-3-Clause" if name.startswith("pca") else "CC-BY-4.0",
            input={"shape": [30], "dtype": "float32", "value_range": [0, 5000]},
            output={"feature_dim": source.feature_dim, "source_classes": classes},
            training_data={"description": "breast-cancer rows", "license": data_licence}
            if name.startswith("logreg") else {},
        )  # fmt: skip
        zoo.register(source, card, validate=False)
    t_train, t_test = tgt[:120], tgt[120:]
    data = {"X": X[t_train], "y": y[t_train], "X_test": X[t_test], "y_test": y[t_test]}
    return str(root / "zoo"), data


#: The text export's reference snippet, run where recycle and torch cannot be imported: the
#: tokenizer JSON and the graph are all it has.
ISOLATED_TEXT = """
import json, sys
sys.modules["recycle"] = None
sys.modules["torch"] = None
texts = json.load(open(sys.argv[1]))
{snippet}
np.save(sys.argv[2], proba)
props = sess.get_modelmeta().custom_metadata_map
print(json.dumps({{"classes": classes, "recycle": json.loads(props["recycle"]),
                  "inputs": [i.name for i in sess.get_inputs()]}}))
"""


def run_isolated_text(folder: Path, texts: list[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """Probabilities and metadata of the text export ``folder/model.onnx`` (+ its
    ``model.tokenizer.json``) on ``texts``, computed by the documented reference snippet with
    onnxruntime and tokenizers alone (``python -I``, recycle and torch blocked from import)."""
    from recycle.deploy.text_export import REFERENCE_SNIPPET

    rows, out = folder / "texts.json", folder / "proba.npy"
    rows.write_text(json.dumps(texts))
    code = ISOLATED_TEXT.format(snippet=REFERENCE_SNIPPET)
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(rows), str(out)],
        capture_output=True, text=True, timeout=300, cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(out), json.loads(done.stdout.strip().splitlines()[-1])
