"""MkDocs hook: the pages of the site that are derived from the code and the result files.

Nothing here is copied into ``docs/``; every page below is made at build time, so it cannot
drift from what it describes:

* ``reference/cli.md``: every command of the Typer app, with its usage and every option
  (read from the click command Typer builds), see :func:`cli_markdown`;
* ``tutorials/*.ipynb``: the notebooks of ``notebooks/``, rendered with their committed outputs
  by mkdocs-jupyter;
* ``results/index.md`` and ``results/<study>/report.md``: the studies' results, rendered by
  ``molpt.benchmark.readme`` (full detail) and each study's own ``report.md`` with its figures
  and CSV files;
* ``performance.md``: ``benchmarks/RESULTS.md``;
* ``how-to/use-your-model.md``: a placeholder, only while that page is not written yet.

It also fails the build when a name of ``molpt.__all__`` is missing from the API reference
or a command from the CLI reference (see :func:`undocumented`).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the molpt of this checkout, not an installed copy
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "benchmarks" / "results"
NOTEBOOKS = REPO / "notebooks"
#: files of a study folder that the site serves beside its report (not the per-job folders)
STUDY_FILES = (".md", ".png", ".csv", ".toml", ".json")
API_PAGE = "reference/api.md"
CLI_PAGE = "reference/cli.md"
_SCRATCH: Path | None = None  # this build's copies of the notebooks
PLACEHOLDERS = {
    "how-to/use-your-model.md": (
        "# Use your fine-tuned model\n\n"
        "This guide (scoring a compound library with `molpt predict` and `molpt.load_model`) "
        "is not written yet in this copy of molpt.\n"
    ),
}


# ---------------------------------------------------------------------------- CLI reference
def _escape(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _context(cmd, info_name: str):
    """A click context for ``cmd`` (Typer may bring its own copy of click: use its class)."""
    return cmd.context_class(cmd, info_name=info_name)


def _param_row(p, ctx) -> list[str] | None:
    """[`-o, --out <path>`, help with its default] of one argument or option, as ``--help``
    shows it (None for a hidden one)."""
    if getattr(p, "hidden", False):
        return None
    record = p.get_help_record(ctx)
    if record is None:  # an argument without help text
        name, text = p.human_readable_name, "[required]" if p.required else ""
    else:
        name, text = record
    return [f"`{_escape(name)}`", _escape(text)]


def cli_commands() -> tuple[dict, object]:
    """({name: click command} of the ``molpt`` Typer app in ``--help`` order, the group)."""
    import typer.main

    from molpt.cli import app

    group = typer.main.get_command(app)
    return dict(group.commands), group


def cli_markdown() -> str:
    """The CLI reference page: the global options, then per command its help, usage and a
    table of its arguments and options (as ``--help`` prints them, defaults included)."""
    commands, group = cli_commands()
    lines = ["# Command line", "",
             "Generated from the `molpt` Typer app when this site was built: it lists exactly "
             "the commands and options of this version. `molpt COMMAND --help` prints the same.",
             "", "```", "molpt [OPTIONS] COMMAND [ARGS]...", "```", "",
             "| global option | help |", "|---|---|"]  # fmt: skip
    gctx = _context(group, "molpt")
    lines += ["| " + " | ".join(r) + " |"
              for r in (_param_row(p, gctx) for p in group.params) if r]  # fmt: skip
    lines += ["", "Commands: " + ", ".join(f"[`{n}`](#{n})" for n in commands) + ".", ""]
    for name, cmd in commands.items():
        ctx = _context(cmd, f"molpt {name}")
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        lines += [f"## {name}", "", "```", f"molpt {name} {usage}".rstrip(), "```", ""]
        if cmd.help:
            lines += [cmd.help.strip().replace("\b\n", ""), ""]
        rows = [r for r in (_param_row(p, ctx) for p in cmd.params) if r]
        if rows:
            lines += ["| argument / option | help |", "|---|---|"]
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- coverage check
def undocumented(api_markdown: str, cli_markdown_text: str) -> list[str]:
    """Public names absent from the references: each ``molpt.__all__`` name must appear as
    ``molpt.NAME`` on the API page, each command as a ``## NAME`` heading on the CLI page."""
    import molpt

    missing = [f"molpt.{n} (API reference)" for n in molpt.__all__
               if f"molpt.{n}" not in api_markdown]  # fmt: skip
    headings = {line[3:].strip() for line in cli_markdown_text.splitlines()
                if line.startswith("## ")}  # fmt: skip
    missing += [f"molpt {n} (CLI reference)" for n in cli_commands()[0] if n not in headings]
    return missing


