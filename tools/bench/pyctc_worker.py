"""pyctcdecode side of decode_bench.py; runs inside the throwaway venv (numpy<2, pyctcdecode, kenlm), never ours.

Usage: python pyctc_worker.py JOB.json. JOB.json holds ``emissions`` (an .npz with arrays u0, u1, ... of
log-probs, float32, frames x labels), ``labels``, ``lm``, ``beam_width``, ``settings`` ([[alpha, beta], ...])
and ``out`` (the JSON file written back: versions, LM load seconds, and per setting the hypotheses and the
wall/CPU seconds of the ``decode`` calls alone).
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version


def main(job_path: str) -> None:
    import numpy as np
    from pyctcdecode import build_ctcdecoder

    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    with np.load(job["emissions"]) as data:
        emissions = [data[f"u{i}"] for i in range(len(data.files))]
    wall, cpu = time.perf_counter(), time.process_time()
    alpha0, beta0 = job["settings"][0]
    decoder = build_ctcdecoder(job["labels"], kenlm_model_path=job["lm"], alpha=alpha0, beta=beta0)
    lm_load = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    runs = []
    for alpha, beta in job["settings"]:
        decoder.reset_params(alpha=alpha, beta=beta)  # the same LM object, new weights
        hyps = []
        wall_s = cpu_s = 0.0
        for logits in emissions:
            wall, cpu = time.perf_counter(), time.process_time()
            text = decoder.decode(logits, beam_width=job["beam_width"])
            wall_s += time.perf_counter() - wall
            cpu_s += time.process_time() - cpu
            hyps.append(text)
        runs.append({"alpha": alpha, "beta": beta, "wall_s": wall_s, "cpu_s": cpu_s, "hyps": hyps})
    versions = {name: version(name) for name in ("pyctcdecode", "kenlm", "numpy")}
    versions["python"] = sys.version.split()[0]
    with open(job["out"], "w", encoding="utf-8") as handle:
        json.dump({"versions": versions, "lm_load": lm_load, "runs": runs}, handle)


if __name__ == "__main__":
    main(sys.argv[1])
