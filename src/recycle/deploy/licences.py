"""The sources' licences combined: the most restrictive one decides what a deployment may do.

Each licence string is put in one of :data:`LEVELS` (ordered from least to most restrictive)
by keywords; a licence nobody recognises counts as the most restrictive ("unknown": without
a licence, all rights are reserved), so the combination never understates a restriction.

Examples
--------
>>> combine_licences(["MIT", "Apache-2.0"])["level"]
'permissive'
>>> combine_licences(["MIT", "CC BY-SA 3.0", "CC-BY-NC-4.0"])["level"]
'non-commercial'
>>> combine_licences(["MIT", "whatever"])["decided_by"]
['whatever']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Levels, least to most restrictive, with what each allows, said plainly.
LEVELS: dict[str, str] = {
    "permissive": "Commercial and non-commercial use allowed; keep the copyright notices.",
    "share-alike": (
        "Use allowed, but what you distribute built from these weights must carry the same "
        "licence (copyleft / share-alike)."
    ),
    "non-commercial": "Research and other non-commercial use only; no commercial deployment.",
    "unknown": (
        "At least one licence is unknown: all rights are reserved until its owner says "
        "otherwise; do not deploy before clearing it."
    ),
}

#: Keywords (lower case) that put a licence in a level; the first matching level wins,
#: checked from the most restrictive down.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "non-commercial": ("nc", "non-commercial", "noncommercial", "research", "terms of access"),
    "share-alike": ("sa", "gpl", "lgpl", "agpl", "mpl", "share-alike", "copyleft", "odbl"),
    "permissive": (
        "mit",
        "bsd",
        "apache",
        "cc0",
        "cc-by",
        "cc by",
        "isc",
        "zlib",
        "unlicense",
        "public domain",
        "psf",
    ),
}


def _tokens(licence: str) -> set[str]:
    text = licence.lower().replace("_", "-")
    return {t for t in text.replace("-", " ").replace(",", " ").replace(";", " ").split() if t}


def licence_level(licence: str) -> str:
    """The level of one licence string (see the module docstring).

    Examples
    --------
    >>> licence_level("GPL-3.0"), licence_level("BSD-3-Clause"), licence_level("")
    ('share-alike', 'permissive', 'unknown')
    """
    text = licence.lower().replace("_", "-")
    tokens = _tokens(licence)
    for level in ("non-commercial", "share-alike", "permissive"):
        for word in KEYWORDS[level]:
            if (" " in word or "-" in word) and word in text:
                return level
            if word in tokens:
                return level
    return "unknown"


def combine_licences(licences: Iterable[str]) -> dict[str, Any]:
    """The most restrictive level among ``licences`` and which licences decide it.

    Returns
    -------
    dict
        ``{"level", "meaning", "decided_by": [licences at that level], "licences": {licence:
        level}}``. No licences at all counts as ``"unknown"``.
    """
    levels = {lic: licence_level(lic) for lic in dict.fromkeys(str(x) for x in licences)}
    order = list(LEVELS)
    worst = max(levels.values(), key=order.index, default="unknown")
    return {
        "level": worst,
        "meaning": LEVELS[worst],
        "decided_by": [lic for lic, lv in levels.items() if lv == worst],
        "licences": levels,
    }


def licence_terms(sources: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Every term a deployment must respect: each source's weights licence and, where its
    card knows it, the licence of the data it was trained on.

    ``sources`` are the export's source records (``name``/``source_id``, ``license`` and
    optionally ``data_license`` and ``data``, the training data's description).

    Examples
    --------
    >>> terms = licence_terms([{"name": "effnet", "license": "Apache-2.0",
    ...     "data_license": "ImageNet terms of access (non-commercial research)",
    ...     "data": "ImageNet-1k"}])
    >>> [(t["what"], t["level"]) for t in terms]
    [('weights', 'permissive'), ('training data: ImageNet-1k', 'non-commercial')]
    """
    terms = []
    for s in sources:
        name = str(s.get("name") or s.get("source_id"))
        terms.append({"source": name, "what": "weights", "licence": str(s.get("license"))})
        if s.get("data_license"):
            what = f"training data: {s['data']}" if s.get("data") else "training data"
            terms.append({"source": name, "what": what, "licence": str(s["data_license"])})
    for term in terms:
        term["level"] = licence_level(term["licence"])
    return terms


def licence_view(sources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """:func:`combine_licences` over the weights and training-data terms of ``sources``.

    Returns
    -------
    dict
        What :func:`combine_licences` returns, with ``decided_by`` naming the source and the
        term (``"effnet (training data: ImageNet-1k): ImageNet terms ..."``) and ``terms``,
        the list :func:`licence_terms` gives.

    Examples
    --------
    >>> view = licence_view([{"name": "effnet", "license": "Apache-2.0",
    ...     "data_license": "ImageNet terms of access (non-commercial research)"}])
    >>> view["level"], view["decided_by"][0][:28]
    ('non-commercial', 'effnet (training data): Imag')
    """
    terms = licence_terms(sources)
    view = combine_licences(t["licence"] for t in terms)
    view["decided_by"] = [
        f"{t['source']} ({t['what']}): {t['licence']}" for t in terms if t["level"] == view["level"]
    ]
    view["terms"] = terms
    return view
