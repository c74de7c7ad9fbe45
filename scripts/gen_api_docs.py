"""Generate ``docs/api.md``, the Python API reference, from the docstrings (never typed).

Usage: python scripts/gen_api_docs.py [--check]

One section per documented object (:data:`OBJECTS`): its signature, the summary of its numpydoc
docstring, its Parameters and Attributes as tables, the contract its module states (for the
strategy and source protocols), and for card dataclasses every field with its type, default and
the comment beside it in the source. ``--check`` writes nothing and exits 1 when
``docs/api.md`` differs from what the code would generate (``tests/project/test_docs.py`` runs the
same comparison).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"

#: (import path, what the section adds beyond the docstring).
OBJECTS = (
    ("recycle.Recycler", "signature"),
    ("recycle.select_sources", "signature"),
    ("recycle.build_spec", "signature"),
    ("recycle.adapt.Strategy", "contract"),
    ("recycle.sources.base.SourceModel", "contract"),
    ("recycle.ModelCard", "fields"),
    ("recycle.zoo.card.InputSchema", "fields"),
    ("recycle.zoo.card.OutputSchema", "fields"),
    ("recycle.zoo.card.Datasheet", "fields"),
    ("recycle.zoo.card.Lineage", "fields"),
)

HEADER = """# Python API reference

Generated from the docstrings by `scripts/gen_api_docs.py`; do not edit by hand (a test fails
when this file and the code disagree). The command line is in [cli.md](cli.md); the ideas behind
these objects are in [concepts.md](concepts.md).

```python
from recycle import Zoo, ModelCard, Recycler, select_sources, build_spec
```
"""

_SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.MULTILINE)


def resolve(path: str) -> Any:
    """The object at a dotted import path.

    >>> resolve("recycle.ModelCard").__name__
    'ModelCard'
    """
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def sections(doc: str) -> dict[str, str]:
    """A numpydoc docstring split into ``{"": summary, "Parameters": ..., ...}``.

    >>> sections("Sum.\\n\\nParameters\\n----------\\nx : int\\n    A number.\\n")["Parameters"]
    'x : int\\n    A number.'
    """
    parts = _SECTION.split(doc)
    out = {"": parts[0].strip()}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        out[title.strip()] = body.strip("\n").rstrip()
    return out


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def rst_to_md(text: str) -> str:
    r"""Docstring reST to Markdown: ````x```` to ```x```, roles dropped, ``::`` blocks fenced.

    >>> print(rst_to_md("Use ``fit``, :func:`recycle.build_spec`::\n\n    fit(X)\n\nDone."))
    Use `fit`, `recycle.build_spec`:
    <BLANKLINE>
    ```
    fit(X)
    ```
    <BLANKLINE>
    Done.
    """
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text).replace("``", "`")
    out: list[str] = []
    block: list[str] | None = None
    for line in text.splitlines():
        if block is not None:
            if line.startswith("    ") or not line.strip():
                block.append(line[4:])
                continue
            out += ["```", *"\n".join(block).strip("\n").splitlines(), "```", ""]
            block = None
        if line.endswith("::"):
            out += [line[:-1], ""]
            block = []
            continue
        out.append(line)
    if block is not None:
        out += ["```", *"\n".join(block).strip("\n").splitlines(), "```"]
    return "\n".join(out)


def contract(cls: type) -> str:
    """Class attributes (with their ``#:`` comments) and public methods (first doc line)."""
    lines = []
    source = inspect.getsource(cls).splitlines()
    for k, line in enumerate(source):
        match = re.match(r"\s+(\w+): (ClassVar\[.+?\]|[\w\[\], |]+)( = .+)?$", line)
        if match and k and source[k - 1].strip().startswith("#:"):
            comment = source[k - 1].strip()[2:].strip()
            lines.append(f"- `{match.group(1)}: {match.group(2)}`: {comment}")
    for name, member in inspect.getmembers(cls):
        generated = name.startswith("set_") and name.endswith("_request")  # scikit-learn's
        if name.startswith("_") or generated or not callable(member) or name not in vars(cls):
            continue
        doc = (inspect.getdoc(member) or "").split("\n")[0]
        signature = str(inspect.signature(member)).replace("'", "")
        lines.append(f"- `{name}{signature}`: {rst_to_md(doc)}")
    return "**Members**\n\n" + "\n".join(lines)


def param_table(body: str) -> str:
    """A numpydoc Parameters/Attributes block as a Markdown table.

    >>> print(param_table("m : int, default 3\\n    Sources to use.\\nseed : int"))
    | name | type | description |
    |---|---|---|
    | `m` | int, default 3 | Sources to use. |
    | `seed` | int |  |
    """
    rows: list[list[str]] = []
    for line in body.splitlines():
        if line and not line[0].isspace():
            name, _, kind = line.partition(" : ")
            rows.append([name.strip(), kind.strip(), ""])
        elif rows:
            rows[-1][2] += " " + line.strip()
    lines = ["| name | type | description |", "|---|---|---|"]
    lines += [f"| `{n}` | {_cell(rst_to_md(k))} | {_cell(rst_to_md(d))} |" for n, k, d in rows]
    return "\n".join(lines)


def field_table(cls: type) -> str:
    """A dataclass's fields: name, type, default and the comment beside it in the source."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+): .*?#\s*(.+)$", line)
        if match:
            comments[match.group(1)] = match.group(2).replace("  # type: ignore", "")
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f"`{f.default!r}`"
        elif f.default_factory is not dataclasses.MISSING:
            default = f"`{f.default_factory()!r}`"
        else:
            default = "required"
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        kind = kind.replace("|", "\\|")
        lines.append(f"| `{f.name}` | `{kind}` | {default} | {_cell(comments.get(f.name, ''))} |")
    return "\n".join(lines)


def _prose(title: str, body: str) -> str:
    if title in ("Parameters", "Attributes", "Other Parameters"):
        return f"**{title}**\n\n{param_table(body)}"
    if title in ("Returns", "Raises"):
        return f"**{title}**\n\n```\n{body}\n```"
    if title == "Examples":
        code = "\n".join(
            line.removeprefix(">>> ").removeprefix("... ") for line in body.splitlines()
        )
        return f"**Examples**\n\n```python\n{code}\n```"
    return f"**{title}**\n\n{rst_to_md(body)}"


def render_object(path: str, extra: str) -> str:
    """The Markdown section of one object."""
    obj = resolve(path)
    doc = sections(inspect.getdoc(obj) or "")
    name = path.rsplit(".", 1)[-1]
    parts = [f"## {name}", f"`{obj.__module__}.{obj.__qualname__}`"]
    if extra == "signature":
        signature = str(inspect.signature(obj)).replace("'", '"')
        parts.append(f"```python\n{name}{signature}\n```")
    parts.append(rst_to_md(doc.pop("")))
    if extra == "contract":
        module_doc = sections(inspect.getdoc(inspect.getmodule(obj)) or "")[""]
        parts.append(f"From the module `{obj.__module__}`:\n\n{rst_to_md(module_doc)}")
        parts.append(contract(obj))
    if extra == "fields":
        parts.append(field_table(obj))
    parts += [_prose(title, body) for title, body in doc.items() if title != "Examples"]
    return "\n\n".join(parts)


def render() -> str:
    """The whole of ``docs/api.md`` for the current code."""
    return "\n\n".join([HEADER.rstrip(), *(render_object(p, e) for p, e in OBJECTS)]) + "\n"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is no package
    from gen_cli_docs import write_or_check

    return write_or_check(DOCS, render(), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