# ---------------------------------------------------------------------------- results pages
def study_folders() -> list[Path]:
    """The results folders that hold a report, by name."""
    if not RESULTS.is_dir():
        return []
    return sorted(d for d in RESULTS.iterdir() if (d / "report.md").is_file())


def results_markdown() -> str:
    from molpt.benchmark.readme import render_section

    body = render_section(RESULTS, RESULTS, detail="full")
    return "\n".join([
        "# Results", "",
        "The studies are named grids (`benchmarks/studies/*.toml`) whose results are files in "
        "the repository (`benchmarks/results/<study>/`). This page is generated from those "
        "files at build time; each study's full report is a page of its own (left). How to run "
        "or continue a study: [Studies and merging rows](../how-to/studies.md).", "",
        body.split("\n", 1)[1].rsplit("\n", 1)[0],  # without the marker comments' lines
        *_other_reports(),
    ])  # fmt: skip


def _other_reports() -> list[str]:
    """Results folders that are not fine-tuning grids (no results.csv), e.g. the split probe
    study: named here with their report's title; each report is a page of its own."""
    out = []
    for d in study_folders():
        if (d / "results.csv").is_file():
            continue
        first = (d / "report.md").read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        out.append(f"- `{d.name}`: {first}")
    return ["", "## Other studies", "", *out] if out else []


# ---------------------------------------------------------------------------- MkDocs events
def _title(nb: Path) -> str:
    """A notebook's first heading, shortened: '01 · Featurizers: from ...' -> 'Featurizers'."""
    import json

    for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if line.startswith("# "):
                return line[2:].split("·", 1)[-1].split(":", 1)[0].strip()
    return nb.stem


def on_config(config):
    """Fill the "Tutorials" and "Results" sections: one entry per notebook, per study."""
    for entry in config.nav or []:
        if isinstance(entry, dict) and "Tutorials" in entry:
            entry["Tutorials"] += [{_title(nb): f"tutorials/{nb.name}"}
                                   for nb in sorted(NOTEBOOKS.glob("*.ipynb"))]  # fmt: skip
        if isinstance(entry, dict) and "Results" in entry:
            entry["Results"] += [{d.name: f"results/{d.name}/report.md"}
                                 for d in study_folders()]  # fmt: skip
    return config


@event_priority(100)  # before mkdocs-jupyter wraps the notebooks
def on_files(files: Files, config) -> Files:
    def add(uri: str, *, content: str | None = None, path: Path | None = None) -> None:
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, content=content,
                                        abs_src_path=str(path) if path else None))  # fmt: skip

    add(CLI_PAGE, content=cli_markdown())
    add("results/index.md", content=results_markdown())
    if (REPO / "benchmarks" / "RESULTS.md").is_file():
        add("performance.md", path=REPO / "benchmarks" / "RESULTS.md")
    # mkdocs-jupyter reads a notebook from its File's src_dir / src_uri (a generated File has
    # no src_dir), so the notebooks get a scratch src_dir holding tutorials/<name>.ipynb
    global _SCRATCH
    scratch = _SCRATCH = Path(tempfile.mkdtemp(prefix="molpt-docs-"))
    (scratch / "tutorials").mkdir()
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        uri = f"tutorials/{nb.name}"
        if files.get_file_from_path(uri) is None:
            shutil.copy2(nb, scratch / uri)
            files.append(File(uri, src_dir=str(scratch), dest_dir=config.site_dir,
                              use_directory_urls=config.use_directory_urls))  # fmt: skip
    for d in study_folders():
        for f in sorted(d.iterdir()):
            if f.is_file() and f.suffix in STUDY_FILES:
                add(f"results/{d.name}/{f.name}", path=f)
    for uri, text in PLACEHOLDERS.items():
        add(uri, content=text)
    return files


def on_post_build(config) -> None:
    if _SCRATCH is not None:
        shutil.rmtree(_SCRATCH, ignore_errors=True)


def on_page_markdown(markdown: str, page, config, files):
    if page.file.src_uri == API_PAGE:
        cli = files.get_file_from_path(CLI_PAGE)
        missing = undocumented(markdown, cli.content_string if cli else "")
        if missing:
            raise PluginError("undocumented public names: " + ", ".join(missing))
    return markdown
