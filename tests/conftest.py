"""Shared fixtures: small real data sets loaded once per session."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def digits():
    from labelwise.data import load_dataset

    return load_dataset("digits")
