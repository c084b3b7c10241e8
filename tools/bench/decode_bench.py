"""Decoding benchmark: WER/CER and real-time factor of our decoders and pyctcdecode on the same CTC emissions.

Emissions are computed once (``Transcriber.emissions``) and every decoder reads the same ones; the acoustic
model time is reported on its own line. pyctcdecode pins numpy<2, so it runs in a throwaway venv (created
on first use) as a subprocess of this script, fed the emissions as an .npz. See tools/bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from asr.decode import DecoderConfig, Hypothesis, build_decoder
from asr.decode.beam import BeamDecoder
from asr.scoring import ScoringSet
from asr.text import BLANK, WORD_SEP

HERE = Path(__file__).resolve().parent
# pyctcdecode multiplies KenLM's log10 scores by alpha / log10(e) = alpha * ln(10); flashlight (ours)
# multiplies them by lm_weight. Both add beta / word_score once per word, in natural-log units.
LOG10_E = math.log10(math.e)


@dataclass
class Row:
    decoder: str
    settings: str
    wer: float
    cer: float
    wall_s: float  # decode calls only
    cpu_s: float
    setup_s: float  # decoder construction (LM loading); not in wall_s
    audio_s: float

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model file (model_best.pt)")
    p.add_argument("--manifest", required=True, help="dev manifest (JSON lines)")
    p.add_argument("--lm", required=True, help="word n-gram LM in ARPA format")
    p.add_argument("--lm-weight", type=float, required=True, help="ours: LM weight (from 'asr lm tune')")
    p.add_argument("--word-score", type=float, required=True, help="ours: word score (from 'asr lm tune')")
    p.add_argument("--beam-size", type=int, default=50, help="beam size of ours and pyctcdecode's beam_width")
    p.add_argument("--name", help="results name: results/decode_NAME.{md,json} (default: model folder-manifest)")
    p.add_argument("--out-dir", default=str(HERE / "results"), help="folder for the results files")
    p.add_argument("--pyctc-venv", default="/tmp/pyctcdecode-venv", help="throwaway venv for pyctcdecode")
    p.add_argument("--skip-pyctc", action="store_true", help="leave pyctcdecode out")
    p.add_argument("--pyctc-alphas", default="0.25,0.5,1", help="pyctcdecode grid: alpha values")
    p.add_argument("--pyctc-betas", default="0,1.5,3", help="pyctcdecode grid: beta values")
    p.add_argument("--limit", type=int, default=0, help="first N utterances only (0 = all)")
    p.add_argument("--threads", type=int, default=1, help="torch (and OMP/BLAS) threads")
    p.add_argument("--repeats", type=int, default=1, help="time the fastest of N passes (ours and pyctcdecode)")
    p.add_argument("--hotwords", default="", help="comma-separated hotwords for the hotword rows (none: no rows)")
    return p.parse_args(argv)


def ensure_pyctc_venv(venv: Path) -> tuple[Path, float | None]:
    """The venv's python, creating the venv if it cannot import pyctcdecode and kenlm; seconds spent building."""
    python = venv / "bin" / "python"
    if venv.resolve() == Path(sys.prefix).resolve():
        sys.exit(f"refusing to install pyctcdecode (numpy<2) into the running venv {sys.prefix}")
    check = [str(python), "-c", "import pyctcdecode, kenlm"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, None
    print(f"building {venv} (pyctcdecode, kenlm from source, numpy<2) ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(["nice", "-n", "19", str(python), "-m", "pip", "install", "--quiet", "pyctcdecode", "kenlm",
                    "numpy<2"], check=True)
    subprocess.run(check, check=True)
    return python, time.perf_counter() - start


