"""Training curves from the CSV logs of a run (all resumed versions joined), drawn with matplotlib."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from asr.errors import AsrError
from asr.io_utils import atomic_write
from asr.limits import check_regular_file, short


def read_metrics(exp_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """``{metric: [(step, value), ...]}`` from every ``logs/version_*/metrics.csv``, later runs last."""
    def version(path: Path) -> tuple[int, str]:
        number = path.parent.name.split("_", 1)[1]
        return (int(number) if number.isdigit() and len(number) < 10 else 10**10, path.parent.name)

    files = sorted(Path(exp_dir).glob("logs/version_*/metrics.csv"), key=version)
    if not files:
        raise AsrError(f"{exp_dir}: no logs/version_*/metrics.csv (is this a training folder?)")
    series: dict[str, dict[int, float]] = {}
    for path in files:
        check_regular_file(path, "metrics file", AsrError)  # never opens a FIFO
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                for line_no, row in enumerate(csv.DictReader(handle), start=2):
                    try:
                        step = int(row["step"])
                        for key, value in row.items():
                            if key not in ("epoch", "step") and value not in ("", None):
                                series.setdefault(key, {})[step] = float(value)  # a resumed run overrides repeats
                    except (KeyError, TypeError, ValueError) as exc:
                        raise AsrError(f"{path}:{line_no}: not a metrics row ({short(str(exc))[1:-1]})") from None
        except (csv.Error, UnicodeDecodeError, OSError) as exc:
            raise AsrError(f"{path}: not a readable metrics CSV ({short(str(exc))[1:-1]})") from None
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
