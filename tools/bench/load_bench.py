"""Training speed when other processes share the cores: thread counts and OpenMP's wait policy.

    python tools/bench/load_bench.py [--competitors 1] [--steps 3] [--timeout 90]

Each setting runs the bare training step of a 3x256 BiLSTM (5 utterances of 4 s, 80 mel, subsampling 4,
AdamW) in a fresh process (OpenMP reads OMP_WAIT_POLICY once, when it starts): 2 threads (what training
used before: every usable core), 2 threads with OMP_WAIT_POLICY=PASSIVE, 1 thread, and the count
``trainer.threads: 0`` picks now (asr.threads.auto_threads). Each runs twice: on the machine as it is, and
with --competitors CPU-bound processes (a Python busy loop at nice 19) started beside it. Speed: audio
seconds per second, the best of --steps steps after one warm-up; a setting still running after --timeout
seconds is stopped and reported as slower than that. Writes results/load.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_step import bare_step_times  # noqa: E402
from common import RESULTS, finish, header, machine  # noqa: E402

BATCH, FRAMES = 5, 400


def worker(threads: int, steps: int) -> None:
    import torch

    from asr.model import ModelConfig
    from asr.threads import auto_threads

    chosen = threads or auto_threads()
    torch.set_num_threads(chosen)
    torch.set_flush_denormal(True)
    config = ModelConfig(cell="lstm", hidden_size=256, num_layers=3, dropout=0.2, subsampling=4)
    times, audio = bare_step_times(config, BATCH, FRAMES, steps + 1)
    print(json.dumps({"threads": chosen, "speed": audio / min(times[1:]), "step_s": times}), flush=True)


def run_setting(threads: int, passive: bool, steps: int, timeout: float) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    command = [sys.executable, __file__, "--worker", str(threads), "--steps", str(steps)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"speed": None}
    except subprocess.CalledProcessError as exc:
        return {"speed": None, "error": exc.stderr[-500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competitors", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--out", default=str(RESULTS / "load.md"))
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker(args.worker, args.steps)
    info = machine()
    settings = [("2 threads (before: every usable core)", 2, False), ("2 threads, OMP_WAIT_POLICY=PASSIVE", 2, True),
                ("1 thread", 1, False), ("trainer.threads: 0 now (load-aware)", 0, False)]
    results: dict[str, dict] = {}
    for condition in ("as is", f"+ {args.competitors} busy loop(s), nice 19"):
        busy = [] if condition == "as is" else [
            subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
            for _ in range(args.competitors)]
        try:
            time.sleep(2 if busy else 0)
            for name, threads, passive in settings:
                row = run_setting(threads, passive, args.steps, args.timeout)
                row["load"] = round(os.getloadavg()[0], 2)
                results.setdefault(name, {})[condition] = row
                print(name, condition, row, flush=True)
        finally:
            for process in busy:
                process.kill()
                process.wait()
    info["results"] = results
    conditions = list(next(iter(results.values())))
    base = results[settings[0][0]]
    lines = header("Training under load: thread counts and OpenMP's wait policy", info,
                   "The bare training step of a 3x256 BiLSTM (5 x 4 s, 80 mel, subsampling 4, AdamW), each setting "
                   "in a fresh process. Audio seconds per second (best of "
                   f"{args.steps} steps after a warm-up); in brackets the speed relative to the first row in the same "
                   "condition, and the 1-minute load average when the setting finished.")

    def cell(row: dict, ref: dict) -> str:
        if row.get("speed") is None:
            return f"{args.steps + 1} steps unfinished after {args.timeout:g} s (stopped)"
        rel = f", {row['speed'] / ref['speed']:.1f}x" if ref.get("speed") else ""
        return f"{row['speed']:.1f} ({row.get('threads', '?')} threads{rel}; load {row['load']})"

    lines += ["| setting | " + " | ".join(conditions) + " |", "|---" * (len(conditions) + 1) + "|"]
    for name, _, _ in settings:
        lines.append(f"| {name} | " + " | ".join(cell(results[name][c], base[c]) for c in conditions) + " |")
    finish(Path(args.out), info, lines)


if __name__ == "__main__":
    main()
