import csv

import pytest

from asr.errors import AsrError
from asr.plots import plot_training_curves, read_metrics


def write_log(path, rows):
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["epoch", "step", "train_loss", "val_wer"])
        writer.writeheader()
        writer.writerows(rows)


def test_resumed_versions_are_joined_and_drawn(tmp_path):
    write_log(tmp_path / "logs/version_0/metrics.csv",
              [{"epoch": 0, "step": 9, "train_loss": 5.0, "val_wer": ""}, {"epoch": 0, "step": 9, "val_wer": 0.9}])
    write_log(tmp_path / "logs/version_1/metrics.csv",
              [{"epoch": 1, "step": 19, "train_loss": 2.0, "val_wer": ""}, {"epoch": 1, "step": 19, "val_wer": 0.4}])
    metrics = read_metrics(tmp_path)
    assert metrics["train_loss"] == [(9, 5.0), (19, 2.0)]
    assert metrics["val_wer"] == [(9, 0.9), (19, 0.4)]
    out = plot_training_curves(tmp_path, tmp_path / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_logs_are_a_clear_error(tmp_path):
    with pytest.raises(AsrError, match="metrics.csv"):
        read_metrics(tmp_path)
