"""molpt: molecular GNN pretraining and benchmarking."""

from molpt._version import __version__


def load(path, device: str = "auto", pooling: str = "mean", checkpoint_dir=None):
    """Load a checkpoint for embedding molecules: ``molpt.load(p).embed(smiles)``.

    ``p`` is a molpt checkpoint file or a published encoder name such as
    ``hu2020/gcn_supervised_contextpred`` (see ``molpt checkpoints``).
    """
    from molpt.api import load as _load

    return _load(path, device=device, pooling=pooling, checkpoint_dir=checkpoint_dir)


def import_checkpoint(src, format: str = "hu2020", encoder=None, out=None, **kwargs):
    """Import a published encoder file as a molpt checkpoint ``OUT/checkpoint.pt``.

    Same meaning as ``molpt import-checkpoint SRC --format F --encoder E --out OUT``; returns
    the checkpoint's path.  See :func:`molpt.published.importers.import_checkpoint`.
    """
    from molpt.published.importers import import_checkpoint as _import

    return _import(src, format=format, encoder=encoder, out=out, **kwargs)


def load_model(path, device: str = "cpu", dataset=None, method=None, where=None):
    """Load a fine-tuned model folder (or a list: an ensemble) for prediction.

    ``molpt.load_model("runs/esol").predict(["CCO"])`` returns a pandas DataFrame (one row
    per SMILES: predictions, spread, optional interval, applicability domain, status).
    See :func:`molpt.predict.load_model`.
    """
    from molpt.predict import load_model as _load_model

    return _load_model(path, device=device, dataset=dataset, method=method, where=where)


#: the scikit-learn estimators (``molpt.sklearn``), imported on first use so that
#: ``import molpt`` does not import scikit-learn
_SKLEARN = ("MolptClassifier", "MolptEmbedder", "MolptRegressor")


def __getattr__(name: str):
    """``molpt.MolptClassifier`` etc.: the estimators of :mod:`molpt.sklearn`, lazily."""
    if name in _SKLEARN:
        from molpt import sklearn as _sk

        return getattr(_sk, name)
    raise AttributeError(f"module 'molpt' has no attribute {name!r}")


__all__ = ["MolptClassifier", "MolptEmbedder", "MolptRegressor", "__version__",
           "import_checkpoint", "load", "load_model"]  # fmt: skip
