"""``report.md`` from the derived tables: what was run, the main tables, gains and verdicts,
molpt against the paper, progress, devices and notes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molpt.benchmark.report.devices import cross_device_pairs, device_rows
from molpt.benchmark.report.format import (
    PERCENT_METRICS,
    fmt,
    metric_name,
    num,
    p_value,
    pm,
    seed_text,
    setting_label,
    table,
    these,
    yes_no,
)
from molpt.benchmark.report.papers import published_gain, setting_filter
from molpt.benchmark.report.progress import CELL
from molpt.benchmark.report.tables import with_baselines
from molpt.benchmark.report.verdicts import ALPHA
from molpt.benchmark.stats import min_wilcoxon_p
from molpt.data.catalogue import in_paper_order
from molpt.train.metrics import HIGHER_IS_BETTER


def _uniq(frame: pd.DataFrame, col: str) -> str:
    if col not in frame:
        return "–"
    vals = [str(v) for v in dict.fromkeys(frame[col].dropna().tolist())]
    return ", ".join(vals) if vals else "–"


@dataclass
class ReportContext:
    """Everything ``report.md`` is rendered from (gathered by ``write_report``)."""

    root: Path
    frame: pd.DataFrame
    summary: pd.DataFrame
    gains: pd.DataFrame
    averages: pd.DataFrame
    keys: list[str]
    setting_cols: list[str]
    grid: dict[str, Any]
    read_notes: list[str]
    pending_errors: list[dict]
    plots: list[Path]
    progress: pd.DataFrame
    paper: pd.DataFrame
    study: Any = None


def render(c: ReportContext) -> str:
    """The markdown of ``report.md``."""
    frame = c.frame
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    seeds = sorted(frame["seed"].astype(int).unique())
    title = f"# molpt benchmark report: study `{c.study.name}`" if c.study else \
        "# molpt benchmark report"
    lines = [title, "", f"`{c.root}` · generated {now}", ""]
    n_planned = int(c.progress["n_planned"].sum())
    n_done = int(c.progress["n_done"].sum())
    partial = n_done < n_planned
    if c.study is not None:
        st = c.study
        lines += ([f"**{st.title}**", ""] if st.title else []) + [
            f"- command: `{st.command}` (rerun it to continue; finished jobs are skipped)",
            f"- slice: {st.slice or '–'} · precision: {st.precision} · "
            f"planned: {', '.join(st.planned('datasets'))} × seeds "
            f"{seed_text(st.seeds())}",
        ]
        if st.description:
            lines.append(f"- {st.description}")
    status = (f"**PARTIAL: {n_done} of {n_planned} planned jobs finished** "
              f"({n_planned - n_done} still to run); means over fewer seeds than planned are "
              "marked *partial* and are not final." if partial
              else f"Complete: all {n_planned} planned jobs finished.")  # fmt: skip
    lines += [f"- status: {status}", ""]
    lines += _what_was_run(c, seeds)
    lines += _main_tables(c)
    lines += _gains_section(c)
    lines += _paper_section(c)
    lines += _progress_section(c)
    lines += _devices_section(c)
    lines += _notes_section(c, seeds)
    if c.plots:
        lines += ["## Figures", ""]
        for p in c.plots:
            lines += [f"![{p.stem}]({p.name})", ""]
    lines += ["Files: `results.csv` (one row per job), `summary.csv` (this table with p-values, "
              "planned seeds and the published value), `paper.csv` (molpt beside the paper), "
              "`jobs/<job_id>/metrics.json` and `predictions.csv`.", ""]  # fmt: skip
    return "\n".join(lines)


def _checkpoint_text(row: pd.Series) -> str:
    """A method's starting weights as a reader can trace them: a path relative to the
    project as written; a machine-local absolute path (the published-encoder cache, a
    scratch folder) by its file name and content hash instead, which is what identifies it
    on another machine."""
    path = str(row.get("checkpoint", "") or "")
    sha = row.get("checkpoint_sha256", "")
    sha = "" if pd.isna(sha) else str(sha)
    if path and not Path(path).is_absolute():
        return f"checkpoint `{path}`" + (f" (sha256 `{sha}`)" if sha else "")
    return f"checkpoint sha256 `{sha}`" if sha else f"checkpoint `{Path(path).name or '?'}`"


def _what_was_run(c: ReportContext, seeds: list[int]) -> list[str]:
    frame = c.frame
    methods = list(dict.fromkeys(frame["method"]))
    arch = []
    bl = with_baselines(frame)
    for m in methods:
        r = bl[bl["method"] == m].iloc[0]
        src = "random init" if r["is_baseline"] else _checkpoint_text(r)
        vs = "" if r["is_baseline"] else f", against `{r['baseline']}`"
        arch.append(f"`{m}` ({r['encoder']} {int(r['num_layers'])}×{int(r['hidden_dim'])}, "
                    f"{src}{vs})")  # fmt: skip
    devs = "; ".join(f"{d['device']} ({d['rows']} rows)" for d in device_rows(frame))
    return [
        "## What was run",
        "",
        f"- profile: {c.grid.get('profile', '–')}; {len(frame)} finished jobs"
        + (f", {len(c.pending_errors)} failed (see errors.jsonl)" if c.pending_errors else ""),
        f"- datasets: {_uniq(frame, 'dataset')}",
        f"- splits: {_uniq(frame, 'split')} · featurizers: {_uniq(frame, 'featurizer')} · "
        f"strategies: {_uniq(frame, 'strategy')}",
        f"- methods: {'; '.join(arch)}",
        f"- run seeds finished: {seed_text(seeds)} (seeded splits use the run seed; scaffold "
        "is deterministic)",
        f"- fine-tuning: {_uniq(frame, 'epochs')} epochs, batch {_uniq(frame, 'batch_size')}, "
        f"Adam lr {_uniq(frame, 'lr')}, dropout {_uniq(frame, 'dropout')}"
        + (f", first {_uniq(frame, 'limit')} molecules only" if frame["limit"].notna().any()
           else ""),  # fmt: skip
        f"- device: {devs} · molpt "
        f"{_uniq(frame, 'molpt_version')} · commit "
        f"{', '.join(c[:10] for c in frame['git_commit'].astype(str).unique())}",
        f"- compute: {pd.to_numeric(frame['seconds'], errors='coerce').sum() / 60:.1f} "
        "min of fine-tuning in total",
        "",
    ]


def _cell_n(r: dict[str, Any]) -> str:
    n, p = int(r["n_seeds"]), int(r.get("n_planned", r["n_seeds"]))
    return f"n={n}" if n >= p else f"n={n}/{p}, *partial*"


def _main_tables(c: ReportContext) -> list[str]:
    summary, keys = c.summary, c.keys
    lines = ["## Test metric at the best-validation epoch", "",
             "Mean ± std over seeds (n = finished seeds; n=7/10 means 7 of 10 planned seeds, "
             "a *partial* mean that is not final). ROC-AUC in %, higher is better; RMSE lower "
             "is better. `avg` is the mean over the datasets of that metric.",
             ""]  # fmt: skip
    datasets = in_paper_order(summary["dataset"])
    for k, sg in summary.groupby(c.setting_cols, sort=False, dropna=False):
        rec = dict(zip(c.setting_cols, k if isinstance(k, tuple) else (k,), strict=True))
        label = setting_label({**rec, "dataset": ""}, keys)
        ds = [d for d in datasets if d in set(sg["dataset"])]
        for col_m, col_s, title in (
            ("test_mean", "test_std", "at best valid"),
            ("last_mean", "last_std", "at the last epoch"),
        ):
            header = ["method"] + [
                f"{d} ({metric_name(str(sg[sg.dataset == d]['metric'].iloc[0]))})" for d in ds
            ]
            metrics_here = list(dict.fromkeys(sg["metric"]))
            if len(metrics_here) == 1:
                header.append(f"avg ({len(ds)} sets)")
            rows = []
            for m in dict.fromkeys(sg["method"]):
                mg = sg[sg["method"] == m].set_index("dataset")
                row = [f"`{m}`"]
                for d in ds:
                    if d in mg.index:
                        r = mg.loc[d]
                        row.append(f"{pm(r[col_m], r[col_s], r['metric'])} "
                                   f"({_cell_n(r.to_dict())})")  # fmt: skip
                    else:
                        row.append("–")
                if len(metrics_here) == 1:
                    avg = mg[col_m].mean(skipna=False) if len(mg) == len(ds) else float("nan")
                    txt = fmt(avg, metrics_here[0])
                    if txt != "–" and not bool(mg["complete"].all()):
                        txt += " (*partial*)"
                    row.append(txt)
                rows.append(row)
            lines += [f"**{label}** — test {title}", "", table(header, rows), ""]
    return lines


def _gains_section(c: ReportContext) -> list[str]:
    gains, keys, averages = c.gains, c.keys, c.averages
    lines = ["## Gain over no pretraining", ""]
    if gains.empty:
        return lines + ["No pretrained method in these results (only random-init baselines): "
                        "nothing to compare.", ""]  # fmt: skip
    lines += [
        "Gain = method − its baseline (the random-init twin of the same architecture, named "
        "in the `vs` column) on the test metric at best valid, paired by seed (for RMSE, "
        "baseline − method, so positive is always better); ROC-AUC in points. 95% CI from the "
        "t distribution. Wilcoxon signed-rank p (exact for small n), Holm-corrected across "
        f"datasets within each setting; verdict at α = {ALPHA} on the Holm-corrected Wilcoxon "
        "p. The paired t-test p is shown for reference.",
        "",
    ]
    prog = {tuple(str(r[k]) for k in CELL): r for r in c.progress.to_dict("records")}

    def n_text(r: dict[str, Any]) -> str:
        """Pairs, with '/planned, partial' while either side still has seeds to run."""
        planned = [prog.get((str(r["dataset"]), str(r["split"]), str(r["featurizer"]),
                             str(r["strategy"]), str(m))) for m in (r["method"], r["baseline"])]
        p = max([int(x["n_planned"]) for x in planned if x is not None] or [r["n_pairs"]])
        return str(r["n_pairs"]) if r["n_pairs"] >= p else f"{r['n_pairs']}/{p} *partial*"

    rows = []
    for r in gains.to_dict("records"):
        scale = 100 if r["metric"] in PERCENT_METRICS else 1
        ci = (f"[{r['ci_low'] * scale:+.2f}, {r['ci_high'] * scale:+.2f}]"
              if not math.isnan(r["ci_low"]) else "–")  # fmt: skip
        gain = "–" if num(r["gain"]) is None else f"{r['gain'] * scale:+.2f} {ci}"
        last = "–" if num(r["last_gain"]) is None else f"{r['last_gain'] * scale:+.2f}"
        rows.append([
            setting_label(r, keys), r["dataset"], f"`{r['method']}`", f"`{r['baseline']}`",
            n_text(r), gain, last,
            p_value(r["p_wilcoxon"]), p_value(r["p_wilcoxon_holm"]), p_value(r["p_ttest"]),
            f"**{r['verdict']}**" if r["verdict"].startswith("significant") else r["verdict"],
        ])  # fmt: skip
    lines += [
        table(["setting", "dataset", "method", "vs", "n", "gain [95% CI]",
                "gain (last epoch)", "Wilcoxon p", "Holm p", "t-test p", "verdict"], rows),
        "",
    ]  # fmt: skip
    mixed = cross_device_pairs(c.frame, gains)
    if mixed:
        lines += [
            f"Across devices: {'; '.join(mixed)}. These methods' rows and their baselines' "
            "were fine-tuned on different kinds of device. A seed does not give the same "
            "numbers on a CPU and a GPU (dropout, for one, draws from each device's own "
            "generator), so the pairing by seed removes less of the noise, and a systematic "
            "difference between the devices would read as a gain: run some of the same jobs "
            "on the baseline's device to tell.",
            "",
        ]
    base_of = {r["method"]: r["baseline"] for r in gains.to_dict("records")}
    avg_rows = []
    for r in averages.to_dict("records"):
        b_name = base_of.get(r["method"])
        if b_name is None:
            continue
        # the baseline over exactly the datasets this method has a mean on: a method with
        # one set finished is set beside the baseline on that set, not on all of them
        cell = setting_filter(c.summary, r, c.setting_cols)
        cell = cell[(cell["metric"] == r["metric"]) & cell["test_mean"].notna()]
        sets = set(cell.loc[cell["method"] == r["method"], "dataset"])
        base = cell[(cell["method"] == b_name) & cell["dataset"].isin(sets)]
        if not sets or base["dataset"].nunique() < len(sets):
            continue
        b_mean = base["test_mean"].mean()
        scale = 100 if r["metric"] in PERCENT_METRICS else 1
        sign = 1 if HIGHER_IS_BETTER.get(r["metric"], True) else -1
        avg_rows.append([
            setting_label({**r, "dataset": ""}, keys), f"`{r['method']}`", f"`{b_name}`",
            metric_name(r["metric"]), str(len(sets)),
            fmt(b_mean, r["metric"]), fmt(r["test_mean"], r["metric"]),
            f"{sign * (r['test_mean'] - b_mean) * scale:+.2f}",
            published_gain(r, b_name, c.summary, c.setting_cols),
        ])  # fmt: skip
    if avg_rows:
        lines += ["Average over datasets (each method over the datasets it has finished "
                  "rows on, beside its baseline over the same datasets):", "",
                  table(["setting", "method", "vs", "metric", "datasets", "baseline",
                          "method", "gain", "published gain (same sets)"], avg_rows),
                  ""]  # fmt: skip
    return lines


def _paper_section(c: ReportContext) -> list[str]:
    paper = c.paper
    lines = ["## Against the paper", ""]
    if paper.empty:
        return lines + ["No run here matches a published setting (full fine-tuning, ROC-AUC, "
                        "scaffold/balanced_scaffold, basic/rich, a method family with a "
                        "published row: `none`, attrmask, contextpred, supervised_contextpred).",
                        ""]  # fmt: skip
    lines += [
        "molpt's mean ± std over finished seeds, its t-based 95% CI over seeds, and the "
        "published mean (10 seeds, 100 epochs; Hu et al. pretrained on ZINC15 2M). "
        "Δ = molpt − published. The `avg` row covers exactly the datasets listed in it and "
        "sets them beside the paper's values averaged over the *same* datasets; the paper's own "
        "8-set average is quoted separately and is only compared once all 8 sets are covered. "
        "Rows with fewer seeds than planned are *partial*.",
        "",
    ]
    groups = paper.groupby(c.setting_cols + ["method", "reference"], sort=False, dropna=False)
    outside = []
    for _, g in groups:
        r0 = g.iloc[0]
        label = setting_label({**r0.to_dict(), "dataset": ""}, c.keys)
        rows = []
        for r in g.to_dict("records"):
            n = f"{r['n_done']}/{r['n_planned']}" + ("" if r["complete"] else " *partial*")
            if r["kind"] == "dataset":
                name = r["dataset"]
                pub = (f"{r['published']:.1f}" if r["published"] is not None
                       and r["published"] == r["published"] else  # noqa: PLR0124
                       "– (only an average is published)")  # fmt: skip
            else:
                ds = r["dataset"].split("+")
                p_avg = num(r.get("paper_average"))
                p_over = int(num(r.get("paper_average_over")) or 0)
                name = (f"**avg over the paper's {len(ds)} sets**"
                        if p_avg is not None and len(ds) == p_over
                        else f"**avg over {these(len(ds))}** ({', '.join(ds)})")  # fmt: skip
                if num(r["published"]) is not None:
                    pub = f"{r['published']:.1f}"
                    if p_avg is not None and len(ds) != p_over:
                        pub += (f" (published avg over {these(len(ds))}; the paper's "
                                f"{p_over}-set avg is {p_avg:.1f})")  # fmt: skip
                elif p_avg is not None:
                    pub = (f"– (the paper publishes only its {p_over}-set avg, {p_avg:.1f}: "
                           f"not comparable until all {p_over} sets are covered)")  # fmt: skip
                else:
                    pub = "–"
                if (num(r.get("n_sets_planned")) or 0) > len(ds):
                    n += f"; {len(ds)} of {int(r['n_sets_planned'])} planned sets"
            ci = (f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
                  if not math.isnan(r["ci_low"]) else "–")  # fmt: skip
            delta = f"{r['delta']:+.1f}" if r["delta"] == r["delta"] else "–"
            inside = yes_no(r["inside_ci"]) if r["delta"] == r["delta"] else "–"
            mean = f"{r['molpt_mean']:.1f}" + (f" ± {r['molpt_std']:.1f}"
                                                if r["molpt_std"] == r["molpt_std"] else "")
            rows.append([name, n, mean, ci, pub, delta, inside])
            if r["inside_ci"] is False:
                outside.append(r)
        ver = "" if r0["verified"] else " — published values unverified (PROTOCOL.md)"
        lines += [f"**{label}, `{r0['method']}`** vs {r0['reference']}{ver}", "",
                  table(["dataset", "seeds done", "molpt mean ± std", "molpt 95% CI",
                          "published", "Δ", "published inside CI?"], rows), ""]  # fmt: skip
    if outside:
        lines += ["What is known to differ where the published value lies outside molpt's CI:",
                  ""]  # fmt: skip
        for r in outside:
            why = r.get("known_difference") or (
                "not yet explained (the study file's [known_differences] can say what differs: "
                "data files, RDKit version, feature details)")
            if r["kind"] == "average":
                why = "see the per-dataset lines"
            part = "" if r["complete"] else f" (partial: {r['n_done']}/{r['n_planned']} seeds)"
            lines.append(f"- {r['dataset']} · `{r['method']}` vs {r['source']}: published "
                         f"{r['published']:.1f} outside [{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
                         f"{part}: {why}")  # fmt: skip
        lines.append("")
    return lines


def _progress_section(c: ReportContext) -> list[str]:
    p = c.progress
    if p.empty:
        return []
    lines = ["## Progress (finished / planned seeds per cell)", ""]
    for k, g in p.groupby(["split", "featurizer", "strategy"], sort=False):
        ds = in_paper_order(g["dataset"])
        rows = []
        for m in dict.fromkeys(g["method"]):
            gm = g[g["method"] == m].set_index("dataset")
            cells = []
            for d in ds:
                if d not in gm.index:
                    cells.append("–")
                    continue
                r = gm.loc[d]
                cells.append(f"{r['n_done']}/{r['n_planned']}"
                             + ("" if r["complete"] else " (running or to do)"))  # fmt: skip
            rows.append([f"`{m}`"] + cells)
        lines += [f"**{', '.join(map(str, k))}**", "", table(["method"] + ds, rows), ""]
    todo = int((p["n_planned"] - p["n_done"]).sum())
    lines += [(f"{todo} planned job(s) not finished yet." if todo else
               "Every planned job is finished."), ""]  # fmt: skip
    return lines


def _devices_section(c: ReportContext) -> list[str]:
    rows = [[d["device"], str(d["rows"]), ", ".join(d["commits"]), ", ".join(d["versions"]),
             ", ".join(d["precisions"]), f"{d['minutes']:.1f}",
             ", ".join(f"`{m}`" for m in d["methods"]),
             f"{d['first']} … {d['last']}"] for d in device_rows(c.frame)]  # fmt: skip
    return ["## Where the rows came from", "",
            "Rows from several machines merge into one `results.csv`; each row keeps the device "
            "and the git commit that produced it.", "",
            table(["device", "rows", "commit(s)", "molpt", "precision", "fine-tuning min",
                    "methods", "time range"], rows), ""]  # fmt: skip


def _off_study_notes(frame: pd.DataFrame, study) -> list[str]:
    """Rows whose training settings differ from the study's (e.g. a smoke run with
    ``--epochs 1`` into the same folder): they count as done but are not the study's."""
    from molpt.benchmark.grid import get_profile

    profile = get_profile(study.profile)
    out = []
    for key in ("epochs", "batch_size", "lr", "dropout", "limit", "num_layers", "hidden_dim"):
        if key not in frame:
            continue
        want = study.grid.get(key, getattr(profile, key))
        if key in ("num_layers", "hidden_dim") and study.checkpoints:
            continue  # the checkpoints' architecture decides
        got = pd.to_numeric(frame[key], errors="coerce")
        off = got.notna() if want is None else ~np.isclose(got.fillna(-1.0), float(want))
        if off.any():
            vals = ", ".join(str(v) for v in dict.fromkeys(frame.loc[off, key].tolist()))
            out.append(f"{int(off.sum())} row(s) have {key} = {vals} instead of the study's "
                       f"{'all molecules' if want is None else want}: they are counted as "
                       "done here but are not the study's protocol.")  # fmt: skip
    return out


