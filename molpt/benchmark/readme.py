"""The README's "Results" section, derived from ``benchmarks/results/*/`` (never hand-edited).

``render_section`` reads each results folder's ``summary.csv``, ``paper.csv`` (molpt beside
the paper), ``study.toml`` (title and command) and ``results.csv`` (devices), and writes
markdown in which every number links to the file it comes from, with the command that made
it as the link title.  ``update_readme`` replaces the text between ``<!-- results:start -->``
and ``<!-- results:end -->``.  Run ``python benchmarks/results/render_readme.py``
(``--check`` exits 1 when the README is stale).

Two levels of detail.  ``full`` (the default) is everything: the studies' table, per study
the means, the gains over the random-init twin, the averages beside the paper, the figures,
the bf16 twins' precision check and a plain-words reading; the documentation site's Results
page is rendered this way.  ``summary`` keeps, per study, its status line with a link to its
full report and its table of means, and lists the studies not started yet; the README uses
it.  The start marker names the level (``<!-- results:start summary -->``), so rewriting a
file keeps the level it asked for.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from molpt.benchmark.studies import STUDIES_DIR, Study, list_studies, load_study, study_of_results
from molpt.data.catalogue import in_paper_order

START = "<!-- results:start -->"
END = "<!-- results:end -->"
#: the levels of detail of the section: the start marker of a summary is START_SUMMARY
DETAILS = ("full", "summary")
START_SUMMARY = "<!-- results:start summary -->"
PERCENT = ("roc_auc", "pr_auc")
#: the reading's bullet lists, filled per results folder and merged
READING = ("yes", "no", "running", "other", "gains", "precision")


@dataclass
class FolderResults:
    """What one results folder holds, as the README needs it."""

    name: str
    root: Path
    study: Study | None
    summary: pd.DataFrame
    paper: pd.DataFrame
    devices: list[tuple[str, int]] = field(default_factory=list)
    n_done: int = 0
    n_planned: int = 0

    @property
    def command(self) -> str:
        return self.study.command if self.study else f"molpt report {self.root}"


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _truthy(v: Any) -> bool | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        return {"true": True, "false": False}.get(v.strip().lower())
    return bool(v)


def load_folder(root: Path) -> FolderResults | None:
    """A results folder with a fine-tuning ``summary.csv`` (else None)."""
    if not (root / "summary.csv").is_file():
        return None
    summary = pd.read_csv(root / "summary.csv")
    if not {"dataset", "method", "metric", "test_mean"} <= set(summary.columns):
        return None  # not a fine-tuning grid's summary (e.g. a probe study's own table)
    paper = pd.read_csv(root / "paper.csv") if (root / "paper.csv").is_file() else pd.DataFrame()
    devices: list[tuple[str, int]] = []
    frame = None
    if (root / "results.csv").is_file():
        from molpt.benchmark.store import ResultsStore

        frame = ResultsStore(root).read().frame
        if "device" in frame and not frame.empty:
            from molpt.benchmark.report.devices import device_labels

            counts = pd.Series(device_labels(frame)).value_counts(sort=False)
            devices = [(str(k), int(v)) for k, v in counts.items()]
    n_seeds = pd.to_numeric(summary.get("n_seeds"), errors="coerce")
    n_planned = pd.to_numeric(summary.get("n_planned", n_seeds), errors="coerce")
    f = FolderResults(root.name, root, study_of_results(root), summary, paper, devices,
                      int(n_seeds.sum()), int(n_planned.sum()))  # fmt: skip
    # cells with no finished seed yet (a planned checkpoint not run) are not in summary.csv:
    # count the study's whole plan, as the report does
    if f.study is not None and frame is not None and not frame.empty:
        from molpt.benchmark.report.progress import planned_seeds

        plan = planned_seeds(root, frame, f.study)
        f.n_planned = max(f.n_planned, sum(len(v) for v in plan.values()))
    return f


def _link(text: str, path: Path, rel_to: Path, command: str) -> str:
    rel = os.path.relpath(path, rel_to)
    cmd = command.replace('"', "'")
    return f'[{text}]({rel} "{cmd}")'


def _fmt_cell(r: dict[str, Any], scale: float) -> str:
    m, s = _num(r.get("test_mean")), _num(r.get("test_std"))
    if m is None:
        return "–"
    txt = f"{scale * m:.1f}" if scale != 1 else f"{m:.3f}"
    if s is not None:
        txt += f" ± {scale * s:.1f}" if scale != 1 else f" ± {s:.3f}"
    return txt + _partial(r)


def _folder_section(f: FolderResults, readme_dir: Path,
                    detail: str = "full") -> tuple[list[str], dict[str, list]]:  # fmt: skip
    """Markdown for one folder plus the reading's bullet material (``detail="summary"``: the
    status line and the tables of means only)."""
    summary_only = detail == "summary"
    lines: list[str] = []
    reading: dict[str, list] = {k: [] for k in READING}
    title = f.study.title if f.study and f.study.title else ""
    lines += [f"### `{f.name}`" + (f" — {title}" if title else ""), ""]
    status = ("complete" if f.n_done >= f.n_planned
              else f"**partial: {f.n_done}/{f.n_planned} jobs**")  # fmt: skip
    devs = ", ".join(f"{d} ({n} rows)" for d, n in f.devices) or "–"
    report = _link("report.md", f.root / "report.md", readme_dir, f.command)
    lines += [f"Command: `{f.command}` · status: {status} · devices: {devs} · {report}", ""]
    if f.n_done < f.n_planned:
        reading["running"].append(f"`{f.name}`: {f.n_done} of {f.n_planned} planned jobs "
                                  "finished; its means and averages are partial")  # fmt: skip
    s = f.summary
    summary_csv = f.root / "summary.csv"
    paper_csv = f.root / "paper.csv"
    settings = [c for c in ("split", "featurizer", "strategy") if c in s]
    for key, g in s.groupby(settings, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        datasets = in_paper_order(g["dataset"])
        metric = str(g["metric"].iloc[0]) if g["metric"].nunique() == 1 else ""
        scale = 100.0 if metric in PERCENT else 1.0
        header = ["method"] + datasets
        rows = []
        for m, gm in g.groupby("method", sort=False):
            by = gm.set_index("dataset")
            row = [f"`{m}`"]
            for d in datasets:
                txt = _fmt_cell(by.loc[d].to_dict(), scale) if d in by.index else "–"
                row.append(txt if txt == "–" else _link(txt, summary_csv, readme_dir,
                                                        f.command))  # fmt: skip
            rows.append(row)
            # published per-dataset values beside it (the first matching reference)
            pub = [_num(by.loc[d, "published"]) if d in by.index and "published" in by else None
                   for d in datasets]  # fmt: skip
            if any(v is not None for v in pub):
                src = next(str(by.loc[d, "published_source"]) for d, v in zip(datasets, pub,
                           strict=True) if v is not None)  # fmt: skip
                rows.append([f"published ({src})"] + [f"{v:.1f}" if v is not None else "–"
                                                       for v in pub])  # fmt: skip
        lines += [f"**{', '.join(map(str, key))}** — test {metric or 'metric'} at best valid, "
                  "mean ± std over seeds" + (" (%)" if scale != 1 else ""), "",
                  _table(header, rows), ""]  # fmt: skip
        if summary_only:
            continue
        lines += _gains_table(g, datasets, scale, summary_csv, readme_dir, f.command)
        reading["gains"] += _gain_reading(f, g, scale)
    if summary_only:
        return lines, reading
    # averages against the paper (covered datasets only)
    if not f.paper.empty:
        avg = f.paper[f.paper["kind"] == "average"]
        rows = []
        for r in avg.to_dict("records"):
            ds = str(r["dataset"]).split("+")
            n_done, n_pl = int(r["n_done"]), int(r["n_planned"])
            molpt = f"{r['molpt_mean']:.1f}"
            lo, hi = _num(r["ci_low"]), _num(r["ci_high"])
            if lo is not None:
                molpt += f" [{lo:.1f}, {hi:.1f}]"
            if n_done < n_pl:
                molpt += f" ({n_done}/{n_pl} runs, partial)"
            pub = _num(r["published"])
            p_avg, p_over = _num(r.get("paper_average")), int(_num(r.get("paper_average_over"))
                                                              or 0)  # fmt: skip
            if pub is not None:
                pub_txt = f"{pub:.1f}" + ("" if len(ds) == p_over else
                                          f" (the same {len(ds)} sets)")  # fmt: skip
            elif p_avg is not None:
                pub_txt = f"only the {p_over}-set avg is published ({p_avg:.1f})"
            else:
                pub_txt = "–"
            inside = _truthy(r.get("inside_ci"))
            rows.append([f"`{r['method']}`", str(r["reference"]), ", ".join(ds),
                         _link(molpt, paper_csv, readme_dir, f.command), pub_txt,
                         f"{r['delta']:+.1f}" if _num(r["delta"]) is not None else "–",
                         "yes" if inside else ("no" if inside is False else "–")])  # fmt: skip
        if rows:
            lines += ["Average over exactly the datasets covered so far, beside the paper's "
                      "values averaged over the same datasets (molpt: mean [95% CI]):", "",
                      _table(["method", "reference", "datasets", "molpt", "published", "Δ",
                              "published inside CI?"], rows), ""]  # fmt: skip
        for r in f.paper.to_dict("records"):
            pub = _num(r["published"])
            p_avg = _num(r.get("paper_average"))
            if pub is None and r["kind"] == "average" and p_avg is not None:
                n_over = int(_num(r.get("paper_average_over")) or 0)
                reading["other"].append(
                    f"`{f.name}` `{r['method']}`: {r['reference']} publishes only its "
                    f"{n_over}-set average ({p_avg:.1f}); molpt covers "
                    f"{len(str(r['dataset']).split('+'))} of those sets so far")  # fmt: skip
            if pub is None:
                continue
            inside = _truthy(r.get("inside_ci"))
            complete = _truthy(r.get("complete"))
            where = (r["dataset"] if r["kind"] == "dataset" else
                     f"avg over {str(r['dataset']).replace('+', ', ')}")  # fmt: skip
            what = (f"`{f.name}` {where} `{r['method']}` (molpt "
                    f"{r['molpt_mean']:.1f}, {str(r['source']).split(',')[0]} {pub:.1f}, "
                    f"Δ {r['delta']:+.1f})")  # fmt: skip
            if not complete:
                unit = "seeds" if r["kind"] == "dataset" else "runs"
                reading["running"].append(what + f": {int(r['n_done'])}/{int(r['n_planned'])} "
                                          f"{unit} so far")  # fmt: skip
            elif inside:
                reading["yes"].append(what)
            elif inside is False:
                known = r.get("known_difference")
                known = known if isinstance(known, str) and known else (
                    "see the per-dataset lines" if r["kind"] == "average"
                    else "not yet explained")  # fmt: skip
                reading["no"].append(what + f"\n    - known to differ: {known}")
            else:
                reading["other"].append(what + ": too few seeds for a CI")  # n < 2
    for p in ("published.png", "gains.png"):
        if (f.root / p).is_file():
            lines += [f"![{f.name} {p[:-4]}]({os.path.relpath(f.root / p, readme_dir)})", ""]
    if f.study is not None and f.study.twin_of:
        # a bf16 twin is a precision check, not a result of record: its numbers stay in its
        # section but the reading reports only how far bf16 moved them
        sec, text = _precision_section(f, readme_dir)
        lines += sec
        reading = {k: [] for k in READING}
        if f.n_done < f.n_planned:
            reading["running"].append(f"`{f.name}`: {f.n_done} of {f.n_planned} planned jobs "
                                      "finished")  # fmt: skip
        reading["precision"] = [text]
    return lines, reading


def _precision_section(f: FolderResults, readme_dir: Path) -> tuple[list[str], str]:
    """A bf16 twin's scores beside its fp32 study's (molpt.benchmark.precision): the table
    and the reading's sentence."""
    from molpt.benchmark.precision import THRESHOLD, compare, load, pair

    assert f.study is not None
    twin = f.root.parent / f.study.twin_of
    head = f"`{f.name}` (bf16) vs `{f.study.twin_of}` (fp32)"
    try:
        pairs = pair(load(twin, "fp32"), load(f.root, "bf16"))
    except (FileNotFoundError, ValueError):
        pairs = pd.DataFrame()
    if pairs.empty:
        return [], f"{head}: no run has its twin yet"
    table = compare(pairs, THRESHOLD)
    cmd = f"python benchmarks/precision_check.py {f.study.twin_of} {f.name}"
    results_csv = f.root / "results.csv"
    rows, parts = [], []
    for r in table.itertuples():
        diff = f"{r.diff:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
        rows.append([str(r.dataset), f"`{r.method}`", str(r.n), f"{r.fp32:.1f}",
                     f"{r.bf16:.1f}", _link(diff, results_csv, readme_dir, cmd),
                     "yes" if r.moved_less else "no", "yes" if r.ci_inside else "no"])  # fmt: skip
        parts.append(f"{r.dataset} {r.diff:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]")
    sets = table[~table["dataset"].astype(str).str.startswith("avg of")]
    avg = table[table["dataset"].astype(str).str.startswith("avg of")]
    lines = [f"bf16 vs fp32 (`{cmd}`): test score at the best valid epoch over seed pairs, "
             f"diff = bf16 − fp32 in points [95% CI]; the question is whether the means move "
             f"by less than {THRESHOLD} points:", "",
             _table(["dataset", "method", "seed pairs", "fp32", "bf16", "diff [95% CI]",
                     f"\\|diff\\| < {THRESHOLD}", f"CI inside ±{THRESHOLD}"], rows),
             ""]  # fmt: skip
    partial = (f" (partial: {len(pairs)} of {f.n_planned} planned runs paired so far)"
               if f.n_done < f.n_planned else "")  # fmt: skip
    text = (f"{head}, {len(pairs)} run pairs{partial}: " + "; ".join(parts)
            + f"; the mean moved by less than {THRESHOLD} points on {int(sets['moved_less'].sum())}"
            f" of {len(sets)} sets" + "".join(f" ({'and' if r.moved_less else 'but not'} on the "
                                              f"{r.dataset})" for r in avg.itertuples())
            + f", and the CI lies inside ±{THRESHOLD} on {int(table['ci_inside'].sum())} of "
            f"{len(table)} rows")  # fmt: skip
    return lines, text


