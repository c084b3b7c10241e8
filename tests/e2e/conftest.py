"""End-to-end fixtures."""

from pathlib import Path

import pytest

from asr.cli import main


@pytest.fixture
def yesno_data(corpora_dir: Path, tmp_path: Path) -> Path:
    """The yesno corpus prepared with `asr prepare yesno` into tmp_path/data (train, dev, test manifests)."""
    corpus = corpora_dir / "yesno"
    if not corpus.is_dir():
        pytest.skip(f"real corpus not available: {corpus} does not exist")
    assert main(["prepare", "yesno", str(corpus), "-o", str(tmp_path / "data")]) == 0
    return tmp_path / "data"
