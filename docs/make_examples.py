"""Example files standing in for your own: a provider's wine model, and a user's tables,
photos and reviews (all from offline copies of public datasets)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io
from PIL import Image
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression

from recycle import datasets

rng = np.random.default_rng(0)

# 1. A provider's model on a table with named columns, its card, and rows for its spec.
wine = load_wine(as_frame=True)
X, y = wine.data, wine.target.map(dict(enumerate(wine.target_names)))
order = rng.permutation(len(X))
provider, user = order[:90], order[90:]
model = LogisticRegression(max_iter=5000).fit(X.iloc[provider].to_numpy(), y.iloc[provider])
Path("wine.skops").write_bytes(skops.io.dumps(model))
np.savez("wine_rows.npz", X=X.iloc[provider].to_numpy())
card = {
    "name": "acme.wine-cultivar", "version": "1.0.0", "modality": "tabular",
    "task": "classification", "access": "black-box", "license": "MIT", "provider": "acme",
    "description": "Logistic regression of the wine's cultivar from 13 lab measurements.",
    "input": {"shape": [13], "dtype": "float64", "value_range": [0, 1700],
              "preprocess": "tabular:identity", "columns": list(X.columns)},
    "output": {"feature_dim": 3, "source_classes": list(model.classes_)},
}
Path("card.json").write_text(json.dumps(card, indent=2))

# 2. The user's own tables: their own column order, an extra id column, few labels.
mine = X.iloc[user][list(reversed(X.columns))].assign(bottle=[f"b{i}" for i in user])
mine.assign(label=y.iloc[user])[:30].to_csv("my_wines.csv", index=False)
mine[30:].to_csv("new_wines.csv", index=False)  # no label column
mine.assign(label=y.iloc[user])[30:].to_csv("test_wines.csv", index=False)

# 3. Photos in class folders, of mixed sizes and formats; new photos in a flat folder.
fashion = datasets.load("fashion-mnist")
for split, start, n in (("clothes", 0, 20), ("test_clothes", 100, 30)):
    for name in ("Sneaker", "Bag", "Trouser"):
        folder = Path(split) / name.lower()
        folder.mkdir(parents=True)
        idx = np.flatnonzero(np.asarray(fashion.y_test) == fashion.classes.index(name))
        for i, j in enumerate(idx[start : start + n]):
            im = Image.fromarray(fashion.X_test[j])
            if i % 2:
                im.convert("RGB").resize((64, 64)).save(folder / f"{j}.jpg")
            else:
                im.save(folder / f"{j}.png")
Path("new_clothes").mkdir()
for f in sorted(Path("test_clothes").glob("*/*")):
    (Path("new_clothes") / f.name).write_bytes(f.read_bytes())

# 4. Reviews: a text column and a label column; new reviews with the text only.
reviews = datasets.load("rotten-tomatoes")
labels = np.asarray(reviews.classes)[np.asarray(reviews.y_train)]
pick = np.concatenate([rng.choice(np.flatnonzero(labels == c), 40, replace=False)
                       for c in reviews.classes])
pd.DataFrame({"text": [reviews.X_train[i] for i in pick], "label": labels[pick]}).to_csv(
    "reviews.csv", index=False)
test = pd.DataFrame({"text": reviews.X_test[:200],
                     "label": np.asarray(reviews.classes)[np.asarray(reviews.y_test)][:200]})
test.to_csv("test_reviews.csv", index=False)
test[["text"]].to_csv("new_reviews.csv", index=False)