def _gain_text(r: Any, scale: float) -> str:
    """'+7.2 [+5.5, +8.9], Holm p 0.006; last epoch +7.2' (and '(5/10 seeds, partial)')."""
    txt = f"{scale * r['gain']:+.1f}"
    lo, hi = _num(r.get("ci_low")), _num(r.get("ci_high"))
    if lo is not None and hi is not None:
        txt += f" [{scale * lo:+.1f}, {scale * hi:+.1f}]"
    ph = _num(r.get("p_wilcoxon_holm"))
    if ph is not None:
        txt += f", Holm p {ph:.3g}"
    last = _num(r.get("last_gain"))
    if last is not None:  # PROTOCOL.md: record both conventions
        txt += f"; last epoch {scale * last:+.1f}"
    return txt + _partial(r)


def _partial(r: Any) -> str:
    """' (7/10 seeds, partial)' for a summary row with seeds still to run, else ''."""
    n = int(_num(r.get("n_seeds")) or 0)
    p = int(_num(r.get("n_planned")) or n)
    return f" ({n}/{p} seeds, partial)" if n < p else ""


def _gain_reading(f: FolderResults, g: pd.DataFrame, scale: float) -> list[tuple[str, str]]:
    """(verdict, text) of each finished gain (all planned seeds) of one setting."""
    if "gain" not in g:
        return []
    return [(str(r.get("verdict") or "no verdict"),
             f"`{f.name}` {r['dataset']} `{r['method']}` vs `{r.get('baseline') or 'none'}` "
             f"{_gain_text(r, scale)}")
            for r in g[g["gain"].notna()].to_dict("records")
            if not _partial(r)]  # partial gains wait in the tables for all their seeds


