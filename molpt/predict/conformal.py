"""Split-conformal regression intervals from the residuals a model folder stores.

At fine-tuning time the sorted absolute residuals |y - ŷ| of the validation part (at the
best-valid epoch, original units) are saved per task.  For a level L (e.g. 0.9) the
half-width is the ``ceil((n + 1) L)``-th smallest of the n residuals; an interval
``ŷ ± q`` then covers a new molecule's label with probability at least L when the new
molecule is exchangeable with the validation part (no guarantee far from the training data:
read ``in_domain`` beside it).  With too few residuals for L the interval is unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def conformal_halfwidth(residuals: Sequence[float], level: float) -> float:
    """The split-conformal half-width at ``level`` from sorted absolute residuals.

    Returns ``inf`` when ``ceil((n + 1) level) > n`` (too few residuals for the level).
    """
    if not 0 < level < 1:
        raise ValueError(f"the interval level must be between 0 and 1, got {level}")
    n = len(residuals)
    k = math.ceil((n + 1) * level)
    if n == 0 or k > n:
        return math.inf
    return float(sorted(residuals)[k - 1])


__all__ = ["conformal_halfwidth"]
