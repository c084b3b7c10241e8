"""Family 7: a seeded fuzz pass over the readers. Valid files (WAV, FLAC, manifest, NeMo manifest, Kaldi
tables, ARPA, YAML config, model file) are mutated with a seeded RNG (byte flips, truncation, splices,
numbers swapped for extreme values, lines dropped or repeated) and read back; anything other than one of
the toolkit's own errors (``AsrError`` subclasses) is a failure. Bounded by iterations (a few seconds each
on one core), so CI runs it every time; ``ASR_FUZZ_SCALE=10`` runs ten times as many, ``ASR_FUZZ_SEED=N``
other mutations.
"""

from __future__ import annotations

import json
import os
import random
import re
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.errors import AsrError

SCALE = float(os.environ.get("ASR_FUZZ_SCALE", "1"))
SEED = int(os.environ.get("ASR_FUZZ_SEED", "0"))  # another value: other mutations (CI keeps 0: reproducible)
EXTREMES = ["0", "-1", "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999", "1e-320", "4294967296",
            "99999999999999999999", "9" * 5000, "0.0", "-0", "1e308", "true", "null", '""', "[]", "{}"]
NUMBER = re.compile(rb"-?\d+(\.\d+)?(e[-+]?\d+)?")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: a second thread only adds contention (20x slower on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _mutate_bytes(data: bytes, rng: random.Random, hot: int = 0) -> bytes:
    """One of: flip bytes (``hot``: mostly in the first ``hot`` bytes, a header), truncate, splice, repeat."""
    buf = bytearray(data)
    choice = rng.randrange(6)
    if choice == 0 and buf:
        for _ in range(rng.randint(1, 8)):
            limit = hot if hot and rng.random() < 0.8 else len(buf)
            buf[rng.randrange(min(limit, len(buf)))] = rng.randrange(256)
    elif choice == 1:
        del buf[rng.randrange(len(buf) + 1):]
    elif choice == 2 and buf:
        start = rng.randrange(len(buf))
        buf[start:start + rng.randint(1, 16)] = rng.randbytes(rng.randint(0, 16))
    elif choice == 3 and buf:
        start = rng.randrange(len(buf))
        buf[start:start] = buf[start:start + rng.randint(1, 64)] * rng.randint(1, 50)
    elif choice == 4 and buf:
        start = rng.randrange(len(buf))
        buf[start:start + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f"])
    else:
        matches = list(NUMBER.finditer(bytes(buf)))
        if matches:
            m = rng.choice(matches)
            buf[m.start():m.end()] = rng.choice(EXTREMES).encode()
    return bytes(buf)


def _mutate_text(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    choice = rng.randrange(5)
    if choice == 0 and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    elif choice == 1:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif choice == 2:
        i = rng.randrange(len(lines))
        lines[i] = lines[i].replace(b" ", b"\t", 1) if rng.random() < 0.5 else lines[i][::-1]
    else:
        return _mutate_bytes(data, rng)
    return b"\n".join(lines)


def _fuzz(seed_file: Path, read: Callable[[Path], object], iterations: int, seed: int, text: bool = False,
          hot: int = 0, rounds: int = 3) -> dict[str, int]:
    rng = random.Random(seed + 1000 * SEED)
    good = seed_file.read_bytes()
    target = seed_file.with_name("fuzzed" + seed_file.suffix)
    outcomes = {"accepted": 0, "refused": 0}
    failures = []
    for i in range(int(iterations * SCALE)):
        data = good
        for _ in range(rng.randint(1, rounds)):
            data = _mutate_text(data, rng) if text else _mutate_bytes(data, rng, hot)
        target.write_bytes(data)
        try:
            read(target)
            outcomes["accepted"] += 1
        except AsrError as exc:
            outcomes["refused"] += 1
            message = str(exc)
            if "\n" in message or len(message) > 1000:
                failures.append(f"iteration {i}: error message not one short line: {message[:200]!r}")
        except Exception as exc:  # noqa: BLE001 - the point of the test
            failures.append(f"iteration {i}: {type(exc).__name__}: {str(exc)[:200]}\n"
                            f"{''.join(traceback.format_exc().splitlines(True)[-4:])}")
            (seed_file.parent / f"failure-{i}{seed_file.suffix}").write_bytes(data)
    assert not failures, f"{len(failures)} failures, first: " + "\n".join(failures[:3])
    print(f"{seed_file.name}: {outcomes}")
    return outcomes


def test_fuzz_wav_headers(tmp_path: Path) -> None:
    from asr.audio import audio_info, load_audio, stream_audio

    path = tmp_path / "good.wav"
    t = np.arange(4000) / 8000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000, subtype="PCM_16")

    def read(p: Path) -> None:
        audio_info(p)
        load_audio(p, 16000)
        for _ in stream_audio(p, 16000, chunk_seconds=0.2):
            pass

    outcomes = _fuzz(path, read, 300, seed=1, hot=64)
    assert outcomes["refused"] > 0 and outcomes["accepted"] > 0  # the mutations reach both outcomes


def test_fuzz_flac(tmp_path: Path) -> None:
    from asr.audio import audio_info, load_audio

    path = tmp_path / "good.flac"
    sf.write(path, np.random.default_rng(0).uniform(-0.3, 0.3, 4000).astype(np.float32), 8000)
    _fuzz(path, lambda p: (audio_info(p), load_audio(p, 16000)), 150, seed=2, hot=128)


def test_fuzz_manifests(tmp_path: Path) -> None:
    from asr.data.manifest import read_manifest

    lines = [{"id": f"u{i}", "audio": f"wav/u{i}.wav", "duration": 1.25 + i, "text": "hello world",
              "speaker": "s1", "offset": 0.5 * i} for i in range(4)]
    path = tmp_path / "good.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    outcomes = _fuzz(path, read_manifest, 600, seed=3, text=True)
    assert outcomes["refused"] > 0 and outcomes["accepted"] > 0


def test_fuzz_nemo_and_kaldi(tmp_path: Path) -> None:
    from asr.data.importers import import_kaldi_dir, import_nemo_manifest
    from asr.data.manifest import read_manifest, write_manifest

    wav = tmp_path / "rec.wav"
    sf.write(wav, np.zeros(16000, np.float32), 8000)
    nemo = tmp_path / "good.json"
    nemo.write_text("".join(json.dumps({"audio_filepath": "rec.wav", "duration": 0.5 + i, "offset": 0.1 * i,
                                        "text": "hi there"}) + "\n" for i in range(3)))

    def through_writer(utts) -> None:  # whatever an importer accepts must write and read back
        read_manifest(write_manifest(tmp_path / "out.jsonl", utts))

    _fuzz(nemo, lambda p: through_writer(import_nemo_manifest(p)), 200, seed=4, text=True)
    data = tmp_path / "kaldi"
    data.mkdir()
    (data / "wav.scp").write_text(f"rec {wav}\n")
    (data / "text").write_text("a hello\nb world\n")
    segments = tmp_path / "good.segments"
    segments.write_text("a rec 0.0 0.8\nb rec 0.8 1.9\n")

    def kaldi(p: Path) -> None:
        (data / "segments").write_bytes(p.read_bytes())
        through_writer(import_kaldi_dir(data))

    _fuzz(segments, kaldi, 200, seed=5, text=True)


def test_fuzz_arpa(tmp_path: Path) -> None:
    from asr.lm.arpa import ArpaModel
    from asr.lm.ngram import LmConfig, build_lm

    path = tmp_path / "good.arpa"
    build_lm(["a b c", "a c b", "b a", "c c a b"], LmConfig(order=3)).write_arpa(path)

    def read(p: Path) -> None:
        model = ArpaModel.load(p)
        for sentence in (["a", "b"], ["c", "zzz"]):
            score = model.sentence_logprob(sentence)
            assert not np.isnan(score) and score != float("inf")  # -inf: a word the LM cannot produce

    outcomes = _fuzz(path, read, 500, seed=6, text=True)
    assert outcomes["refused"] > 0


def test_fuzz_yaml_configs(tmp_path: Path) -> None:
    from asr.config import load_config

    path = tmp_path / "good.yaml"
    path.write_text((Path(__file__).resolve().parents[2] / "conf" / "demo.yaml").read_text())
    outcomes = _fuzz(path, load_config, 300, seed=7, text=True)
    assert outcomes["refused"] > 0 and outcomes["accepted"] > 0


def test_fuzz_model_files(tmp_path: Path, tiny_model: Path) -> None:
    """Bytes of the torch zip (headers and pickle), then the stored settings with values swapped."""
    from asr.checkpoint import load_bundle

    def read(p: Path) -> None:
        bundle = load_bundle(p)
        assert all(torch.isfinite(v).all() for v in bundle.model.state_dict().values() if v.is_floating_point())

    _fuzz(tiny_model, read, 150, seed=8, hot=256)

    payload = torch.load(tiny_model, weights_only=True)
    rng = random.Random(9)
    meta_file = tmp_path / "meta.json"
    meta_file.write_text(payload["meta"])

    def read_meta(p: Path) -> None:
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return
        torch.save({**payload, "meta": text}, tmp_path / "meta_model.pt")
        read(tmp_path / "meta_model.pt")

    _fuzz(meta_file, read_meta, 300, seed=rng.randrange(1000), text=True)


def test_fuzz_training_metrics_csv(tmp_path: Path) -> None:
    """`asr plot` reads a run's metrics.csv files."""
    from asr.plots import read_metrics

    run = tmp_path / "run"
    (run / "logs" / "version_0").mkdir(parents=True)
    path = tmp_path / "good.csv"
    rows = ["epoch,step,train_loss,val_loss,val_wer,val_cer"] + [f"{e},{10 * e + 9},{5 - e * 0.5},{6 - e * 0.4},"
                                                                  f"{1 - e * 0.1},{0.8 - e * 0.1}" for e in range(4)]
    path.write_text("\n".join(rows) + "\n")

    def read(p: Path) -> None:
        (run / "logs" / "version_0" / "metrics.csv").write_bytes(p.read_bytes())
        read_metrics(run)

    outcomes = _fuzz(path, read, 300, seed=10, text=True)
    assert outcomes["refused"] > 0 and outcomes["accepted"] > 0


def test_fuzz_lexicons_and_hotwords(tmp_path: Path, tiny_model: Path) -> None:
    from asr.checkpoint import load_bundle
    from asr.decode.hotwords import read_hotwords
    from asr.decode.lexicon import read_lexicon

    tokenizer = load_bundle(tiny_model).tokenizer
    lexicon = tmp_path / "good.lex"
    lexicon.write_text("ab a b |\nba b a\nabba\naa a a\n")
    _fuzz(lexicon, lambda p: read_lexicon(p, tokenizer), 200, seed=11, text=True)
    hotwords = tmp_path / "good.hot"
    hotwords.write_text("ab:2.5\nba ab\n# a comment\nabba:-1\n")
    _fuzz(hotwords, lambda p: read_hotwords(p, 4.0), 200, seed=12, text=True)