def _gains_table(g: pd.DataFrame, datasets: list[str], scale: float, path: Path,
                 readme_dir: Path, command: str) -> list[str]:  # fmt: skip
    """Gain of each pretrained method over its own random-init twin, per dataset."""
    if "gain" not in g or g["gain"].notna().sum() == 0:
        return []
    rows = []
    for m, gm in g[g["gain"].notna()].groupby("method", sort=False):
        by = gm.set_index("dataset")
        row = [f"`{m}`", f"`{by['baseline'].iloc[0]}`" if "baseline" in by else "`none`"]
        for d in datasets:
            if d not in by.index or _num(by.loc[d, "gain"]) is None:
                row.append("–")
                continue
            row.append(_link(_gain_text(by.loc[d], scale), path, readme_dir, command))
        rows.append(row)
    return ["Gain over the random-init twin of the same architecture at the best valid epoch "
            "(points, 95% CI, Wilcoxon p Holm-corrected across datasets), and the gain of the "
            "test metric at the last epoch:", "",
            _table(["method", "vs"] + datasets, rows), ""]  # fmt: skip


def _bullets(head: str, items: list[str], empty: str) -> list[str]:
    """'- head:' with one nested bullet per item (an item may carry its own nested lines), or
    '- head: empty.' when there is none."""
    if not items:
        return [f"- {head}: {empty}."]
    return [f"- {head}:"] + [f"  - {it}" for it in items]


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def render_section(results_root: str | Path, readme_dir: str | Path,
                   studies_dir: str | Path | None = None, detail: str = "full") -> str:  # fmt: skip
    """The markdown between the markers (markers included), at the level ``detail`` ("full"
    or "summary", see the module's docstring); links are relative to ``readme_dir``."""
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, not {detail!r}")
    if detail == "summary":
        return _render_summary(Path(results_root), Path(readme_dir), studies_dir)
    results_root, readme_dir = Path(results_root), Path(readme_dir)
    studies, folders = _studies_and_folders(results_root, studies_dir)
    lines = [START,
             "<!-- Generated by `python benchmarks/results/render_readme.py` from "
             "benchmarks/results/*/ (summary.csv, paper.csv, study.toml, results.csv). "
             "Do not edit by hand: rerun the script. -->", ""]  # fmt: skip
    # the studies and their commands
    by_name = {f.name: f for f in folders}
    reading: dict[str, list] = {k: [] for k in READING}
    if studies:
        rows = []
        for st in studies:
            f = by_name.get(st.name)
            if f is None:
                reading["running"].append(f"`{st.name}` not started")
            state = ("not started" if f is None else "complete" if f.n_done >= f.n_planned
                     else f"{f.n_done}/{f.n_planned} jobs")  # fmt: skip
            rows.append([f"`{st.name}`", st.slice or "–", st.title or st.description,
                         f"`{st.command}`", state])  # fmt: skip
        lines += ["Studies (`benchmarks/studies/*.toml`; rerunning a command continues it, "
                  "`--max-minutes M` bounds one sitting):", "",
                  _table(["study", "slice", "what", "command", "status"], rows), ""]  # fmt: skip
    if not folders:
        lines += ["No study results are committed yet.", ""]
    for f in folders:
        sec, rd = _folder_section(f, readme_dir)
        lines += sec
        for k in reading:
            reading[k] += rd[k]
    lines += ["**Reading** (generated from the files above):", ""]
    lines += _bullets("Reproduces (published value inside molpt's 95% CI, all planned seeds)",
                      reading["yes"], "nothing yet")
    lines += _bullets("Does not reproduce yet (published value outside the CI)", reading["no"],
                      "nothing")
    lines += _bullets("Still running or incomplete", reading["running"], "nothing")
    if reading["other"]:
        lines += _bullets("Not comparable yet", reading["other"], "")
    if reading["gains"]:
        gains: dict[str, list[str]] = {}
        for verdict, text in reading["gains"]:
            gains.setdefault(verdict, []).append(text)
        order = ["significant gain", "significant loss", "no significant difference"]
        verdicts = sorted(gains, key=lambda v: (order.index(v) if v in order else len(order),
                                                v))  # fmt: skip
        lines.append("- What pretraining did (gain over the random-init twin at the best valid "
                     "epoch, points [95% CI], Wilcoxon p Holm-corrected across datasets; only "
                     "gains with all planned seeds):")
        for v in verdicts:
            lines += ["  " + b for b in _bullets(v[0].upper() + v[1:], gains[v], "")]
    if reading["precision"]:
        lines += _bullets("bf16 autocast vs fp32 (precision twins, not results of record; diff "
                          "= bf16 − fp32 in points [95% CI])", reading["precision"], "")
    lines += ["", END]
    return "\n".join(lines)


