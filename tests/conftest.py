"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

# The real corpora live beside the repository (../shared/corpora), read-only; not every checkout has them.
CORPORA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"


@pytest.fixture
def corpora_dir() -> Path:
    """The shared corpora folder; tests using it are skipped where it is absent."""
    if not CORPORA_DIR.is_dir():
        pytest.skip(f"real corpora not available: {CORPORA_DIR} does not exist")
    return CORPORA_DIR
