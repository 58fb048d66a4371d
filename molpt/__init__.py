"""molpt: molecular GNN pretraining and benchmarking."""

__version__ = "0.1.0"


def load(path, device: str = "auto", pooling: str = "mean"):
    """Load a checkpoint for embedding molecules: ``molpt.load(p).embed(smiles)``."""
    from molpt.api import load as _load

    return _load(path, device=device, pooling=pooling)


__all__ = ["__version__", "load"]
