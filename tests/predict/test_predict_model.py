"""Model folders: what fine-tuning writes, safe loading, reproduction, ensembles,
intervals and the applicability domain (molpt.predict, Python API)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import molpt
from molpt.nn.model import GraphModel
from molpt.predict import ModelFolderError, load_model
from molpt.predict.ensemble import MembersDisagree


def test_model_folder_round_trip_weights_only(esol_models):
    d = esol_models[0]
    assert {"model.json", "weights.pt", "domain.pt", "metrics.json", "predictions.csv"} <= {
        p.name for p in d.iterdir()}
    man = json.loads((d / "model.json").read_text())
    assert man["format"] == "molpt-model" and man["format_version"] == 1
    assert set(man["versions"]) >= {"molpt", "torch", "rdkit"}
    assert man["featurizer"]["name"] == "basic" and man["task_type"] == "regression"
    assert len(man["target_scaling"]["mean"]) == len(man["tasks"]) == 1
    assert man["training"]["seed"] == 0 and len(man["training"]["source_sha256"]) == 64
    assert 0 < man["domain"]["threshold"] <= 1 and "5th percentile" in man["domain"]["rule"]
    res = next(iter(man["conformal"]["residuals"].values()))
    assert res == sorted(res) and len(res) == man["training"]["n_valid"]
    state = torch.load(d / "weights.pt", weights_only=True)  # plain tensors only
    model = GraphModel.from_config(man["model"])
    model.load_state_dict(state)
    dom = torch.load(d / "domain.pt", weights_only=True)
    assert dom["fingerprints"].dtype == torch.uint8
    assert dom["fingerprints"].shape == (man["training"]["n_train"], 256)
    assert len(dom["smiles"]) == dom["rows"].numel() == man["training"]["n_train"]
    # two runs of one fused group: different weights, each its own
    other = torch.load(esol_models[1] / "weights.pt", weights_only=True)
    assert any(not torch.equal(state[k], other[k]) for k in state if state[k].is_floating_point())


@pytest.mark.parametrize("which", ["esol0", "esol1", "bbbp"])
def test_reload_reproduces_predictions_csv(which, esol_models, bbbp_model):
    d = {"esol0": esol_models[0], "esol1": esol_models[1], "bbbp": bbbp_model}[which]
    text = (d / "predictions.csv").read_text().splitlines()
    ref = pd.read_csv(d / "predictions.csv")
    m = load_model(d)
    got = m.predict(ref["smiles"].tolist(), chunk_size=7)  # other batches than training's
    assert (got["status"] == "ok").all()
    cols = {"smiles": ref["smiles"]}
    for t in m.task_names:
        cols[f"{t}_true"] = ref[f"{t}_true"]
        cols[f"{t}_pred"] = got[t].to_numpy()
    again = pd.DataFrame(cols).to_csv(index=False, float_format="%.6g").splitlines()
    assert again == text  # the very text fine-tuning wrote (CPU, fp32)


def test_ensemble_mean_std_and_individual(esol_models):
    ens = molpt.load_model(esol_models)
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "bad(", "ClC(Cl)Cl"]
    df = ens.predict(smiles, individual=True)
    t = ens.task_names[0]
    a, b = df[f"{t}@seed0"].to_numpy(), df[f"{t}@seed1"].to_numpy()
    ok = df["status"] == "ok"
    assert list(df["smiles"]) == smiles and ok.tolist() == [True, True, True, False, True]
    np.testing.assert_allclose(df[t][ok], ((a + b) / 2)[ok], rtol=1e-12)
    np.testing.assert_allclose(df[f"{t}_std"][ok], (np.abs(a - b) / 2)[ok], rtol=1e-9)
    assert (df.loc[ok, f"{t}_std"] > 0).all()
    assert df.loc[~ok, t].isna().all() and "bad(" not in df.loc[~ok, "status"].iloc[0]
    singles = [load_model(d).predict(smiles)[t].to_numpy() for d in esol_models]
    np.testing.assert_array_equal(a, singles[0])  # a member alone or in the ensemble
    assert len(ens.predict(smiles, on_invalid="skip")) == 4


def test_conformal_interval_covers_valid(esol_models, data_dir):
    d = esol_models[0]
    man = json.loads((d / "model.json").read_text())
    src = pd.read_csv(data_dir / "delaney-processed.csv")
    t = man["tasks"][0]["name"]
    for part, floor in (("valid_rows", 0.9), ("test_rows", 0.5)):
        rows = src.iloc[man["training"][part]]
        df = load_model(d).predict(rows["smiles"].tolist(), interval=0.9)
        y = rows[t].to_numpy()
        inside = (df[f"{t}_lower"] <= y) & (y <= df[f"{t}_upper"])
        assert inside.mean() >= floor, (part, inside.mean())
    wide = load_model(d).predict(["CCO"], interval=0.5)
    narrow_half = (wide[f"{t}_upper"] - wide[f"{t}_lower"]).iloc[0]
    assert narrow_half < (df[f"{t}_upper"] - df[f"{t}_lower"]).iloc[0]


def test_interval_refused_for_classifier(bbbp_model):
    with pytest.raises(ValueError, match="regression"):
        load_model(bbbp_model).predict(["CCO"], interval=0.9)


def test_domain_training_molecule_is_its_own_neighbour(esol_models):
    from molpt.featurize.fingerprints import nearest_tanimoto

    d = esol_models[0]
    dom = torch.load(d / "domain.pt", weights_only=True)
    fps = dom["fingerprints"].numpy()
    # a training molecule whose fingerprint no other training molecule shares
    sim, _ = nearest_tanimoto(fps, fps, exclude=np.arange(len(fps)))
    i = int(np.nonzero(sim < 1.0)[0][0])
    df = load_model(d).predict([dom["smiles"][i], "[Xe]"])
    assert df["nn_similarity"].iloc[0] == 1.0
    assert df["nn_train_row"].iloc[0] == int(dom["rows"][i])
    assert df["nn_train_smiles"].iloc[0] == dom["smiles"][i]
    assert bool(df["in_domain"].iloc[0]) and not bool(df["in_domain"].iloc[1])
    assert df["nn_similarity"].iloc[1] < 0.2


def test_bad_model_folders(esol_models, bbbp_model, tmp_path):
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFolderError, match="no model.json"):
        load_model(tmp_path / "empty")
    with pytest.raises(MembersDisagree, match="task type"):
        load_model([esol_models[0], bbbp_model])
    newer = tmp_path / "newer"
    shutil.copytree(esol_models[0], newer)
    man = json.loads((newer / "model.json").read_text())
    man["format_version"] = 99
    (newer / "model.json").write_text(json.dumps(man))
    with pytest.raises(ModelFolderError, match="format version 99"):
        load_model(newer)
    cut = tmp_path / "cut"
    shutil.copytree(esol_models[0], cut)
    data = (cut / "weights.pt").read_bytes()
    (cut / "weights.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError, match="damaged"):
        load_model(cut)


def test_all_invalid_and_empty_inputs(esol_models):
    m = load_model(esol_models[0])
    t = m.task_names[0]
    df = m.predict(["bad(", "", "C1CC"])
    assert len(df) == 3 and df[t].isna().all() and (df["status"] != "ok").all()
    assert df["in_domain"].isna().all()
    assert len(m.predict(["bad("], on_invalid="skip")) == 0
    assert list(m.predict([]).columns)[:2] == ["smiles", t]
