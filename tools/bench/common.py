"""Shared by the benchmarks of the suite (run_all.py): machine description, a synthetic corpus, results headers."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import soundfile as sf

RESULTS = Path(__file__).resolve().parent / "results"
WORDS = ("yes no up down left right on off stop go zero one two three four five six seven eight nine "
         "kitchen light music open close the a").split()


def versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "torchaudio", "lightning", "numpy", "librosa", "flashlight-text"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def machine(threads: int | None = None) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
        "threads": threads, "niceness": os.nice(0), "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "command": shlex.join([Path(sys.executable).name, *sys.argv]), "versions": versions(),
    }


def header(title: str, info: dict, what: str) -> list[str]:
    """The lines every results file starts with: what, when, where, with which versions, under what load."""
    load = info["load_average_at_start"]
    busy = load[0] > 0.5 * info["usable_cores"]
    return [
        f"# {title}", "", what, "",
        f"- date: {info['date']}; command: `{info['command']}`",
        f"- machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), niceness "
        f"{info['niceness']}, Python {info['python']}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in info['versions'].items())}",
        f"- load average at start (1, 5, 15 min): {load[0]}, {load[1]}, {load[2]}"
        + (f"; at end: {', '.join(map(str, info['load_average_at_end']))}" if "load_average_at_end" in info else ""),
        "",
        ("**Other processes shared the cores during this run** (load average above half the cores): absolute "
         "speeds are depressed and noisy; the ratios, measured side by side in one run, are the figures to read. "
         "Rerun on an idle machine with `make bench`." if busy else "The machine was close to idle during this run."),
        "",
    ]


def finish(path: Path, info: dict, lines: list[str]) -> None:
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}", flush=True)


def synthetic_corpus(folder: Path, count: int, seed: int = 0, rate: int = 16000,
                     seconds: tuple[float, float] = (2.0, 6.0)) -> Path:
    """``count`` WAV files of shaped noise with random word transcripts and a manifest; returns the manifest.

    For speed only: the models learn nothing from it, but every step costs what a real step of that length costs.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        duration = float(rng.uniform(*seconds))
        n = int(duration * rate)
        envelope = np.abs(np.sin(np.linspace(0, rng.uniform(3, 12) * np.pi, n))) ** 2
        samples = (0.1 * rng.standard_normal(n) * envelope).astype(np.float32)
        path = folder / f"u{i:04d}.wav"
        sf.write(path, samples, rate)
        words = " ".join(rng.choice(WORDS, size=max(1, int(duration * 2))))
        lines.append(json.dumps({"id": f"u{i:04d}", "audio": path.name, "duration": round(n / rate, 4),
                                 "text": words}))
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest
