"""The benchmark suite (`make bench`): every benchmark this machine can run, then one table of ratios.

    python tools/bench/run_all.py [--only training,load,features,transcription,decoding] [--model M]

Runs, each in its own process (so thread settings never leak from one to the next):
  training       train_bench.py: `asr train` against the bare training step, LSTM/GRU/RNN, uni/bi
  load           load_bench.py: thread counts and OpenMP's wait policy with a competing busy process
  features       features_bench.py: log-mel against librosa (and the 1e-4 match), threaded extraction
  transcription  transcribe_bench.py: real-time factor greedy and with an LM (needs a trained model)
  scale          transcribe_scale_bench.py: `asr transcribe` on 1,000 files and a 1-hour recording, peak memory
  decoding       decode_bench.py: our beam searches against pyctcdecode on the same emissions (needs a
                 model and pyctcdecode's throwaway venv, which this suite never builds: see README.md)
A benchmark that cannot run here is reported as skipped, with why; one that fails is reported as failed,
and the suite still exits 0: benchmarks are measurements, not tests. Writes results/suite.md (+ .json)
beside each benchmark's own table. Under 15 minutes on the 2-core machine even when it is busy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from common import RESULTS, finish, header, machine  # noqa: E402

STEPS = ("training", "load", "features", "transcription", "scale", "decoding")
DEMO = ROOT / "recipes" / "demo"


def run(command: list[str], timeout: float) -> tuple[str, float, str]:
    """(status, seconds, last lines of output) of a benchmark command."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "failed (timeout)", time.perf_counter() - start, ""
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
    return ("ok" if done.returncode == 0 else f"failed (exit {done.returncode})"), time.perf_counter() - start, tail


