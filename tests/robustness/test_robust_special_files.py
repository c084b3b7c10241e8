"""Family 6: inputs that are not regular files (FIFOs, character devices, symbolic link loops, directories)
as audio, manifest, config, LM, lexicon, hotword, LM text and model paths. Each gets one line saying what it
is; none is opened (a FIFO would block until a writer came, /dev/zero would be read without end).

Every case runs in a subprocess with a timeout, so a hang fails the test instead of stopping the suite.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

KINDS = {"FIFO": "a FIFO (named pipe)", "char device": "a character device", "symlink loop": "a symbolic link loop",
         "directory": "a directory"}


def _make(tmp_path: Path, kind: str, name: str) -> str:
    path = tmp_path / name
    if kind == "FIFO":
        os.mkfifo(path)
    elif kind == "symlink loop":
        path.symlink_to(path)
    elif kind == "directory":
        path.mkdir()
    else:
        return "/dev/zero"
    return str(path)


def _asr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asr.cli", *args], capture_output=True, text=True, timeout=120)


# Runs many `asr` command lines in one process (one torch import), each under an alarm: a case that
# blocks (a FIFO opened) is reported as "HANG" instead of stopping the run.
_RUNNER = textwrap.dedent("""
    import contextlib, io, json, signal, sys
    from asr.cli import main

    class Hang(Exception):
        pass

    def alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    results = []
    for argv in json.loads(sys.stdin.read()):
        err = io.StringIO()
        signal.alarm(20)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
        except Hang:
            code = "HANG"
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:
            code = "TRACEBACK " + type(exc).__name__ + " " + str(exc)[:200]
        signal.alarm(0)
        results.append([code, err.getvalue()])
    print(json.dumps(results))
""")


def _run_all(cases: list[list[str]]) -> list[tuple[object, str]]:
    result = subprocess.run([sys.executable, "-c", _RUNNER], input=json.dumps(cases), capture_output=True,
                            text=True, timeout=600, check=True)
    return [tuple(r) for r in json.loads(result.stdout.strip().splitlines()[-1])]


# role -> (file name, command line with {p} for the path, {model}, {manifest}, {wav})
ROLES = {
    "audio": ("x.wav", ["transcribe", "{model}", "{p}"]),
    "manifest (asr test)": ("m.jsonl", ["test", "{model}", "{p}"]),
    "config": ("c.yaml", ["train", "--config", "{p}"]),
    "model": ("m.pt", ["transcribe", "{p}", "{wav}"]),
    "LM (asr lm eval)": ("lm.arpa", ["lm", "eval", "{p}", "{manifest}"]),
    "LM (--lm)": ("lm.arpa", ["transcribe", "{model}", "{wav}", "--lm", "{p}"]),
    "lexicon (--lexicon)": ("lex.txt", ["transcribe", "{model}", "{wav}", "--lexicon", "{p}"]),
    "hotword file": ("hw.txt", ["transcribe", "{model}", "{wav}", "--hotwords", "{p}"]),
    "LM text (asr lm build)": ("t.txt", ["lm", "build", "{p}", "-o", "{out}"]),
    "NeMo manifest": ("n.json", ["prepare", "nemo", "{p}", "-o", "{out}"]),
}


def test_non_regular_files_are_named_never_opened(tmp_path: Path, tiny_model: Path, tiny_corpus: Path) -> None:
    cases, expected = [], []
    for role, (name, template) in ROLES.items():
        for kind in KINDS:
            if kind == "directory" and role == "audio":
                continue  # row 17 (test_robust_audio.py)
            folder = tmp_path / f"{len(cases)}"
            folder.mkdir()
            path = _make(folder, kind, name)
            values = {"p": path, "model": str(tiny_model), "manifest": str(tiny_corpus / "dev.jsonl"),
                      "wav": str(tiny_corpus / "wav" / "u0.wav"), "out": str(folder / "out")}
            cases.append([part.format(**values) for part in template])
            expected.append((role, kind, path))
    failures = []
    for (role, kind, path), (code, err) in zip(expected, _run_all(cases)):
        errors = [line for line in err.strip().splitlines() if line.startswith("asr: error: ")]
        if role == "audio" and kind == "symlink loop":
            # `asr transcribe` expands its arguments first (asr/inputs.py), which calls a loop "not found";
            # the audio reader itself names it (test_audio_readers_name_special_files).
            wanted = "not found"
        else:
            wanted = "is a directory" if kind == "directory" else KINDS[kind]
        if not (code == 2 and len(errors) == 1 and path in errors[0] and wanted in errors[0]):
            failures.append(f"{role} / {kind}: {code} {err.strip()[-300:]}")
    assert len(expected) == len(ROLES) * len(KINDS) - 1
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("kind", ["FIFO", "char device", "symlink loop"])
def test_audio_readers_name_special_files(kind: str, tmp_path: Path) -> None:
    from asr.audio import audio_info, load_audio, stream_audio
    from asr.errors import AudioError

    path = _make(tmp_path, kind, "x.wav")
    for read in (lambda: audio_info(path), lambda: load_audio(path, 16000), lambda: list(stream_audio(path, 16000))):
        with pytest.raises(AudioError, match=re.escape(f"audio file is {KINDS[kind]}")):
            read()


def test_kaldi_dir_with_a_fifo_for_wav_scp(tmp_path: Path) -> None:
    data = tmp_path / "kaldi"
    data.mkdir()
    os.mkfifo(data / "wav.scp")
    (data / "text").write_text("u1 hello\n")
    result = _asr("prepare", "kaldi", str(data), "-o", str(tmp_path / "o.jsonl"))
    assert result.returncode == 2 and f"{data / 'wav.scp'}: is a FIFO (named pipe)" in result.stderr


def test_file_kind_says_what_each_thing_is(tmp_path: Path) -> None:
    from asr.limits import file_kind

    (tmp_path / "f").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert file_kind(tmp_path / "f") is None
    assert file_kind(tmp_path / "nowhere") == "not found"
    assert file_kind(tmp_path / "dangling") == "a broken symbolic link"
    assert file_kind(tmp_path / "f" / "below") .startswith("not found")
    assert file_kind("/dev/null") == "a character device"
