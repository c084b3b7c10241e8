"""The fine-tuning vs from-scratch table: test WER/CER (held-out speaker), dev WER by epoch, wall time, and
how soon each run first reached a dev WER of TARGET% (epochs, and the minutes its epochs took by the log).

Usage: python local/table.py EXP_DIR K [K ...]   (reads EXP_DIR/{ft,scratch}_kK/)
"""

import csv
import json
import re
import sys
from pathlib import Path


def dev_wer_by_epoch(exp: Path) -> list[float]:
    rows = {}
    for path in sorted(exp.glob("logs/version_*/metrics.csv")):
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("val_wer"):
                    rows[int(row["epoch"])] = float(row["val_wer"]) * 100
    return [rows[e] for e in sorted(rows)]


TARGET = 40.0


def epoch_seconds(log: Path) -> list[int]:
    """Seconds each epoch took (training and dev), from the 'epoch N/M (Ss)' lines of the training log."""
    return [int(m.group(1)) for m in re.finditer(r"epoch \d+/\d+ \((\d+)s\)", log.read_text())]


def main() -> None:
    root, sizes = Path(sys.argv[1]), sys.argv[2:]
    print(f"| train set | start | epochs | steps | wall time | dev WER after epoch 1 / 3 / last | "
          f"first dev WER <= {TARGET:g}% | test WER (theo) | test CER |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k in sizes:
        utts = [json.loads(line) for line in open(root.parent / f"data/train_k{k}.jsonl")]
        minutes = sum(u["duration"] for u in utts) / 60
        for way, label in (("ft", "fine-tuned, lr 3e-4"), ("ftlr", "fine-tuned, lr 1e-3"),
                           ("scratch", "from scratch, lr 2e-3")):
            exp = root / f"{way}_k{k}"
            report = (exp / "test/report.txt").read_text()
            wer = re.search(r"WER (\S+)%", report).group(1)
            cer = re.search(r"CER (\S+)%", report).group(1)
            dev = dev_wer_by_epoch(exp)
            steps = 1 + max(int(r["step"]) for p in exp.glob("logs/version_*/metrics.csv")
                            for r in csv.DictReader(open(p, newline="")) if r.get("step"))
            wall = int((exp / "wall_s").read_text())
            picks = " / ".join(f"{dev[i]:.1f}%" for i in (0, 2, len(dev) - 1) if i < len(dev))
            first = next((i for i, w in enumerate(dev) if w <= TARGET), None)
            if first is None:
                reached = "not reached"
            else:
                took = sum(epoch_seconds(root / f"{way}_k{k}.log")[: first + 1])
                reached = f"epoch {first + 1} ({took / 60:.1f} min)"
            print(f"| {len(utts)} utts ({minutes:.1f} min) | {label} | {len(dev)} | {steps} | "
                  f"{wall // 60} min {wall % 60:02d} s | {picks} | {reached} | **{wer}%** | {cer}% |")


if __name__ == "__main__":
    main()