def load_json(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def pyctc_ready(venv: Path) -> bool:
    python = venv / "bin" / "python"
    return python.exists() and subprocess.run([str(python), "-c", "import pyctcdecode, kenlm"],
                                              capture_output=True).returncode == 0


def ratio_rows(steps: dict) -> list[str]:
    rows = []
    training = load_json("training.json") if steps.get("training") == "ok" else None
    for r in (training or {}).get("rows", []):
        rows.append(f"| training | `asr train` {r['cell']} {r['direction']}, {r['threads']} thread(s): "
                    f"{r['pipeline']:.1f} audio-s/s | bare step {r['bare']:.1f} | {100 * r['ratio']:.0f}% | >= 90% | "
                    "[training.md](training.md) |")
    load = load_json("load.json") if steps.get("load") == "ok" else None
    if load:
        results = load["results"]
        auto, before = results["trainer.threads: 0 now (load-aware)"], results["2 threads (before: every usable core)"]
        plain, busy = list(auto)
        now, alone, old = auto[busy].get("speed"), auto[plain].get("speed"), before[busy].get("speed")
        if now and alone:
            rows.append(f"| load | load-aware threads with a busy process: {now:.1f} audio-s/s | the same without it "
                        f"(machine as is) {alone:.1f} | {100 * now / alone:.0f}% | >= 60% of idle | "
                        "[load.md](load.md) |")
        if now:
            versus = f"{now / old:.1f}x" if old else "n/a (2 threads did not finish)"
            rows.append(f"| load | load-aware threads with a busy process | 2 threads, the same process beside "
                        f"(before) {f'{old:.1f}' if old else 'unfinished'} | {versus} | | [load.md](load.md) |")
    features = load_json("features.json") if steps.get("features") == "ok" else None
    if features:
        rows.append(f"| features | LogMel CPU time | librosa | {features['ratio_cpu']:.1f}x faster | >= 2x | "
                    "[features.md](features.md) |")
        diff = features["max_abs_diff_librosa"]
        rows.append(f"| features | max abs log-mel difference: librosa's filterbank {diff:.1e}"
                    f"; same filterbank {features['max_abs_diff_same_filterbank']:.1e} | librosa | | <= 1e-4 | "
                    "[features.md](features.md) |")
        walls = {name: min(rep[name][0] for rep in features["extraction"]) for name in features["extraction"][0]}
        before, _, now, pool = walls
        where = features.get("manifest") or "synthetic noise (WAV)"
        if Path(where).is_absolute() and Path(where).is_relative_to(ROOT):
            where = str(Path(where).relative_to(ROOT))
        rows.append(f"| features | files to features ({where}): {now} | {before} | "
                    f"{walls[before] / walls[now]:.2f}x as fast | parallel where it pays | "
                    "[features.md](features.md) |")
        rows.append(f"| features | files to features: {pool} | {now} | {walls[now] / walls[pool]:.2f}x as fast | "
                    "| [features.md](features.md) |")
    transcribe = load_json("transcribe_suite.json") if steps.get("transcription") == "ok" else None
    for r in (transcribe or {}).get("rows", []):
        if r["mode"].startswith("batched"):
            target = "1000x (greedy)" if r["decoder"] == "greedy" else "300x (LM)"
            rows.append(f"| transcription | {r['decoder'].split(' (')[0]}, {r['input']}, batched | real time | "
                        f"{r['audio_s'] / r['wall_s']:.0f}x (CPU {r['audio_s'] / r['cpu_s']:.0f}x) | {target} | "
                        "[transcribe_suite.md](transcribe_suite.md) |")
    scale = load_json("transcribe_scale.json") if steps.get("scale") == "ok" else None
    for r in (scale or {}).get("rows", []):
        rows.append(f"| transcription at scale | `asr transcribe`, {r['decoder'].split(' (')[0]}, {r['input']} | "
                    f"real time | {r['audio_s'] / r['wall_s']:.0f}x, peak RSS {r['peak_rss_mib']} MiB | "
                    "1000x / 300x, with peak memory | [transcribe_scale.md](transcribe_scale.md) |")
    decoding = load_json("decode_suite_demo.json") if steps.get("decoding") == "ok" else None
    if decoding:
        by = {r["decoder"]: r for r in decoding["rows"]}
        mapped = by.get("pyctcdecode (mapped from ours)")
        for name, r in by.items():
            # Each mode against pyctcdecode's same mode: n-best with word frames (decode_beams), hotwords, and
            # no LM against its search without one (issue 15's 5x is for the LM modes, not this one).
            no_lm = "no LM" in name
            ref = (by.get("pyctcdecode: decode_beams (n-best + word frames)") if "n-best" in name else
                   by.get("pyctcdecode: decode + hotwords") if "hotwords" in name else
                   by.get("pyctcdecode: no LM") if no_lm else mapped)
            if name.startswith("ours") and ref:
                rows.append(f"| decoding | {name} (WER {100 * r['wer']:.2f}%) | "
                            f"{ref['decoder'].replace(' (mapped from ours)', '')} (WER {100 * ref['wer']:.2f}%) | "
                            f"{ref['cpu_s'] / r['cpu_s']:.2f}x its speed (CPU s) | {'' if no_lm else '>= 5x'} | "
                            "[decode_suite_demo.md](decode_suite_demo.md) |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(STEPS))
    parser.add_argument("--model", default=str(DEMO / "exp" / "demo" / "model_best.pt"),
                        help="trained model for transcription and decoding (make demo writes this one)")
    parser.add_argument("--train-text", default=str(DEMO / "data" / "train.jsonl"), help="LM training text")
    parser.add_argument("--dev", default=str(DEMO / "data" / "dev.jsonl"))
    parser.add_argument("--test", default=str(DEMO / "data" / "test.jsonl"))
    parser.add_argument("--pyctc-venv", default="/tmp/pyctcdecode-venv")
    parser.add_argument("--features-manifest", default=str(ROOT / "recipes" / "speechocean762" / "data" / "dev.jsonl"),
                        help="audio for the files-to-features rows (compressed audio shows what parallel extraction "
                             "buys); synthetic WAV noise when the file is missing")
    args = parser.parse_args(argv)
    info = machine()
    py = sys.executable
    model_ok = Path(args.model).is_file() and Path(args.train_text).is_file()
    steps, notes, seconds = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        lm = Path(tmp) / "lm.arpa"
        commands = {
            "training": [py, str(HERE / "train_bench.py")],
            "load": [py, str(HERE / "load_bench.py"), "--timeout", "60"],
            "features": [py, str(HERE / "features_bench.py")] + (
                ["--manifest", args.features_manifest, "--limit", "400"] if Path(args.features_manifest).is_file()
                else []),
            "transcription": [py, str(HERE / "transcribe_bench.py"), "--model", args.model, "--manifest", args.test,
                              "--lm", str(lm), "--lm-weight", "0.5", "--limit", "40", "--long-files", "20",
                              "--out", str(RESULTS / "transcribe_suite.md")],
            "scale": [py, str(HERE / "transcribe_scale_bench.py"), "--model", args.model, "--manifest", args.test,
                      "--lm", str(lm)],
            "decoding": [py, str(HERE / "decode_bench.py"), "--model", args.model, "--manifest", args.dev,
                         "--lm", str(lm), "--lm-weight", "0.5", "--word-score", "0", "--limit", "40",
                         "--name", "suite_demo", "--pyctc-venv", args.pyctc_venv, "--pyctc-alphas", "0.2171,0.5",
                         "--pyctc-betas", "0,1.5", "--hotwords", "stop,seven", "--repeats", "10"],
        }
        for step in args.only.split(","):
            if step in ("transcription", "scale", "decoding"):
                if not model_ok:
                    steps[step], notes[step] = "skipped", f"no model at {args.model} (run `make demo` first)"
                    continue
                if step == "decoding" and not pyctc_ready(Path(args.pyctc_venv)):
                    steps[step], notes[step] = "skipped", (f"no pyctcdecode venv at {args.pyctc_venv}; build it "
                                                           "(tools/bench/README.md), never inside .venv")
                    continue
                if not lm.is_file():
                    run([py, "-m", "asr.cli", "lm", "build", args.train_text, "--order", "3", "-o", str(lm)], 300)
            print(f"== {step}", flush=True)
            status, took, tail = run(commands[step], 600)
            steps[step], seconds[step] = status, took
            if status != "ok":
                notes[step] = tail.replace("\n", " / ")[-300:]
            print(f"   {status} in {took:.0f} s", flush=True)
    info.update({"steps": steps, "notes": notes, "seconds": seconds})
    lines = header("Benchmark suite (`make bench`)", info,
                   "Ratios measured side by side within each benchmark's run; each row links the benchmark's own "
                   "table (its settings, machine and load).")
    lines += ["| benchmark | measured | reference | ratio | target (issue 15) | table |", "|---|---|---|---|---|---|"]
    lines += ratio_rows(steps)
    lines += ["", "| benchmark | status | seconds | note |", "|---|---|---|---|"]
    lines += [f"| {s} | {steps[s]} | {seconds.get(s, 0):.0f} | {notes.get(s, '')} |" for s in steps]
    finish(RESULTS / "suite.md", info, lines)


if __name__ == "__main__":
    main()
