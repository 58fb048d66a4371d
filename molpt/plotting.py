"""matplotlib set up for files (Agg backend, PNG), and the one figure lower layers draw: a
loss curve (a checkpoint's model card).  The benchmark's figures are in
:mod:`molpt.benchmark.plots`.  matplotlib is optional: it is imported on first use, so a
caller catches ``ImportError``."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_loss_curve(epochs: list[int], losses: list[float], ylabel: str, title: str,
                    path: str | Path) -> Path:  # fmt: skip
    """A pretraining loss curve (one point per epoch), written atomically."""
    from molpt.utils import atomic_output

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(epochs, losses, marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)


__all__ = ["plot_loss_curve", "pyplot"]
