"""Fixtures for the data tests: datasets loaded once per session into a private cache."""

from __future__ import annotations

import pytest

from molpt.data import MolDataset, load_dataset


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("session-cache")


@pytest.fixture(scope="session")
def bbbp(data_dir, session_cache) -> MolDataset:
    return load_dataset("bbbp", data_dir=data_dir, cache_dir=session_cache)