def _notes_section(c: ReportContext, seeds: list[int]) -> list[str]:
    frame, summary = c.frame, c.summary
    notes = []
    n_min = int(summary["n_seeds"].min())
    if n_min < 6:
        notes.append(
            f"Only {n_min} seed(s) per cell: the exact two-sided Wilcoxon signed-rank test "
            f"cannot reach p < 0.05 with fewer than 6 pairs (smallest possible p with "
            f"{n_min} is {min_wilcoxon_p(n_min):.3f}), so no verdict can be 'significant'. "
            "Use --seeds 0-9 for a real test."
        )
    ep = pd.to_numeric(frame["epochs"], errors="coerce")
    if (ep < 100).any() or frame["limit"].notna().any() or len(seeds) < 10:
        notes.append(
            "Fewer epochs, seeds or molecules than the papers' protocol (100 epochs, 10 "
            "seeds, full datasets): these numbers are a smoke test and NOT comparable to "
            "the published ones."
        )
    if c.grid.get("pretrain"):
        p = c.grid["pretrain"]
        notes.append(
            f"The pretrained checkpoint was made by this run: {p.get('objective')} on "
            f"{p.get('limit') or 'all'} molecules of {p.get('data')} for {p.get('epochs')} "
            "epoch(s), far less than Hu et al.'s 2M ZINC molecules x 100 epochs."
        )
    skipped = summary[summary["tasks_skipped"] > 0]
    for r in skipped.drop_duplicates(["dataset", "split"]).to_dict("records"):
        notes.append(
            f"{r['dataset']} / {r['split']}: on average {r['tasks_skipped']:.1f} task(s) were "
            "not scored on the test part (only one class present)."
        )
    if "scaffold" in set(frame["split"]) and "balanced_scaffold" in set(frame["split"]):
        notes.append(
            "Balanced scaffold splits are typically several points easier than the "
            "deterministic scaffold split (Sun et al. 2022): compare methods within a split."
        )
    if c.study is not None:
        notes += _off_study_notes(frame, c.study)
        notes += c.study.notes
    notes += c.read_notes
    for e in c.pending_errors[:10]:
        notes.append(f"failed: {e.get('job')} — {e.get('error')}")
    return ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