def timed_decode(decode: Callable[[torch.Tensor], str], emissions: Sequence[torch.Tensor],
                 repeats: int = 1) -> tuple[list[str], float, float]:
    """Hypotheses and the wall / CPU seconds of decoding every utterance: the fastest of ``repeats`` passes
    (a small set decodes in milliseconds, where one pass is mostly timing noise)."""
    best = (math.inf, math.inf)
    for _ in range(max(1, repeats)):
        hyps: list[str] = []
        wall_s = cpu_s = 0.0
        for e in emissions:
            wall, cpu = time.perf_counter(), time.process_time()
            hyps.append(decode(e))
            wall_s += time.perf_counter() - wall
            cpu_s += time.process_time() - cpu
        best = min(best, (cpu_s, wall_s))
    return hyps, best[1], best[0]


def run_pyctc(python: Path, emissions: Sequence[torch.Tensor], labels: list[str], lm: str, beam_width: int,
              settings: list[tuple[float, float]], threads: int, workdir: Path, extra: list[dict] = (),
              repeats: int = 1) -> dict:
    np.savez(workdir / "emissions.npz", **{f"u{i}": e.numpy().astype(np.float32) for i, e in enumerate(emissions)})
    job = {"emissions": str(workdir / "emissions.npz"), "labels": labels, "lm": lm, "beam_width": beam_width,
           "settings": settings, "extra": list(extra), "repeats": repeats, "out": str(workdir / "pyctc_out.json")}
    (workdir / "job.json").write_text(json.dumps(job), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    subprocess.run([str(python), str(HERE / "pyctc_worker.py"), str(workdir / "job.json")], check=True, env=env)
    return json.loads((workdir / "pyctc_out.json").read_text(encoding="utf-8"))


def machine_info(threads: int) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "cpu": cpu, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
        "torch_threads": threads, "niceness": os.nice(0),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]), "cwd": os.getcwd(), "python": platform.python_version(),
        "versions": {n: version(n) for n in ("torch", "torchaudio", "flashlight-text", "numpy")},
    }


