"""Pictures drawn with matplotlib: training curves from the CSV logs of a run (all resumed versions joined), and
a transcript over its spectrogram (words at their times, with their confidences; `asr transcribe --plot`)."""

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


def plot_transcript(features, frame_shift: float, hyp, out_path: str | os.PathLike, title: str = "",
                    shown_seconds: float | None = None) -> Path:
    """Write :func:`transcript_figure` to ``out_path`` (PNG, or any format matplotlib writes, by extension)."""
    import matplotlib.pyplot as plt

    fig = transcript_figure(features, frame_shift, hyp, title, shown_seconds)
    out_path = Path(out_path)
    with atomic_write(out_path, "wb") as handle:
        fig.savefig(handle, format=out_path.suffix.lstrip(".") or "png", dpi=90)
    plt.close(fig)
    return out_path


def transcript_figure(features, frame_shift: float, hyp, title: str = "", shown_seconds: float | None = None):
    """A figure of one transcript: the log-mel spectrogram the model saw on top, and below it each word as a
    bar from its start to its end, as tall as its confidence, labelled with the word and the confidence.
    ``features``: (frames, mels); ``frame_shift``: seconds a frame. Words past the spectrogram's end
    (``shown_seconds`` of a longer recording) are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    feats = features.detach().cpu().numpy() if hasattr(features, "detach") else features
    seconds = feats.shape[0] * frame_shift
    words = [w for w in hyp.words if w.start < seconds]
    width = min(40.0, max(8.0, 1.2 * seconds))  # about a word's width per label at any length
    fig, (spec, conf) = plt.subplots(2, 1, figsize=(width, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    spec.imshow(feats.T, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, feats.shape[1]),
                interpolation="nearest")
    spec.set_ylabel("mel bin")
    for w in words:
        spec.axvspan(w.start, w.end, color="white", alpha=0.12, lw=0)
        spec.text((w.start + w.end) / 2, feats.shape[1] * 0.96, w.word, ha="center", va="top", color="white",
                  fontsize=10, fontweight="bold", clip_on=True)
    cmap = plt.get_cmap("RdYlGn")
    for w in words:
        conf.bar(w.start, w.confidence, width=max(w.end - w.start, frame_shift), align="edge",
                 color=cmap(w.confidence), edgecolor="black", linewidth=0.5)
        conf.text((w.start + w.end) / 2, min(w.confidence, 1.0) + 0.03, f"{w.word}\n{w.confidence:.2f}",
                  ha="center", va="bottom", fontsize=8, clip_on=True)
    conf.set_ylim(0, 1.35)
    conf.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    conf.set_ylabel("confidence")
    conf.set_xlabel("time (s)")
    conf.set_xlim(0, seconds)
    conf.grid(axis="y", alpha=0.3)
    shown = f" (first {seconds:.0f} s)" if shown_seconds is not None and seconds < shown_seconds else ""
    spec.set_title(f"{title}{shown}: {hyp.text[:120]}{'...' if len(hyp.text) > 120 else ''}", fontsize=10,
                   loc="left")
    fig.tight_layout()
    return fig
