"""Helpers for the tests of ``asr serve``: a small model that always says something, a real server in a
subprocess on a free localhost port, and plain-HTTP requests (the standard library's, no test client)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from asr.checkpoint import AsrBundle, save_bundle
from asr.decode import DecoderConfig
from asr.features import FeatureConfig
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, TextNormalizer

ROOT = Path(__file__).resolve().parents[1]


def talkative_model(path: Path, sample_rate: int = 16000) -> Path:
    """An untrained tiny model made to speak: its recurrent layer follows the input more (input weights x3),
    and its output favours the word separator over the blank, so a recording of speech gives several words
    (of the letter o) with varied times and confidences; deterministic for a given input."""
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["ab", "ba", "o"])
    features = FeatureConfig(sample_rate=sample_rate, n_mels=20)
    model = CtcModel(ModelConfig(cell="gru", hidden_size=8, num_layers=1, conv_channels=2, input_dim=6,
                                 cmvn="utterance"), features.n_mels, len(tokenizer)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "weight_ih" in name:
                param.mul_(3.0)
        model.head.weight.mul_(4.0)
        model.head.bias.zero_()
        model.head.bias[tokenizer.blank_id] = -2.0
        model.head.bias[tokenizer.word_sep_id] = 1.0
    bundle = AsrBundle(model, features, tokenizer, TextNormalizer(), DecoderConfig("greedy"), {"epoch": 0})
    return save_bundle(bundle, path)


def demo_wavs(out_dir: Path) -> list[Path]:
    """Four utterances of the built-in demo corpus (eSpeak NG speech, 16 kHz WAV, 1-3 s each)."""
    from asr.data.corpora.demo import generate_demo_corpus

    paths = generate_demo_corpus(out_dir, n_train=1, n_dev=1, n_test=2, seed=0)
    return [out_dir / json.loads(line)["audio"] for split in ("train", "dev", "test") for line in open(paths[split])]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    tmpdir: Path  # the server's TMPDIR: where its uploads go while a request lasts

    def rss_kib(self, field: str = "VmRSS") -> int:
        """The server process's resident memory (or its peak, VmHWM) in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1))


@contextlib.contextmanager
def running_server(model: Path, tmp: Path, *args: str, timeout: float = 120.0) -> Iterator[Server]:
    """``asr serve MODEL --port 0 ARGS`` in a subprocess; the URL from the first line it prints."""
    tmpdir = tmp / "server-tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    log = open(tmp / "server.log", "w+b")
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "asr.cli", "serve", str(model), "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=log, env=env, cwd=tmp)
    try:
        deadline = time.monotonic() + timeout
        line = process.stdout.readline().decode()
        match = re.search(r"on (http://\S+/) ", line)
        if not match:
            log.seek(0)
            raise AssertionError(f"server did not start: {line!r} {log.read().decode()[-2000:]}")
        server = Server(match.group(1), process, tmpdir)
        while time.monotonic() < deadline:  # the socket listens before uvicorn is ready to answer
            with contextlib.suppress(OSError):
                if get_json(server.url + "v1/health")[0] == 200:
                    break
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        log.close()


def request(url: str, data: bytes | None = None, headers: dict | None = None,
            timeout: float = 120.0) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request; HTTP errors are answers here, not exceptions."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def get_json(url: str) -> tuple[int, dict]:
    status, _, body = request(url)
    return status, json.loads(body)


def multipart(filename: str, content: bytes, field: str = "file") -> tuple[bytes, dict]:
    """A multipart/form-data body with one file part, and its Content-Type header."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(url: str, filename: str, content: bytes, query: str = "") -> tuple[int, dict, bytes]:
    body, headers = multipart(filename, content)
    return request(f"{url}v1/transcribe{query}", body, headers)