def write_results(path_md: Path, info: dict, rows: list[Row], grid: list[Row]) -> None:
    head = ["| decoder | settings | WER % | CER % | RTF | decode s | CPU s | setup s |", "|---" * 8 + "|"]

    def table(items: list[Row]) -> list[str]:
        return head + [f"| {r.decoder} | {r.settings} | {100 * r.wer:.2f} | {100 * r.cer:.2f} | {r.rtf:.5f} | "
                       f"{r.wall_s:.2f} | {r.cpu_s:.2f} | {r.setup_s:.2f} |" for r in items]

    m, d = info["machine"], info["data"]
    lines = [
        f"# Decoding benchmark: {info['name']}", "",
        f"Model `{d['model']}`, manifest `{d['manifest']}` ({d['utterances']} utterances, "
        f"{d['audio_s'] / 60:.1f} min of audio), LM `{d['lm']}`. Beam size {d['beam_size']} for every beam "
        "search (pyctcdecode: `beam_width`). RTF = decode seconds / audio seconds, on cached emissions "
        f"(the fastest of {d.get('repeats', 1)} pass(es), for ours and pyctcdecode alike); "
        "setup (decoder construction, LM loading) is not in it. Pruning differs: ours tries the "
        f"{DecoderConfig().beam_size_token or 'all'} best tokens per frame (beam_size_token) within beam_threshold "
        f"{DecoderConfig().beam_threshold:g}, after keeping one frame of each run of frames whose blank "
        f"probability exceeds {DecoderConfig().blank_skip:g} (blank_skip; the \"every frame\" rows decode them "
        "all); the lexicon-free LM rows (the compiled prefix search) also skip tokens below log-prob "
        f"{DecoderConfig().token_min_logp:g} (token_min_logp), the \"Python LM (before)\" row does not; "
        "pyctcdecode's `decode()` skips tokens below log-prob -5 "
        "(token_min_logp), beams 10 below the best (beam_prune_logp) and beams that share the LM history "
        "(prune_history).", "",
        *table(rows), "",
        f"Acoustic model (once, shared by all rows): model loading, features and network {d['emissions_s']:.2f} s "
        f"(RTF {d['emissions_s'] / d['audio_s']:.5f}).",
    ]
    if grid:
        p = info["pyctcdecode"]
        lines += [
            "", "## pyctcdecode, every setting", "",
            "Alpha weights natural-log LM scores (KenLM's log10 x ln 10); our lm_weight weights log10 scores, "
            "so ours maps to alpha = lm_weight x log10(e), beta = word_score. It is lexicon-free but reads the "
            "ARPA unigrams: a partial word that starts no LM word costs -10 (unk_score_offset, not scaled by "
            f"alpha), and the best setting is chosen on this same set, as ours were tuned. LM loading "
            f"{p['lm_load']['wall_s']:.3f} s (the setup column). Versions: "
            + ", ".join(f"{k} {v}" for k, v in p["versions"].items())
            + (f". Throwaway venv `{p['venv']}` built in {p['venv_build_s']:.0f} s." if p.get("venv_build_s")
               else f". Throwaway venv `{p['venv']}` reused."), "",
            *table(grid),
        ]
    lines += [
        "", "## Machine", "",
        f"- CPU: {m['cpu']}; {m['cores']} cores ({m['usable_cores']} usable); torch threads {m['torch_threads']}; "
        f"niceness {m['niceness']}",
        f"- load average at start: {m['load_average_at_start']} (other processes share the cores; "
        "CPU s counts this process only)",
        f"- date: {m['date']}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- command (in `{m['cwd']}`): `{m['command']}`", "",
    ]
    path_md.write_text("\n".join(lines), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    name = args.name or f"{Path(args.model).resolve().parent.name}-{Path(args.manifest).stem}"
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lm = str(Path(args.lm).resolve())
    info: dict = {"name": name, "machine": machine_info(args.threads)}
    python, venv_build_s = None, None
    if not args.skip_pyctc:  # fail before the long part if the venv cannot be built
        python, venv_build_s = ensure_pyctc_venv(Path(args.pyctc_venv))

    start = time.perf_counter()
    # Model load, features and the network together: the scoring pipeline computes emissions once.
    scoring = ScoringSet.load(args.model, args.manifest, limit=args.limit)
    emissions_s = time.perf_counter() - start
    bundle = scoring.transcriber.bundle
    emissions = scoring.emissions
    audio_s = scoring.audio_seconds
    info["data"] = {"model": args.model, "manifest": args.manifest, "lm": args.lm, "utterances": len(scoring.utts),
                    "audio_s": audio_s, "beam_size": args.beam_size, "emissions_s": emissions_s,
                    "repeats": args.repeats, "frame_shift": bundle.frame_shift}

    norm = bundle.normalizer

    def row(decoder: str, settings: str, hyps: list[str], wall_s: float, cpu_s: float, setup_s: float) -> Row:
        report = scoring.score([Hypothesis(h) for h in hyps])
        print(f"{decoder:28s} {settings:40s} WER {100 * report.wer:6.2f}%  RTF {wall_s / audio_s:.4f}",
              file=sys.stderr, flush=True)
        return Row(decoder, settings, report.wer, report.cer, wall_s, cpu_s, setup_s, audio_s)

    beam = DecoderConfig(kind="beam", beam_size=args.beam_size)
    with_lm = dataclasses.replace(beam, lm=lm, lm_weight=args.lm_weight, word_score=args.word_score)
    ours = [
        ("greedy", "", DecoderConfig(kind="greedy")),
        ("ours: beam, no LM", f"beam {args.beam_size}", beam),
        ("ours: beam + LM, lexicon-free", f"lm_weight {args.lm_weight}, word_score {args.word_score}", with_lm),
        ("ours: beam + LM, lexicon=lm", f"lm_weight {args.lm_weight}, word_score {args.word_score}",
         dataclasses.replace(with_lm, lexicon="lm")),
    ]
    # Each beam search also with every frame decoded (blank_skip 1, the behaviour before blank skipping).
    ours += [(f"{label} (every frame)", f"{settings}, blank_skip 1", dataclasses.replace(config, blank_skip=1.0))
             for label, settings, config in ours if config.kind == "beam"]
    # Lexicon-free with the LM before the compiled search: flashlight's search with the Python word LM.
    python_lm = "ours: beam + LM, lexicon-free, Python LM (before)"
    ours.append((python_lm, f"lm_weight {args.lm_weight}, word_score {args.word_score}", with_lm))
    # The other modes: an n-best of 10 (word times come with every hypothesis), and hotwords.
    ours.append(("ours: beam + LM, n-best 10 + word times", f"lm_weight {args.lm_weight}, word_score "
                 f"{args.word_score}", dataclasses.replace(with_lm, nbest=10)))
    hotwords = [w for w in args.hotwords.split(",") if w.strip()]
    if hotwords:
        ours.append(("ours: beam + LM + hotwords", f"{', '.join(hotwords)} (boost {DecoderConfig().hotword_boost:g})",
                     dataclasses.replace(with_lm, hotwords=hotwords)))
    rows: list[Row] = []
    for label, settings, config in ours:
        start = time.perf_counter()
        decoder = (BeamDecoder(config, bundle.tokenizer, norm, compiled=False) if label == python_lm
                   else build_decoder(config, bundle.tokenizer, norm))
        setup_s = time.perf_counter() - start
        hyps, wall_s, cpu_s = timed_decode(lambda e, d=decoder: d.decode(e, bundle.frame_shift).text, emissions,
                                           args.repeats)
        rows.append(row(label, settings, hyps, wall_s, cpu_s, setup_s))

    grid: list[Row] = []
    if python is not None:
        mapped = (round(args.lm_weight * LOG10_E, 4), args.word_score)
        settings = [mapped, (0.5, 1.5)]
        settings += [(a, b) for a in _floats(args.pyctc_alphas) for b in _floats(args.pyctc_betas)]
        settings = list(dict.fromkeys(settings))  # unique, in order
        labels = ["" if s == BLANK else " " if s == WORD_SEP else s for s in bundle.tokenizer.symbols]
        alpha, beta = mapped
        extra = [{"label": "pyctcdecode: decode_beams (n-best + word frames)", "alpha": alpha, "beta": beta,
                  "beams": True},
                 {"label": "pyctcdecode: no LM", "alpha": alpha, "beta": beta, "no_lm": True}]
        if hotwords:
            extra.append({"label": "pyctcdecode: decode + hotwords", "alpha": alpha, "beta": beta,
                          "hotwords": hotwords, "hotword_weight": 10.0})
        with tempfile.TemporaryDirectory(prefix="decode-bench-") as tmp:
            out = run_pyctc(python, emissions, labels, lm, args.beam_size, settings, args.threads, Path(tmp), extra,
                            args.repeats)
        load_s = out["lm_load"]["wall_s"]
        for run in out["runs"]:
            grid.append(row("pyctcdecode", f"alpha {run['alpha']}, beta {run['beta']}", run["hyps"], run["wall_s"],
                            run["cpu_s"], load_s))
        best = min(grid, key=lambda r: (r.wer, r.cer))
        for run in out.get("extra", []):
            settings_text = f"alpha {run['alpha']}, beta {run['beta']}" + (
                f", hotword_weight {run['hotword_weight']:g}" if "hotwords" in run else "")
            if run.get("no_lm"):
                settings_text = f"beam_width {args.beam_size}"
            rows.append(row(run["label"], settings_text, run["hyps"], run["wall_s"], run["cpu_s"],
                            0.0 if run.get("no_lm") else load_s))
        for label, r in (("mapped from ours", grid[0]), ("defaults", grid[1]), ("best of all settings", best)):
            rows.append(dataclasses.replace(r, decoder=f"pyctcdecode ({label})"))
        info["pyctcdecode"] = {"versions": out["versions"], "lm_load": out["lm_load"], "venv": args.pyctc_venv,
                               "venv_build_s": venv_build_s, "settings": settings}

    info["rows"] = [dict(dataclasses.asdict(r), rtf=r.rtf) for r in rows]
    info["pyctcdecode_grid"] = [dict(dataclasses.asdict(r), rtf=r.rtf) for r in grid]
    info["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    md, js = out_dir / f"decode_{name}.md", out_dir / f"decode_{name}.json"
    write_results(md, info, rows, grid)
    js.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {js}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
