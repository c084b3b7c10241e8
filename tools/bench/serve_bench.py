"""Concurrent-request benchmark of ``asr serve``: requests/s and latency percentiles for short utterances.

Starts a real server (``asr serve MODEL --port 0 --slots K``) per slot count, sends ``--requests`` multipart
uploads of the manifest's files from ``C`` client threads at once for each concurrency ``C``, and writes a
Markdown table with the machine and the command. Traffic goes to 127.0.0.1 only; every loop is bounded.

    .venv/bin/python tools/bench/serve_bench.py --model recipes/demo/exp/demo/model_best.pt \\
        --manifest recipes/demo/data/test.jsonl --requests 120 --concurrency 1,4,20 --slots 1,2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_server(model: Path, slots: int) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "asr.cli", "serve", str(model), "--port", "0",
                                "--slots", str(slots), "--max-waiting", "1000"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = process.stdout.readline().decode()
    match = re.search(r"on (http://\S+/) ", line)
    if not match:
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    url = match.group(1)
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "v1/health", timeout=5):
                break
        except OSError:
            time.sleep(0.1)
    return process, url


def post(url: str, name: str, content: bytes) -> tuple[int, float]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n").encode() \
        + content + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url + "v1/transcribe", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=300) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def rss_peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) / 1024


def run(model: Path, files: list[tuple[str, bytes, float]], slots: int, concurrency: list[int],
        requests: int) -> list[dict]:
    process, url = start_server(model, slots)
    rows = []
    try:
        for name, content, _ in files[:4]:  # warm-up, not timed
            post(url, name, content)
        for c in concurrency:
            jobs = [files[i % len(files)] for i in range(requests)]
            start = time.perf_counter()
            with ThreadPoolExecutor(c) as pool:
                results = list(pool.map(lambda f: post(url, f[0], f[1]), jobs))
            wall = time.perf_counter() - start
            latencies = [t for _, t in results]
            statuses = [s for s, _ in results]
            rows.append({"slots": slots, "concurrency": c, "requests": requests, "ok": statuses.count(200),
                         "wall": wall, "rps": requests / wall, "audio_s_per_s": sum(f[2] for f in jobs) / wall,
                         "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                         "max": max(latencies), "mean": statistics.mean(latencies),
                         "rss_peak_mib": rss_peak_mib(process.pid)})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--manifest", required=True, type=Path, help="short utterances to send (JSON lines)")
    parser.add_argument("--limit", type=int, default=40, help="files taken from the manifest")
    parser.add_argument("--requests", type=int, default=120, help="requests per concurrency level")
    parser.add_argument("--concurrency", default="1,4,20", help="client threads sending at once")
    parser.add_argument("--slots", default="1,2", help="server decode slots (asr serve --slots)")
    parser.add_argument("--out", type=Path, default=ROOT / "tools/bench/results/serve.md")
    args = parser.parse_args()

    entries = [json.loads(line) for line in open(args.manifest) if line.strip()][: args.limit]
    files = [(Path(e["audio"]).name, (args.manifest.parent / e["audio"]).read_bytes(), float(e["duration"]))
             for e in entries]
    load_start = os.getloadavg()
    rows = []
    for slots in map(int, args.slots.split(",")):
        rows += run(args.model, files, slots, [int(c) for c in args.concurrency.split(",")], args.requests)
    load_end = os.getloadavg()

    durations = [f[2] for f in files]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])
    lines = [
        "# asr serve: concurrent requests",
        "",
        f"{datetime.date.today()}: `{command}`",
        "",
        f"Model `{args.model}`; {len(files)} files from `{args.manifest}` "
        f"({min(durations):.1f}-{max(durations):.1f} s, "
        f"mean {statistics.mean(durations):.1f} s), sent in turn as multipart uploads to a real `asr serve` on "
        "127.0.0.1 (one new connection per request, urllib). Latency is per request, from sending to the last "
        "byte of the answer; the client threads run on the same two cores as the server.",
        "",
        "| slots | clients at once | requests | answered 200 | requests/s | audio s per s | p50 latency | "
        "p95 latency | max | server peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['slots']} | {r['concurrency']} | {r['requests']} | {r['ok']} | {r['rps']:.1f} | "
                     f"{r['audio_s_per_s']:.1f} | {1000 * r['p50']:.0f} ms | {1000 * r['p95']:.0f} ms | "
                     f"{1000 * r['max']:.0f} ms | {r['rss_peak_mib']:.0f} MiB |")
    lines += [
        "",
        "## Machine",
        "",
        f"- CPU: {cpu}; {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); niceness {os.nice(0)}",
        f"- load average at start {[round(x, 2) for x in load_start]}, at end {[round(x, 2) for x in load_end]}"
        " (other jobs on the machine share the cores when these are high)",
        f"- versions: torch {version('torch')}, fastapi {version('fastapi')}, uvicorn {version('uvicorn')}, "
        f"Python {platform.python_version()}",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
