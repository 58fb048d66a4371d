"""cached_featurize: hit path, same report on a hit, corrupt files rebuilt with a warning."""

from __future__ import annotations

import pytest
import torch

from molpt.featurize import cache as cache_mod
from molpt.featurize.cache import cache_key, cache_path_for, cached_featurize


def _no_featurize(*args, **kwargs):
    raise AssertionError("featurize_many called although the cache should have been hit")


def test_second_call_is_a_cache_hit(fixture_smiles, tmp_cache, monkeypatch):
    g1, r1 = cached_featurize(fixture_smiles, "basic", {"source": "fixture"})
    files = list(tmp_cache.glob("*.pt"))
    assert len(files) == 1
    monkeypatch.setattr(cache_mod, "featurize_many", _no_featurize)
    g2, r2 = cached_featurize(fixture_smiles, "basic", {"source": "fixture"})
    assert torch.equal(g1.x, g2.x) and torch.equal(g1.edge_index, g2.edge_index)
    assert g1.smiles == g2.smiles and torch.equal(g1.rows, g2.rows)
    assert r2.total == r1.total
    assert [(f.row, f.smiles, f.reason) for f in r2.failed] == [
        (f.row, f.smiles, f.reason) for f in r1.failed
    ]
    assert r2.num_invalid == 4


def test_key_depends_on_content_featurizer_and_parts(fixture_smiles):
    k = cache_key(fixture_smiles, "basic", {"col": "smiles"})
    assert k == cache_key(list(fixture_smiles), "basic", {"col": "smiles"})
    assert k != cache_key(fixture_smiles[:-1], "basic", {"col": "smiles"})
    assert k != cache_key(fixture_smiles, "ogb", {"col": "smiles"})
    assert k != cache_key(fixture_smiles, "basic", {"col": "mol"})


def test_explicit_cache_dir(fixture_smiles, tmp_path, tmp_cache):
    cached_featurize(fixture_smiles, "ogb", {}, cache_dir=tmp_path / "elsewhere")
    assert list((tmp_path / "elsewhere").glob("*.pt")) and not tmp_cache.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_cache_is_rebuilt_with_warning(fixture_smiles, tmp_cache, damage):
    g1, _ = cached_featurize(fixture_smiles, "ogb", {})
    path = cache_path_for(cache_key(fixture_smiles, "ogb", {}), "ogb")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3] if damage == "truncate" else b"not a cache")
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        g2, r2 = cached_featurize(fixture_smiles, "ogb", {})
    assert torch.equal(g1.x, g2.x) and r2.num_invalid == 4
    # the rebuilt file is valid again: third call is a clean hit
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached_featurize(fixture_smiles, "ogb", {})
