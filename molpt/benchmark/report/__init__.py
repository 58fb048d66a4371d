"""``molpt report RESULTS_DIR``: summary.csv, report.md and figures from results.csv.

Per dataset x split x featurizer x strategy x method: number of seeds (done / planned), mean
± std and t-based 95 % CI of the test metric at the best-validation epoch and at the last
epoch.  Gains are computed against each row's ``baseline`` (the random-init twin of the same
architecture; ``none`` in files without that column), paired by seed within the same
dataset/split/featurizer/strategy, and tested with the Wilcoxon signed-rank test
(Holm-corrected across datasets) and the paired t-test.  For metrics where lower is better
(RMSE) the gain is ``baseline - method``, so a positive gain is always an improvement.

When the folder holds a study (``study.toml``, see ``molpt.benchmark.studies``) or matches a
published setting, ``report.md`` sets molpt beside the paper per dataset and on the average
over exactly the datasets covered so far, and ``paper.csv`` holds that comparison.

One idea per module:

- :mod:`~molpt.benchmark.report.tables`: the summary per cell and method, dataset averages
- :mod:`~molpt.benchmark.report.verdicts`: gains over the baseline, tests and verdicts
- :mod:`~molpt.benchmark.report.progress`: planned vs finished seeds per cell
- :mod:`~molpt.benchmark.report.devices`: which device produced which rows
- :mod:`~molpt.benchmark.report.papers`: molpt beside the published values
- :mod:`~molpt.benchmark.report.format`: how numbers and tables are written
- :mod:`~molpt.benchmark.report.render`: the markdown of ``report.md``
- :mod:`~molpt.benchmark.report.write`: ``write_report``, which reads, derives and writes
"""

from molpt.benchmark.report.devices import device_labels, device_rows
from molpt.benchmark.report.format import PERCENT_METRICS
from molpt.benchmark.report.papers import paper_comparison
from molpt.benchmark.report.progress import CELL, planned_seeds, progress_frame
from molpt.benchmark.report.tables import (
    BASE_KEYS,
    MAYBE_KEYS,
    dataset_averages,
    group_keys,
    summarise,
    with_baselines,
)
from molpt.benchmark.report.verdicts import ALPHA, gains_table
from molpt.benchmark.report.write import ReportFiles, write_report

__all__ = [
    "ALPHA",
    "BASE_KEYS",
    "CELL",
    "MAYBE_KEYS",
    "PERCENT_METRICS",
    "ReportFiles",
    "dataset_averages",
    "device_labels",
    "device_rows",
    "gains_table",
    "group_keys",
    "paper_comparison",
    "planned_seeds",
    "progress_frame",
    "summarise",
    "with_baselines",
    "write_report",
]
