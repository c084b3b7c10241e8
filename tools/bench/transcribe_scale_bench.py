"""Transcription at scale, as a user runs it: `asr transcribe` on a 1-hour recording and on 1,000 short files,
greedy and with an LM, with wall time, real-time factor and the peak memory of the process.

The inputs are built from a manifest's files: the 1-hour recording joins its utterances (cycled) with 0.6 s of
quiet noise between them; the 1,000 files are copies of its files, cycled (copies, because `asr transcribe`
reads a path given twice only once). Each run is a fresh `asr transcribe` process, so peak RSS covers model
and LM loading too.

    python tools/bench/transcribe_scale_bench.py --model MODEL --manifest TEST.jsonl [--lm LM.arpa]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asr.checkpoint import load_bundle
from asr.data.manifest import read_manifest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from transcribe_bench import long_recording  # noqa: E402

# Runs the command as its only child and reports that child's CPU time and peak RSS (RUSAGE_CHILDREN of a
# fresh process covers exactly one run).
_MEASURE = ("import json, resource, subprocess, sys; "
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(json.dumps([u.ru_utime + u.ru_stime, u.ru_maxrss]))")


def run(command: list[str], threads: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one `asr transcribe` process."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], check=True, env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    cpu, rss_kib = json.loads(done.stdout)
    return wall, cpu, rss_kib // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--lm", help="ARPA LM for the beam rows")
    parser.add_argument("--lm-weight", type=float, default=0.5)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "transcribe_scale.md"))
    args = parser.parse_args()
    utts = read_manifest(args.manifest)
    asr = [sys.executable, "-m", "asr.cli", "transcribe", args.model]
    decoders = [("greedy", ["--decoder", "greedy"])]
    if args.lm:
        decoders.append((f"beam 50 + {Path(args.lm).name} (weight {args.lm_weight})",
                         ["--decoder", "beam", "--lm", args.lm, "--lm-weight", str(args.lm_weight)]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        copies = Path(tmp) / "files"
        copies.mkdir()
        files = []
        for i in range(args.files):
            source = Path(utts[i % len(utts)].audio)
            files.append(str(copies / f"{i:05d}{source.suffix}"))
            shutil.copyfile(source, files[-1])
        files_s = sum(utts[i % len(utts)].duration for i in range(args.files))
        # The manifest's utterances, cycled until they make the hour (long_recording adds 0.6 s between them).
        cycled, total = [], 0.0
        while total < args.hours * 3600:
            cycled.append(utts[len(cycled) % len(utts)])
            total += cycled[-1].duration + 0.6
        long_path, _, long_s = long_recording(cycled, load_bundle(args.model).features.sample_rate, Path(tmp))
        for name, flags in decoders:
            for label, inputs, audio_s, extra in (
                (f"{args.files} short files", files, files_s, []),
                (f"1 recording of {long_s / 60:.0f} min, quiet-point segments", [str(long_path)], long_s,
                 ["--segmenter", "quiet"]),
                (f"1 recording of {long_s / 60:.0f} min, Silero VAD segments", [str(long_path)], long_s,
                 ["--segmenter", "vad"]),
            ):
                out = Path(tmp) / "out"
                command = asr + inputs + flags + extra + ["--format", "txt", "-o", str(out), "--overwrite"]
                wall, cpu, rss = run(command, args.threads)
                rows.append((name, label, audio_s, wall, cpu, rss))
                print(rows[-1], flush=True)
    write(Path(args.out), rows, args)


def write(out: Path, rows, args) -> None:
    lines = ["# Transcription at scale: `asr transcribe` on 1,000 files and on a 1-hour recording", "",
             f"{datetime.datetime.now().isoformat(timespec='seconds')}: "
             f"`{' '.join(shlex.quote(a) for a in sys.argv)}`", "",
             f"One fresh `asr transcribe` process per row, {args.threads} threads (OMP_NUM_THREADS), model "
             f"`{args.model}`; inputs built from `{args.manifest}`. Wall time includes starting Python, loading "
             "the model (and the LM); peak RSS is the process's maximum resident set.", "",
             "| decoder | input | audio | wall | x real time | CPU s | peak RSS |", "|---|---|---|---|---|---|---|"]
    for name, label, audio_s, wall, cpu, rss in rows:
        lines.append(f"| {name} | {label} | {audio_s / 60:.1f} min | {wall:.1f} s | {audio_s / wall:.0f}x | "
                     f"{cpu:.1f} | {rss} MiB |")
    lines += ["", f"- machine: {os.cpu_count()} cores, load average at the end {os.getloadavg()[0]:.2f}"]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    keys = ("decoder", "input", "audio_s", "wall_s", "cpu_s", "peak_rss_mib")
    out.with_suffix(".json").write_text(json.dumps({"rows": [dict(zip(keys, r)) for r in rows]}, indent=2) + "\n",
                                        encoding="utf-8")
    print(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
