"""Benchmark `asr lm build`: time and peak memory of a 3-gram from synthetic text of a given size.

The text is sentences of 5-25 words drawn independently from a Zipf(1) distribution over 20k made-up
words: harder than real text (more distinct n-grams per word), so real corpora need less memory.

    python tools/bench/lm_build_bench.py --megabytes 10 [--order 3] [--workdir /tmp/lmbench]

Appends a row to tools/bench/results/lm_build.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "lm_build.md"


def make_text(path: Path, megabytes: float, seed: int = 0) -> None:
    target = int(megabytes * 1e6)
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = sorted({"".join(rng.choice(letters, n)) for n in rng.integers(2, 10, size=20000)})
    rng.shuffle(vocab)
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    written = 0
    with open(path, "w") as handle:
        while written < target:
            lengths = rng.integers(5, 26, size=10000)
            ids = rng.choice(len(vocab), size=int(lengths.sum()), p=p).tolist()
            lines, pos = [], 0
            for n in lengths.tolist():
                lines.append(" ".join(vocab[i] for i in ids[pos : pos + n]))
                pos += n
            chunk = "\n".join(lines) + "\n"
            handle.write(chunk)
            written += len(chunk)


def build(text: Path, arpa: Path, order: int) -> None:
    from asr.lm import LmConfig, build_lm_from_file

    t0 = time.perf_counter()
    model = build_lm_from_file(text, LmConfig(order=order))
    t1 = time.perf_counter()
    model.write_arpa(arpa)
    t2 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{t1 - t0:.1f}\t{t2 - t1:.1f}\t{peak_mb:.0f}\t{'/'.join(map(str, model.counts))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/lmbench")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # measured in a fresh process so peak RSS is the build's alone
        build(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    text = work / f"text{args.megabytes:g}.txt"
    if not text.is_file():
        make_text(text, args.megabytes)
    arpa = work / f"lm{args.megabytes:g}.arpa"
    start = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", str(text), str(arpa), str(args.order)],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    wall = time.perf_counter() - start
    estimate, write, peak, counts = out.split("\t")
    words = sum(len(line.split()) for line in open(text))
    row = (f"| {datetime.date.today()} | {text.stat().st_size / 1e6:.1f} MB, {words / 1e6:.2f} M words | {args.order} "
           f"| {counts} | {estimate} s | {write} s | {wall:.1f} s | {peak} MB | {arpa.stat().st_size / 1e6:.0f} MB |")
    if not RESULTS.is_file():
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            "# asr lm build benchmark\n\n"
            f"Machine: {platform.processor() or platform.machine()}, 2 cores; command: "
            "`python tools/bench/lm_build_bench.py --megabytes N`.\n\n"
            "| date | text | order | n-grams | estimate | write ARPA | wall (incl. start-up) | peak RSS | ARPA size |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    with open(RESULTS, "a") as handle:
        handle.write(row + "\n")
    print(row)


if __name__ == "__main__":
    main()
