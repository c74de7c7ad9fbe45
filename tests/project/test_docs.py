"""The docs stay true to the code: generated references are current, commands and links exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from recycle.cli import app, main
from script_helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "research/README.md"]
CLI_DOCS = load_script("gen_cli_docs")
API_DOCS = load_script("gen_api_docs")
COMMANDS = {path: cmd for path, cmd in CLI_DOCS.command_paths(typer.main.get_command(app))}


def test_the_design_commands_exist() -> None:
    expected = {
        ("demo",), ("search",), ("select",), ("fit",), ("predict",), ("evaluate",), ("bench",),
        ("serve",), ("zoo", "init"), ("zoo", "list"), ("zoo", "show"), ("zoo", "add"),
        ("zoo", "remove"), ("zoo", "build-demo"), ("spec", "build"), ("keys", "create"),
        ("keys", "list"), ("keys", "revoke"),
    }  # fmt: skip
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS), ids=" ".join)
def test_every_command_has_help(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(rf"Usage: .* {' '.join(command)} ", out), out[:200]
    summary = " ".join((COMMANDS[command].help or "").split()[:4])
    assert summary and summary in out  # the command's own help, not the group's


def test_the_cli_reference_has_a_section_per_command() -> None:
    """Names the commands a stale docs/cli.md lacks (regenerate: scripts/gen_cli_docs.py)."""
    headings = set(re.findall(r"^## recycle (.+)$", (ROOT / "docs/cli.md").read_text(), re.M))
    missing = [" ".join(p) for p in COMMANDS if " ".join(p) not in headings]
    assert not missing, f"docs/cli.md lacks {missing}: run python scripts/gen_cli_docs.py"


@pytest.mark.parametrize(
    ("script", "page"), [(CLI_DOCS, "docs/cli.md"), (API_DOCS, "docs/api.md")], ids=["cli", "api"]
)
def test_the_generated_references_are_current(script: object, page: str) -> None:
    current = (ROOT / page).read_text()
    assert current == script.render(), f"{page} is stale: run python {script.__name__}.py"  # type: ignore[attr-defined]


def test_the_cli_reference_changes_when_a_command_does() -> None:
    """The staleness check sees a new option (the generator reads the live app)."""
    before = CLI_DOCS.render()

    @app.command("zz-docs-probe", hidden=False)
    def _probe(flag: bool = typer.Option(False, "--zz-flag", help="Probe.")) -> None:
        """A probe command."""

    try:
        after = CLI_DOCS.render()
    finally:
        app.registered_commands.pop()
    assert "## recycle zz-docs-probe" in after and "`--zz-flag` | flag" in after
    assert "zz-docs-probe" not in before and CLI_DOCS.render() == before


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings."""
    slugs = set()
    for title in re.findall(r"^#+ (.+)$", page.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        slugs.add(slug)
    return slugs


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links in code are not links
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"[a-z]+:", link):  # http:, https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        outside = not target.exists() or not target.resolve().is_relative_to(ROOT.resolve())
        if outside or (anchor and target.suffix == ".md" and anchor not in _anchors(target)):
            broken.append(link)
    assert not broken, f"{page.name}: broken links {broken}"


def test_the_link_check_catches_a_missing_file_and_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Top\n[a](page.md#top) [b](gone.md) [c](#nowhere) `[d](gone.md)`\n")
    assert _links(page) == ["page.md#top", "gone.md", "#nowhere", "gone.md"]
    assert _anchors(page) == {"top"}


#: A file name as docs write it: ``ASSETS.md``, ``docs/SPEC.md``, ``scripts/bench.sh``.
FILE_NAME = r"(?<![\w/.*-])((?:[\w-]+/)*[\w-]+\.(?:md|py|sh))\b"


def test_no_page_names_a_file_the_repository_does_not_have() -> None:
    """Docs once pointed at DESIGN.md, METHODS.md, ASSETS.md and docs/SPEC.md (not in the repo)."""
    named = {(page, name) for page in PAGES for name in re.findall(FILE_NAME, page.read_text())}
    bases = (ROOT, ROOT / "docs", ROOT / "src", ROOT / "benchmarks")
    missing = [
        (page.name, name)
        for page, name in named
        if not any((base / name).exists() for base in (page.parent, *bases))
    ]
    assert not missing, missing


def _readme_command_lines() -> list[list[str]]:
    blocks = re.findall(r"```\w*\n(.*?)```", README, re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("recycle ")]


def test_readme_commands_and_their_options_exist() -> None:
    """Every ``recycle ...`` line of the README names a real command and real options."""
    shown = set()
    for words in _readme_command_lines():
        words = words[1:]
        if len(words) > 1 and "|" in words:  # "recycle zoo init | list | show NAME | ..."
            subs = [w for i, w in enumerate(words[1:]) if i == 0 or words[i] == "|"]
            assert all((words[0], s) in COMMANDS for s in subs), words
            shown.add(words[0])
            continue
        path = tuple(words[:2]) if tuple(words[:2]) in COMMANDS else tuple(words[:1])
        assert path in COMMANDS, f"README shows `recycle {' '.join(words)}`: no such command"
        options = {o for p in COMMANDS[path].params for o in p.opts}
        unknown = [w for w in words if w.startswith("--") and w not in options]
        assert not unknown, f"README: `recycle {' '.join(path)}` has no option {unknown}"
        shown.add(path[0])
    assert shown == {p[0] for p in COMMANDS}  # every top-level command is shown


def test_readme_make_targets_exist() -> None:
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    used = set(re.findall(r"\bmake ([a-z][\w-]*)", README))
    assert {"demo", "test"} <= used and used <= targets, used - targets


def test_readme_is_for_users_and_short() -> None:
    assert len(README) < 15_000
    assert not re.search(r"\b[0-9a-f]{7}\b(?![\w-])", README), "commit hashes belong in history"
    assert "## Quickstart with your own data" in README


def _readme_python() -> str:
    (code,) = re.findall(r"```python\n(.*?)```", README, re.S)
    return code


def _undefined_names(code: str) -> set[str]:
    """Names a straight-line script reads but never binds (imports, assignments, loops)."""
    import ast
    import builtins

    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    loaded = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return loaded - bound


def test_readme_python_example_uses_no_undefined_name() -> None:
    assert _undefined_names("zoo = Zoo.open('z')\nzoo.register(src, card)") == {
        "Zoo",
        "src",
        "card",
    }
    assert _undefined_names(_readme_python()) == set()


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_python(), "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "out" / "model").is_dir() and (tmp_path / "zoo").is_dir()
