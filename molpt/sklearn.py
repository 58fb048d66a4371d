"""scikit-learn estimators over molpt: ``MolptEmbedder``, ``MolptClassifier``, ``MolptRegressor``.

They are a thin face over molpt's own pieces, not a second training loop:

* :class:`MolptEmbedder` (a transformer): SMILES -> pooled graph embeddings from a checkpoint
  file, a published encoder name (``hu2020/gcn_supervised_contextpred``) or, with
  ``checkpoint=None``, a randomly initialised encoder (the baseline every pretrained encoder
  should beat).  ``fit`` only loads the encoder; ``transform`` is ``molpt.load(...).embed``.
* :class:`MolptClassifier` / :class:`MolptRegressor`: ``fit`` is ``molpt finetune`` (the
  parameters are its options under the same names and defaults) on the given SMILES and
  labels, ``n_models`` seeds trained as one fused group (``finetune_group``); the fitted
  model folders are then read by ``molpt.load_model`` and every prediction goes through its
  ``Predictor`` (ensemble mean, spread, conformal intervals, applicability domain).

Input ``X`` is one SMILES per sample: a list, a 1-D array, a pandas Series (or a one-column
DataFrame / (n, 1) array, as a ``ColumnTransformer`` passes it).  ``y`` is 1-D (one task) or
2-D (several tasks; NaN = a missing label, never a class).

Best-epoch selection: ``fit`` splits the training data once (``split``: ``scaffold`` or
``random``, seeded by ``random_state``) into a fitting part and a validation part of
``validation_fraction``; each epoch is scored on the validation part and the model of the
best epoch is kept (regression: its validation residuals are the conformal calibration set).
There is no test part: hold out your own test data (``cross_val_score``, ``train_test_split``).

The parameters of ``MolptClassifier`` and ``MolptRegressor``, first ``molpt finetune``'s
options under the same names and defaults:

* ``checkpoint``: a pretrained checkpoint file or published encoder name (``molpt
  checkpoints``); None = no pretraining (``encoder``, ``num_layers``, ``hidden_dim`` then
  shape the model).
* ``featurizer``: None = the checkpoint's, or ``basic``.
* ``strategy`` (``full``, ``linear``, ``two-stage``), ``stage1_epochs``, ``epochs``,
  ``batch_size``, ``lr``, ``weight_decay``, ``dropout``, ``bf16``, ``device``: as in
  ``molpt finetune``.

then the estimator's own:

* ``split`` (``scaffold`` or ``random``) and ``validation_fraction`` (0.1): the internal
  validation part described above.
* ``n_models``: an ensemble of this many seeds (``random_state``, +1, ...), trained as one
  fused group; predictions are their mean, ``return_std`` gives their spread.
* ``random_state``: seeds the split, the initialisation and the batch order (None = drawn
  from numpy's global generator).
* ``model_dir``: also keep the model folders on disk as ``model_dir/model_<k>`` (for
  ``molpt predict --model``); None = a temporary folder removed at the end of ``fit``.
* ``checkpoint_dir``: where published encoders are looked up; ``verbose``: the fine-tuning
  progress bar.

Fitted attributes: ``model_files_`` (per member, its model folder's files: name -> bytes),
``model_dirs_`` (the folders under ``model_dir``, else None), ``task_names_``, ``n_tasks_``,
``featurizer_``, ``fit_results_`` (per member: seed, best epoch, best validation score,
sizes) and, for the classifier, ``classes_``.  ``n_features_in_`` is not set: the input is
strings, not a feature matrix.

Fitted state lives in memory: ``model_files_`` holds each model folder's bytes (manifest,
weights, training fingerprints), so a pickled fitted estimator predicts exactly as before
wherever it is unpickled; ``model_dir`` additionally keeps the folders on disk for
``molpt predict --model``.

>>> from molpt.sklearn import MolptRegressor
>>> reg = MolptRegressor("hu2020/gin_supervised_contextpred", epochs=30, n_models=3)
>>> reg.fit(train_smiles, train_logs).predict(test_smiles, return_std=True)
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    RegressorMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted

#: split methods of the internal validation split
SPLITS = ("scaffold", "random")


def smiles_array(X: Any) -> list[str]:
    """One SMILES per sample from a list, 1-D array, Series, or one-column frame / (n, 1) array.

    Raises:
        TypeError: a single string, or a sample that is not a string.
        ValueError: more than one column, or no sample.
    """
    if isinstance(X, (str, bytes)):
        raise TypeError("X must be a sequence of SMILES strings (one per sample), not one string")
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(f"X must have one column of SMILES, got {X.shape[1]} columns")
        X = X.iloc[:, 0]
    arr = np.asarray(X, dtype=object)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"X must be 1-D: one SMILES per sample, got shape {arr.shape}")
    if len(arr) == 0:
        raise ValueError("Found array with 0 sample(s) (shape=(0,)) while a minimum of 1 is "
                         "required.")  # fmt: skip
    for i, s in enumerate(arr):
        if not isinstance(s, str):
            raise TypeError(f"X must hold SMILES strings; sample {i} is a {type(s).__name__} "
                            f"({str(s)[:40]!r})")  # fmt: skip
    return [str(s) for s in arr]


def _string_input_tags(tags: Any) -> Any:
    tags.input_tags.string = True
    tags.input_tags.one_d_array = True
    tags.input_tags.two_d_array = False
    return tags


def _seed(random_state: Any) -> int:
    """An int seed from ``random_state`` (int as is; None or a RandomState: drawn from it)."""
    if random_state is None or isinstance(random_state, np.random.RandomState):
        from sklearn.utils import check_random_state

        return int(check_random_state(random_state).randint(0, 2**31 - 1 - 1000))
    return int(random_state)


# ------------------------------------------------------------------------------------------
# embeddings
# ------------------------------------------------------------------------------------------
class MolptEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """SMILES -> graph embeddings (n_samples, hidden_dim) from a molpt encoder.

    Parameters:
        checkpoint: a molpt checkpoint file, a published encoder name (``molpt
            checkpoints``) or None: a randomly initialised encoder built from
            ``featurizer``, ``encoder``, ``num_layers`` and ``hidden_dim`` (ignored with a
            checkpoint, which brings its own) and seeded by ``random_state``.
        pooling: graph pooling of the node embeddings: ``mean``, ``sum`` or ``max``.
        batch_size: molecules per forward pass.
        device: ``auto``, ``cpu`` or ``cuda``.
        checkpoint_dir: where published encoders are looked up (default
            ``$MOLPT_CHECKPOINTS``).

    Fitted attributes:
        encoder_config_: the encoder's configuration; encoder_state_: its weights (CPU);
        featurizer_: the featurizer it reads; n_features_out_: the embedding size.

    An invalid SMILES in ``transform`` raises ``InvalidSmilesError`` (a ValueError) naming
    its row.
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        *,
        pooling: str = "mean",
        featurizer: str = "basic",
        encoder: str = "gin",
        num_layers: int = 5,
        hidden_dim: int = 300,
        batch_size: int = 512,
        device: str = "auto",
        checkpoint_dir: str | Path | None = None,
        random_state: int | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        self.pooling = pooling
        self.featurizer = featurizer
        self.encoder = encoder
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.batch_size = batch_size
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> MolptEmbedder:
        """Load (or initialise) the encoder; ``X`` is only checked, nothing is learnt."""
        from molpt.nn.encoder import Encoder

        smiles_array(X)
        if self.pooling not in ("mean", "sum", "max"):
            raise ValueError(f"pooling must be mean, sum or max, got {self.pooling!r}")
        if self.checkpoint is not None:
            from molpt.published.resolve import resolve_checkpoint
            from molpt.train.checkpoint import load_encoder

            path = resolve_checkpoint(self.checkpoint, self.checkpoint_dir, progress=False)
            enc, ckpt = load_encoder(path, map_location="cpu")
            featurizer = ckpt["featurizer"]["name"]
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_seed(self.random_state))
                enc = Encoder(featurizer=self.featurizer, conv=self.encoder,
                              num_layers=self.num_layers, hidden_dim=self.hidden_dim)  # fmt: skip
            featurizer = self.featurizer
        self.encoder_config_ = dict(enc.config)
        self.encoder_state_ = {k: v.detach().cpu().clone() for k, v in enc.state_dict().items()}
        self.featurizer_ = featurizer
        self.n_features_out_ = int(enc.out_dim)
        self._built_cache = None
        return self

    @property
    def _n_features_out(self) -> int:
        return self.n_features_out_

    def _built(self) -> tuple[torch.nn.Module, torch.nn.Module, torch.device]:
        from molpt.nn.encoder import Encoder
        from molpt.nn.pooling import POOLINGS
        from molpt.train.device import resolve_device

        check_is_fitted(self, "encoder_state_")
        if getattr(self, "_modules", None) is None:
            device = resolve_device(self.device)
            enc = Encoder(**self.encoder_config_)
            enc.load_state_dict(self.encoder_state_)
            pool = POOLINGS.get(self.pooling)(enc.out_dim)
            self._built_cache = (enc.to(device).eval(), pool.to(device).eval(), device)
        return self._built_cache

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings of the SMILES ``X``: a float32 array (n_samples, n_features_out_)."""
        from molpt.api import embed_smiles

        enc, pool, device = self._built()
        out, _ = embed_smiles(enc, pool, self.featurizer_, smiles_array(X), device,
                              self.batch_size, on_invalid="raise")  # fmt: skip
        return out.numpy()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_built_cache", None)  # rebuilt from encoder_state_ on first use
        return state

    def __sklearn_tags__(self) -> Any:
        tags = _string_input_tags(super().__sklearn_tags__())
        tags.requires_fit = True
        return tags


# ------------------------------------------------------------------------------------------
# fine-tuned models
# ------------------------------------------------------------------------------------------
class _MolptFinetuned(BaseEstimator):
    """What the classifier and the regressor share: fit = fine-tune, predict = Predictor.

    The parameters and fitted attributes are listed in the module docstring.
    """

    _task_type = ""

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        *,
        featurizer: str | None = None,
        strategy: str = "full",
        epochs: int = 100,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        dropout: float = 0.5,
        encoder: str = "gin",
        num_layers: int = 5,
        hidden_dim: int = 300,
        stage1_epochs: int | None = None,
        bf16: bool = False,
        device: str = "auto",
        split: str = "scaffold",
        validation_fraction: float = 0.1,
        n_models: int = 1,
        random_state: int | None = None,
        model_dir: str | Path | None = None,
        checkpoint_dir: str | Path | None = None,
        verbose: bool = False,
    ) -> None:
        self.checkpoint = checkpoint
        self.featurizer = featurizer
        self.strategy = strategy
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.encoder = encoder
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.stage1_epochs = stage1_epochs
        self.bf16 = bf16
        self.device = device
        self.split = split
        self.validation_fraction = validation_fraction
        self.n_models = n_models
        self.random_state = random_state
        self.model_dir = model_dir
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose

    # ---- targets (the subclasses) ---------------------------------------------------------
    def _encode_targets(self, y: Any, n: int) -> np.ndarray:
        """(n, T) float32 labels (NaN = missing); sets the target attributes."""
        raise NotImplementedError

    @staticmethod
    def _target_array(y: Any, n: int) -> tuple[np.ndarray, list[str] | None]:
        names = None
        if isinstance(y, pd.DataFrame):
            names = [str(c) for c in y.columns]
        elif isinstance(y, pd.Series) and y.name is not None:
            names = [str(y.name)]
        arr = np.asarray(y, dtype=object if not isinstance(y, np.ndarray) else None)
        if arr.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {arr.shape}")
        if arr.shape[0] != n:
            raise ValueError(f"X has {n} samples but y has {arr.shape[0]}")
        if arr.ndim == 2 and arr.shape[1] == 0:
            raise ValueError("y has no column")
        width = 1 if arr.ndim == 1 else arr.shape[1]
        if names is None or len(set(names)) != width or "smiles" in names or len(names) != width:
            names = ["y"] if arr.ndim == 1 else [f"task_{i}" for i in range(width)]
        return arr, names

    # ---- fit ------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if not 0 < float(self.validation_fraction) < 1:
            raise ValueError("validation_fraction must be in (0, 1), got "
                             f"{self.validation_fraction}")  # fmt: skip
        if int(self.n_models) < 1:
            raise ValueError(f"n_models must be at least 1, got {self.n_models}")

    def fit(self, X: Any, y: Any) -> _MolptFinetuned:
        """Fine-tune ``n_models`` seeds on SMILES ``X`` and labels ``y`` (NaN = missing)."""
        from molpt.data import load_dataset
        from molpt.predict import load_model
        from molpt.train.checkpoint import load_checkpoint
        from molpt.train.finetune import FinetuneConfig, finetune_group
        from molpt.train.model_folder import MODEL_FILES

        self._check_params()
        smiles = smiles_array(X)
        Y = self._encode_targets(y, len(smiles))
        seed = _seed(self.random_state)
        ckpt = None
        if self.checkpoint is not None:
            from molpt.published.resolve import resolve_checkpoint

            ckpt = resolve_checkpoint(self.checkpoint, self.checkpoint_dir, progress=self.verbose)
        featurizer = self.featurizer or (
            load_checkpoint(ckpt)["featurizer"]["name"] if ckpt else "basic")
        vf = float(self.validation_fraction)
        with _work_dir() as work:
            root = Path(self.model_dir) if self.model_dir is not None else work / "models"
            outs = [root / f"model_{k}" for k in range(int(self.n_models))]
            csv = work / "train.csv"
            table = {"smiles": smiles, **{t: Y[:, i] for i, t in enumerate(self.task_names_)}}
            pd.DataFrame(table).to_csv(csv, index=False)
            ds = load_dataset(csv, featurizer=featurizer, smiles_col="smiles",
                              task_cols=self.task_names_, task_type=self._task_type,
                              report_dir=work, cache_dir=work / "cache")  # fmt: skip
            if ds.report.num_invalid:
                f = ds.report.failed[0]
                warnings.warn(f"{ds.report.num_invalid} of {len(smiles)} training SMILES could "
                              f"not be read and were left out (first: sample {f.row}, "
                              f"{f.reason})", stacklevel=2)  # fmt: skip
            cfgs = [
                FinetuneConfig(
                    csv=str(csv), smiles_col="smiles", tasks=list(self.task_names_),
                    task_type=self._task_type, checkpoint=str(ckpt) if ckpt else None,
                    featurizer=featurizer, split=self.split, split_seed=seed, seed=seed + k,
                    split_frac=(1.0 - vf, vf, 0.0), strategy=self.strategy,
                    epochs=int(self.epochs), batch_size=int(self.batch_size), lr=float(self.lr),
                    weight_decay=float(self.weight_decay), dropout=float(self.dropout),
                    encoder=self.encoder, num_layers=int(self.num_layers),
                    hidden_dim=int(self.hidden_dim), stage1_epochs=self.stage1_epochs,
                    bf16=bool(self.bf16), device=self.device, out=str(out), overwrite=True,
                )
                for k, out in enumerate(outs)
            ]  # fmt: skip
            results = finetune_group(cfgs, dataset=ds, progress=bool(self.verbose))
            self.model_files_ = [{name: (out / name).read_bytes() for name in MODEL_FILES}
                                 for out in outs]  # fmt: skip
            self._predictor = load_model(outs, device=self._predict_device())
        self.model_dirs_ = list(outs) if self.model_dir is not None else None
        self.featurizer_ = featurizer
        self.fit_results_ = [
            {k: r.get(k) for k in ("seed", "metric", "best_epoch", "best_valid", "n_train",
                                   "n_valid", "seconds")} | {"seed": c.seed}
            for r, c in zip(results, cfgs, strict=True)
        ]  # fmt: skip
        return self

    # ---- predict --------------------------------------------------------------------------
    def _predict_device(self) -> str:
        from molpt.train.device import resolve_device

        return str(resolve_device(self.device))

    @property
    def predictor_(self) -> Any:
        """The fitted models as a ``molpt.predict.Predictor`` (the full prediction table:
        ``predictor_.predict(smiles, interval=0.9)`` adds intervals and domain columns)."""
        from molpt.predict import load_model

        check_is_fitted(self, "model_files_")
        if getattr(self, "_predictor", None) is None:
            with tempfile.TemporaryDirectory(prefix="molpt-sklearn-") as tmp:
                dirs = []
                for k, files in enumerate(self.model_files_):
                    d = Path(tmp) / f"model_{k}"
                    d.mkdir()
                    for name, data in files.items():
                        (d / name).write_bytes(data)
                    dirs.append(d)
                self._predictor = load_model(dirs, device=self._predict_device())
        return self._predictor

    def predict_frame(self, X: Any, interval: float | None = None) -> pd.DataFrame:
        """molpt's prediction table for ``X`` (see ``molpt.predict.Predictor.predict``):
        per task the mean and ``_std`` (and ``_lower`` / ``_upper`` with ``interval``,
        regression), then ``nn_similarity``, ``in_domain`` and the nearest training SMILES.

        Invalid SMILES raise ``InvalidInputRow`` (a ValueError) naming the row.
        """
        return self.predictor_.predict(smiles_array(X), interval=interval, on_invalid="fail")

    def _mean_std(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        df = self.predict_frame(X)
        names = self.task_names_
        mean = df[names].to_numpy(dtype=np.float64)
        std = df[[f"{t}_std" for t in names]].to_numpy(dtype=np.float64)
        return mean, std

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_predictor", None)  # rebuilt from model_files_ on first use
        return state

    def __sklearn_tags__(self) -> Any:
        tags = _string_input_tags(super().__sklearn_tags__())
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


@contextlib.contextmanager
def _work_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="molpt-sklearn-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


class MolptClassifier(ClassifierMixin, _MolptFinetuned):
    """Binary (or multi-task 0/1) classification by fine-tuning a molpt model on SMILES.

    ``y`` 1-D: two classes of any labels (``classes_``), NaN = missing; ``predict_proba``
    returns (n_samples, 2).  ``y`` 2-D: one 0/1 column per task (NaN = missing label);
    ``classes_`` is a list of ``[0, 1]`` per task, ``predict`` returns (n_samples, n_tasks)
    0/1 and ``predict_proba`` (n_samples, n_tasks) probabilities of class 1.  The
    probability is the ensemble members' mean; ``return_std=True`` adds their standard
    deviation.  The parameters are described in the module docstring.
    """

    _task_type = "classification"

    def _encode_targets(self, y: Any, n: int) -> np.ndarray:
        arr, names = self._target_array(y, n)
        if arr.ndim == 1:
            present = ~pd.isna(arr)
            classes = np.unique(arr[present])
            if len(classes) != 2:
                raise ValueError(f"MolptClassifier needs exactly two classes in a 1-D y, got "
                                 f"{len(classes)}: {classes[:10].tolist()} (several 0/1 tasks "
                                 "go in a 2-D y)")  # fmt: skip
            Y = np.full((n, 1), np.nan, dtype=np.float32)
            Y[present, 0] = arr[present] == classes[1]
            self.classes_ = classes
        else:
            Y = pd.DataFrame(arr).apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
            ok = np.isnan(Y) | (Y == 0) | (Y == 1)
            if not ok.all() or (pd.isna(arr) != np.isnan(Y)).any():
                raise ValueError("a 2-D y holds one 0/1 column per task (NaN = missing label)")
            self.classes_ = [np.array([0, 1]) for _ in range(Y.shape[1])]
        self.task_names_ = names
        self.n_tasks_ = Y.shape[1]
        return Y

    def _multi(self) -> bool:
        return isinstance(self.classes_, list)

    def predict_proba(self, X: Any, return_std: bool = False) -> Any:
        """Probabilities: (n, 2) for a 1-D y, (n, n_tasks) of class 1 for a 2-D y; with
        ``return_std`` also the members' standard deviation of class 1 ((n,) / (n, T))."""
        check_is_fitted(self, "model_files_")
        p, s = self._mean_std(X)
        if not self._multi():
            p, s = np.column_stack([1.0 - p[:, 0], p[:, 0]]), s[:, 0]
        return (p, s) if return_std else p

    def predict(self, X: Any) -> np.ndarray:
        """Class labels: the class whose probability is at least 0.5."""
        p = self.predict_proba(X)
        if self._multi():
            return (p >= 0.5).astype(np.int64)
        return self.classes_[(p[:, 1] >= 0.5).astype(np.int64)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        return tags


class MolptRegressor(RegressorMixin, _MolptFinetuned):
    """Regression by fine-tuning a molpt model on SMILES (targets standardised internally).

    ``y`` 1-D -> ``predict`` returns (n_samples,); 2-D (one column per task, NaN = missing)
    -> (n_samples, n_tasks).  ``predict(X, return_std=True)`` adds the ensemble members'
    standard deviation; :meth:`predict_interval` gives split-conformal intervals.  The
    parameters are described in the module docstring.
    """

    _task_type = "regression"

    def _encode_targets(self, y: Any, n: int) -> np.ndarray:
        arr, names = self._target_array(y, n)
        try:
            Y = np.asarray(arr, dtype=np.float32).reshape(n, -1)
        except (TypeError, ValueError):
            raise ValueError("MolptRegressor needs numeric y (NaN = missing label)") from None
        if np.isinf(Y).any():
            raise ValueError("y holds an infinite value")
        self._one_d = arr.ndim == 1
        self.task_names_ = names
        self.n_tasks_ = Y.shape[1]
        return Y

    def _shape(self, a: np.ndarray) -> np.ndarray:
        return a[:, 0] if self._one_d else a

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Predicted values (the members' mean); with ``return_std`` also their std."""
        check_is_fitted(self, "model_files_")
        mean, std = self._mean_std(X)
        return (self._shape(mean), self._shape(std)) if return_std else self._shape(mean)

    def predict_interval(self, X: Any, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Split-conformal (lower, upper) bounds at ``level`` from the validation residuals
        each member kept (for an ensemble: the mean ± the members' mean half-width)."""
        check_is_fitted(self, "model_files_")
        df = self.predict_frame(X, interval=level)
        lo = df[[f"{t}_lower" for t in self.task_names_]].to_numpy(dtype=np.float64)
        hi = df[[f"{t}_upper" for t in self.task_names_]].to_numpy(dtype=np.float64)
        return self._shape(lo), self._shape(hi)


__all__ = ["MolptClassifier", "MolptEmbedder", "MolptRegressor", "smiles_array"]
