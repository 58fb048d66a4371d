"""The README is short, self-contained, and every command in it works.

Its shell blocks are parsed line by line: a ``molpt ...`` command must name an existing
subcommand and only options that command has (checked against the Typer app, as click sees
it); the cheap ones are run; the install and test commands are the ones ``.ci/run`` runs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 200
#: subcommands another part of molpt is adding; checked as soon as the app has them
PENDING = {"predict"}
#: pages another part of molpt is writing; linked already
PENDING_FILES = {"docs/how-to/use-your-model.md"}
#: commands cheap enough to run here (no data, no training)
RUN = {"--help", "checkpoints"}


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[list[str]]:
    """Each command line of the README's shell blocks, continuation lines joined and
    comments removed, split like a shell would."""
    out = []
    for block in shell_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                out.append(words)
    return out


def molpt_commands() -> list[list[str]]:
    return [w for w in commands(README.read_text(encoding="utf-8")) if w[0] == "molpt"]


@pytest.fixture(scope="module")
def cli():
    import typer.main

    from molpt.cli import app

    return typer.main.get_command(app)


def _options(cmd) -> set[str]:
    names = {"--help"}
    for p in cmd.params:
        names.update(getattr(p, "opts", []))
        names.update(getattr(p, "secondary_opts", []))
    return names


def test_readme_is_short_and_stands_alone():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, "move long material into docs/"
    assert "../shared" not in text, "a user who clones molpt alone must be able to follow it"
    assert not re.search(r"\bissue\s*#?\d+|(?<![\w/])#\d+\b", text, flags=re.I)
    assert "<!-- results:start summary -->" in text and "<!-- results:end -->" in text


def test_readme_links_resolve():
    text = README.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)", text):
        if re.match(r"[a-z]+://", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if path in PENDING_FILES:
            continue
        assert (ROOT / path).exists(), f"README links to a missing file: {target}"


def test_readme_install_and_test_commands_are_the_ci_commands():
    lines = [" ".join(w) for w in commands(README.read_text(encoding="utf-8"))]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for cmd in ("pip install torch==2.13.0", "pip install -e .[dev]", "pytest -q"):
        assert cmd in lines, f"README lacks {cmd!r}"
    assert "pip install -q torch==2.13.0" in ci
    assert 'pip install -q -e ".[dev]"' in ci
    assert re.search(r"^pytest -q$", ci, flags=re.M)
    assert re.search(r"^(NO_MKDOCS_2_WARNING=1 )?mkdocs build --strict", ci, flags=re.M)
    assert ci.index("torch==2.13.0") < ci.index('".[dev]"') < ci.index("pytest -q")


def test_readme_has_molpt_commands():
    subs = {w[1] for w in molpt_commands() if len(w) > 1}
    assert {"benchmark", "finetune", "pretrain", "predict", "checkpoints"} <= subs


@pytest.mark.parametrize("words", molpt_commands(), ids=lambda w: " ".join(w[:2]))
def test_readme_molpt_command_exists(words, cli):
    sub = words[1]
    if sub not in cli.commands:
        if sub in PENDING:
            pytest.skip(f"molpt {sub} is not in this build yet")
        pytest.fail(f"README runs `molpt {sub}`, which does not exist")
    known = _options(cli.commands[sub])
    for w in words[2:]:
        if w.startswith("-") and w != "-":
            assert w.split("=", 1)[0] in known, f"`molpt {sub}` has no option {w}"


@pytest.mark.parametrize("sub", sorted(RUN | {w[1] for w in molpt_commands()} - PENDING))
def test_readme_cheap_commands_run(sub, tmp_path, monkeypatch):
    """``molpt --help``, every README subcommand's ``--help``, and ``molpt checkpoints``
    (a listing) exit 0."""
    from typer.testing import CliRunner

    from molpt.cli import app

    monkeypatch.setenv("MOLPT_CACHE", str(tmp_path / "cache"))
    args = ["--help"] if sub == "--help" else [sub, "--help"]
    if sub == "checkpoints":
        args = [sub, "--checkpoint-dir", str(tmp_path)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    if sub == "checkpoints":
        assert "hu2020/gcn_supervised_contextpred" in res.output