def _studies_and_folders(results_root: Path, studies_dir: str | Path | None
                         ) -> tuple[list[Study], list[FolderResults]]:  # fmt: skip
    """The planned studies (by slice, then name) and the results folders with a summary."""
    studies_dir = Path(studies_dir) if studies_dir else STUDIES_DIR
    folders = [f for f in (load_folder(d) for d in sorted(results_root.iterdir())
                           if d.is_dir()) if f is not None] if results_root.is_dir() else []
    names = [p.stem for p in sorted(studies_dir.glob("*.toml"))] if studies_dir.is_dir() else []
    if studies_dir == STUDIES_DIR:
        names = [n for n in list_studies() if (studies_dir / f"{n}.toml").is_file()]
    studies = sorted((load_study(studies_dir / f"{n}.toml") for n in names),
                     key=lambda s: (s.slice, s.name))  # fmt: skip
    return studies, folders


def _render_summary(results_root: Path, readme_dir: Path,
                    studies_dir: str | Path | None) -> str:  # fmt: skip
    """The README's short form: per results folder its status line (with the link to its full
    report) and its tables of means; then the studies not started yet, by name."""
    studies, folders = _studies_and_folders(results_root, studies_dir)
    lines = [START_SUMMARY,
             "<!-- Generated by `python benchmarks/results/render_readme.py` from "
             "benchmarks/results/*/. Do not edit by hand: rerun the script. -->", ""]  # fmt: skip
    if not folders:
        lines += ["No study results are committed yet.", ""]
    for f in folders:
        lines += _folder_section(f, readme_dir, detail="summary")[0]
    done = {f.name for f in folders}
    waiting = [st.name for st in studies if st.name not in done]
    if waiting:
        lines += ["Planned, not started yet: " + ", ".join(f"`{n}`" for n in waiting) + ".",
                  ""]  # fmt: skip
    lines.append(END)
    return "\n".join(lines)


def _marker(text: str, where: str) -> tuple[int, str]:
    """(position, level of detail) of the one start marker in ``text``."""
    found = [(text.find(m), d) for m, d in ((START, "full"), (START_SUMMARY, "summary"))
             if text.count(m) == 1]  # fmt: skip
    n_start = text.count(START) + text.count(START_SUMMARY)
    if n_start != 1 or len(found) != 1 or text.count(END) != 1 or found[0][0] > text.index(END):
        raise ValueError(f"{where}: needs exactly one {START} (or {START_SUMMARY}) ... {END} "
                         "pair")  # fmt: skip
    return found[0]


def update_readme(readme: str | Path, results_root: str | Path,
                  studies_dir: str | Path | None = None) -> tuple[str, bool]:  # fmt: skip
    """(new README text, changed?) with the section between the markers rebuilt, at the level
    of detail its start marker names."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    a, detail = _marker(text, str(readme))
    b = text.index(END) + len(END)
    new = text[:a] + render_section(results_root, readme.parent, studies_dir, detail) + text[b:]
    return new, new != text


__all__ = ["DETAILS", "END", "START", "START_SUMMARY", "render_section", "update_readme"]
