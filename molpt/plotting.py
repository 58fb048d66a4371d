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
                    path: str | Path,
                    probe: dict[str, list[tuple[int, float]]] | None = None,
                    probe_label: str = "probe test ROC-AUC") -> Path:  # fmt: skip
    """A pretraining loss curve (one point per epoch), written atomically; with ``probe``
    (series name -> [(epoch, score)]) a second panel beside it draws the linear probe's
    score per dataset at the epochs it was measured (epoch 0 = random init)."""
    from molpt.utils import atomic_output

    plt = pyplot()
    if probe:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.2))
    else:
        fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(epochs, losses, marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if probe:
        for name, pts in probe.items():
            xs, ys = zip(*sorted(pts), strict=True)
            bx.plot(xs, ys, marker="o", ms=3, label=name,
                    lw=2.5 if name == "mean" else 1)  # fmt: skip
        bx.set_xlabel("epoch (0 = random init)")
        bx.set_ylabel(probe_label)
        bx.set_title("linear probe, scaffold split")
        bx.legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)


__all__ = ["plot_loss_curve", "pyplot"]
