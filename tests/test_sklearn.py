"""The scikit-learn estimators (molpt.sklearn) on small slices of real data.

scikit-learn's own checks that need no numeric data run as they are; the ones that feed
numbers (unfitted errors, pickling, cloning, pipelines, model selection) are rewritten with
SMILES.  Models are tiny (GIN 2 x 32, 2 epochs, 150 molecules): a fit takes about a second.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks as ec

import molpt
from molpt.sklearn import MolptClassifier, MolptEmbedder, MolptRegressor, smiles_array

TINY = dict(num_layers=2, hidden_dim=32, epochs=2, device="cpu", random_state=0)
ESTIMATORS = [MolptEmbedder, MolptClassifier, MolptRegressor]


@pytest.fixture(scope="module")
def bbbp(data_dir) -> pd.DataFrame:
    """150 BBBP molecules (every 10th row: both classes)."""
    return pd.read_csv(data_dir / "BBBP.csv").iloc[::10].head(150).reset_index(drop=True)


@pytest.fixture(scope="module")
def esol(data_dir) -> pd.DataFrame:
    df = pd.read_csv(data_dir / "delaney-processed.csv").head(150)
    return df.rename(columns={df.columns[1]: "logs"})


@pytest.fixture(scope="module")
def checkpoints_dir() -> Path:
    """The read-only shared root holding ``hu2020/*.pth``."""
    d = Path(os.environ.get("MOLPT_CHECKPOINTS") or Path(__file__).parents[2] / "shared"
             / "checkpoints")  # fmt: skip
    if not (d / "hu2020" / "gcn_supervised_contextpred.pth").is_file():
        pytest.skip(f"shared Hu checkpoints not found under {d}")
    return d


@pytest.fixture(scope="module")
def clf(bbbp) -> MolptClassifier:
    """A fitted 2-model classifier (string labels), kept nowhere on disk."""
    y = np.where(bbbp.p_np == 1, "permeable", "not")
    return MolptClassifier(n_models=2, **TINY).fit(bbbp.smiles.tolist(), y)


# ---- scikit-learn's own checks (no numeric data involved) ---------------------------------
SK_CHECKS = [
    ec.check_get_params_invariance, ec.check_set_params, ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible, ec.check_estimator_repr,
    ec.check_estimator_cloneable, ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_mixin_order, ec.check_valid_tag_types, ec.check_estimator_tags_renamed,
]  # fmt: skip


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("check", SK_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_checks(cls, check):
    check(cls.__name__, cls())


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_tags_say_strings(cls):
    tags = cls().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_unfitted_raises(cls):
    est = cls()
    for method in ("predict", "predict_proba", "transform"):
        if hasattr(est, method):
            with pytest.raises(NotFittedError):
                getattr(est, method)(["CCO"])


def test_x_is_one_smiles_per_sample():
    assert smiles_array(pd.DataFrame({"s": ["CCO", "C"]})) == ["CCO", "C"]
    assert smiles_array(np.array([["CCO"], ["C"]])) == ["CCO", "C"]
    with pytest.raises(TypeError, match="not one string"):
        smiles_array("CCO")
    with pytest.raises(TypeError, match="sample 1"):
        smiles_array(["CCO", 3.0])
    with pytest.raises(ValueError, match="0 sample"):
        smiles_array([])
    with pytest.raises(ValueError, match="one column"):
        smiles_array(pd.DataFrame({"a": ["C"], "b": ["C"]}))


# ---- classifier -----------------------------------------------------------------------------
def test_classifier_shapes_labels_and_std(clf, bbbp):
    x = bbbp.smiles[:7]
    assert list(clf.classes_) == ["not", "permeable"] and clf.n_tasks_ == 1
    p, s = clf.predict_proba(x, return_std=True)
    assert p.shape == (7, 2) and s.shape == (7,)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert (s > 0).all()  # two seeds disagree a little
    assert set(clf.predict(x)) <= {"not", "permeable"}
    assert [r["seed"] for r in clf.fit_results_] == [0, 1]
    assert all(r["n_valid"] == 15 and r["n_train"] == 135 for r in clf.fit_results_)
    frame = clf.predict_frame(x)
    assert {"nn_similarity", "in_domain", "status"} <= set(frame.columns)


def test_pickled_classifier_predicts_the_same(clf, bbbp):
    again = pickle.loads(pickle.dumps(clf))  # no folder on disk: the bytes travel
    assert "_predictor" not in again.__dict__
    np.testing.assert_array_equal(again.predict_proba(bbbp.smiles), clf.predict_proba(bbbp.smiles))


def test_invalid_smiles(clf, bbbp):
    with pytest.raises(ValueError, match="row 1"):
        clf.predict(["CCO", "not a smiles"])
    with pytest.warns(UserWarning, match="1 of 151 training SMILES"):
        MolptClassifier(**{**TINY, "epochs": 1}).fit([*bbbp.smiles, "C1CC"], [*bbbp.p_np, 1])


def test_multitask_classifier_with_missing_labels(bbbp):
    y = np.column_stack([bbbp.p_np, 1 - bbbp.p_np]).astype(float)
    y[::3, 1] = np.nan
    est = MolptClassifier(**TINY).fit(bbbp.smiles, y)
    assert est.n_tasks_ == 2 and len(est.classes_) == 2
    assert est.predict_proba(bbbp.smiles[:4]).shape == (4, 2)
    assert set(np.unique(est.predict(bbbp.smiles[:4]))) <= {0, 1}
    with pytest.raises(ValueError, match="two classes"):
        MolptClassifier(**TINY).fit(bbbp.smiles[:3], [0, 1, 2])


def test_clone_refits_identically(clf, bbbp):
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and not hasattr(twin, "model_files_")
    twin.fit(bbbp.smiles.tolist(), np.where(bbbp.p_np == 1, "permeable", "not"))
    np.testing.assert_array_equal(twin.predict_proba(bbbp.smiles), clf.predict_proba(bbbp.smiles))


# ---- regressor ------------------------------------------------------------------------------
def test_regressor_1d_std_interval_and_model_dir(esol, tmp_path):
    est = MolptRegressor(n_models=3, split="random", model_dir=tmp_path / "m", **TINY)
    est.fit(esol.smiles, esol.logs)
    x = esol.smiles[:6]
    mean, std = est.predict(x, return_std=True)
    assert mean.shape == (6,) and std.shape == (6,) and (std > 0).all()
    lo, hi = est.predict_interval(x, level=0.9)
    assert (lo <= mean).all() and (mean <= hi).all()
    assert est.task_names_ == ["logs"] and len(est.model_dirs_) == 3
    # the kept folders are ordinary model folders: molpt.load_model reads them the same
    df = molpt.load_model(est.model_dirs_).predict(x)
    np.testing.assert_allclose(df["logs"].to_numpy(), mean)
    assert -1.0 < est.score(esol.smiles, esol.logs) <= 1.0


def test_regressor_2d_with_missing(esol):
    y = np.column_stack([esol.logs, esol.logs * 2]).astype(float)
    y[::4, 0] = np.nan
    est = MolptRegressor(**TINY).fit(esol.smiles.tolist(), y)
    assert est.predict(esol.smiles[:3]).shape == (3, 2) and est.n_tasks_ == 2


def test_cross_val_score_and_grid_search(esol):
    scores = cross_val_score(MolptRegressor(**TINY), esol.smiles, esol.logs, cv=2)
    assert scores.shape == (2,) and np.isfinite(scores).all()
    grid = GridSearchCV(MolptRegressor(**TINY), {"lr": [1e-3, 3e-3]}, cv=2)
    grid.fit(esol.smiles, esol.logs)
    assert grid.best_params_["lr"] in (1e-3, 3e-3)
    assert grid.predict(esol.smiles[:2]).shape == (2,)


# ---- embedder -------------------------------------------------------------------------------
def test_embedder_random_init_pipeline(bbbp):
    emb = MolptEmbedder(num_layers=2, hidden_dim=32, random_state=0, device="cpu")
    z = emb.fit_transform(bbbp.smiles)
    assert z.shape == (150, 32) and z.dtype == np.float32
    np.testing.assert_array_equal(clone(emb).fit(bbbp.smiles).transform(bbbp.smiles[:5]), z[:5])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(emb)).transform(bbbp.smiles[:5]),
                                  z[:5])  # fmt: skip
    assert list(emb.get_feature_names_out()[:2]) == ["molptembedder0", "molptembedder1"]
    pipe = make_pipeline(MolptEmbedder(num_layers=2, hidden_dim=32, random_state=0, device="cpu"),
                         LogisticRegression(max_iter=200))  # fmt: skip
    scores = cross_val_score(pipe, bbbp.smiles, bbbp.p_np, cv=2, scoring="roc_auc")
    assert scores.shape == (2,) and np.isfinite(scores).all()
    with pytest.raises(ValueError, match="row 1"):
        emb.transform(["CCO", "C1CC"])


def test_embedder_published_name_matches_molpt_load(bbbp, checkpoints_dir, tmp_cache):
    name = "hu2020/gcn_supervised_contextpred"
    z = MolptEmbedder(name, device="cpu", checkpoint_dir=checkpoints_dir).fit_transform(
        bbbp.smiles[:8])
    ref = molpt.load(name, device="cpu", checkpoint_dir=checkpoints_dir).embed(bbbp.smiles[:8])
    np.testing.assert_allclose(z, ref.numpy(), rtol=1e-6, atol=1e-6)
    assert z.shape == (8, 300)


def test_top_level_names():
    assert molpt.MolptClassifier is MolptClassifier and molpt.MolptEmbedder is MolptEmbedder
    with pytest.raises(AttributeError):
        molpt.NoSuchThing  # noqa: B018
