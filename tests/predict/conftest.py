"""Model folders trained once per session on small slices of real data (seconds each).

``esol_models``: two ESOL regression runs (seeds 0 and 1) trained as one fused group, so
each folder's weights are extracted from stacked parameters.  ``bbbp_model``: one BBBP
classification run.  Tiny GIN (2 x 32), 3 epochs, the first 300 rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = dict(num_layers=2, hidden_dim=32, epochs=3, batch_size=32, limit=300, device="cpu")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("predict-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOLPT_CACHE", str(d))
        yield d


@pytest.fixture(scope="session")
def esol_models(tmp_path_factory, data_dir, session_cache) -> list[Path]:
    from molpt.train.finetune import FinetuneConfig, finetune_group

    root = tmp_path_factory.mktemp("esol-models")
    cfgs = [FinetuneConfig(dataset="esol", seed=s, data_dir=str(data_dir),
                           out=str(root / f"seed{s}"), **TINY) for s in (0, 1)]  # fmt: skip
    finetune_group(cfgs, progress=False)
    return [root / "seed0", root / "seed1"]


@pytest.fixture(scope="session")
def bbbp_model(tmp_path_factory, data_dir, session_cache) -> Path:
    from molpt.train.finetune import FinetuneConfig, finetune

    root = tmp_path_factory.mktemp("bbbp-model")
    finetune(FinetuneConfig(dataset="bbbp", seed=0, data_dir=str(data_dir),
                            out=str(root / "m"), **TINY), progress=False)  # fmt: skip
    return root / "m"
