"""Pretraining objectives, one module each, behind ``Objective`` and the ``OBJECTIVES`` registry."""

from molpt.objectives import (  # noqa: F401  (registration side effects)
    attrmask,
    contextpred,
    edgepred,
    graphcl,
    graphmae,
    infomax,
    supervised,
)
from molpt.objectives.base import OBJECTIVES, Objective, build_objective

__all__ = ["OBJECTIVES", "Objective", "build_objective"]
