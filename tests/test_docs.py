"""The documentation site's generated parts, checked without building the site.

``mkdocs build --strict`` (run by ``.ci/run``) catches broken links and missing pages; these
tests check what a build would not: that the references cover every public name.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def hook():
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("molpt_docs", DOCS / "hooks" / "molpt_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cli_page(hook) -> str:
    return hook.cli_markdown()


def test_cli_reference_lists_every_command_and_option(hook, cli_page):
    commands, group = hook.cli_commands()
    assert commands
    for name, cmd in commands.items():
        section = cli_page.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert f"molpt {name} " in section
        for p in cmd.params:
            if getattr(p, "hidden", False):
                continue
            for opt in getattr(p, "opts", []):
                if opt.startswith("-"):
                    assert f"{opt}" in section, f"molpt {name}: {opt} missing from the page"


def test_every_public_name_is_documented(hook, cli_page):
    api = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    assert hook.undocumented(api, cli_page) == []
    # and the check itself bites
    missing = hook.undocumented(api.replace("molpt.load", "x"), cli_page.replace("## split", ""))
    assert "molpt.load (API reference)" in missing and "molpt split (CLI reference)" in missing


def test_nav_pages_exist_or_are_generated(hook):
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:", lambda *a: None)
    Loader.add_multi_constructor("!", lambda *a: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)

    def pages(nav):
        for entry in nav:
            if isinstance(entry, str):
                yield entry
            else:
                for value in entry.values():
                    yield from ([value] if isinstance(value, str) else pages(value))

    generated = {hook.CLI_PAGE, "results/index.md", "performance.md", *hook.PLACEHOLDERS}
    for page in pages(config["nav"]):
        assert (DOCS / page).is_file() or page in generated, page


def test_results_page_is_the_full_section(hook):
    text = hook.results_markdown()
    assert text.startswith("# Results")
    assert "results:start" not in text and "results:end" not in text
    for d in hook.study_folders():
        assert f"`{d.name}`" in text


def _docs_molpt_commands() -> list[tuple[str, list[str]]]:
    from test_readme import commands  # tests/ is on sys.path (no __init__.py)

    out = []
    for page in sorted(DOCS.rglob("*.md")):
        for words in commands(page.read_text(encoding="utf-8")):
            if words[0] == "molpt":
                out.append((str(page.relative_to(DOCS)), words))
    return out


@pytest.mark.parametrize("page,words", _docs_molpt_commands(),
                         ids=lambda x: x if isinstance(x, str) else " ".join(x[:2]))  # fmt: skip
def test_docs_molpt_commands_exist(page, words):
    """Every ``molpt ...`` line in the guides names a real subcommand and real options."""
    import typer.main
    from test_readme import test_readme_molpt_command_exists

    from molpt.cli import app

    test_readme_molpt_command_exists(words, typer.main.get_command(app))
