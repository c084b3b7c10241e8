"""Training curves from the CSV logs of a run (all resumed versions joined), drawn with matplotlib."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from asr.errors import AsrError
from asr.io_utils import atomic_write


def read_metrics(exp_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """``{metric: [(step, value), ...]}`` from every ``logs/version_*/metrics.csv``, later runs last."""
    files = sorted(Path(exp_dir).glob("logs/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    if not files:
        raise AsrError(f"{exp_dir}: no logs/version_*/metrics.csv (is this a training folder?)")
    series: dict[str, dict[int, float]] = {}
    for path in files:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                step = int(row["step"])
                for key, value in row.items():
                    if key not in ("epoch", "step") and value not in ("", None):
                        series.setdefault(key, {})[step] = float(value)  # a resumed run overrides repeats
    return {key: sorted(points.items()) for key, points in series.items()}


def plot_training_curves(exp_dir: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = read_metrics(exp_dir)
    panels = [("loss (CTC, per utterance)", ["train_loss", "val_loss"]), ("dev error rate (%)", ["val_wer", "val_cer"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            if key in metrics:
                steps, values = zip(*metrics[key])
                scale = 100.0 if key in ("val_wer", "val_cer") else 1.0
                ax.plot(steps, [v * scale for v in values], label=key, marker="o" if key.startswith("val") else None,
                        markersize=3)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    if "train_loss" in metrics:
        axes[0].set_yscale("log")
    fig.suptitle(str(Path(exp_dir).name))
    fig.tight_layout()
    out_path = Path(out_path)
    with atomic_write(out_path, "wb") as handle:
        fig.savefig(handle, format=out_path.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    return out_path
