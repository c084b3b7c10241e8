import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main


def test_user_errors_print_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.pt"
    assert main(["transcribe", str(missing), "a.wav"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("asr: error:") and str(missing) in err[0]

    config = tmp_path / "c.yaml"
    config.write_text("model:\n  hidden: 3\n")
    assert main(["train", "--config", str(config)]) == 2
    assert "unknown key(s) hidden" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    from asr.errors import CheckpointError

    with pytest.raises(CheckpointError):
        main(["--debug", "transcribe", str(tmp_path / "nope.pt"), "a.wav"])


def test_prepare_folder_writes_a_manifest(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sf.write(corpus / "a.wav", np.zeros(8000, dtype=np.float32) + 0.1, 16000)
    (corpus / "a.txt").write_text("Hello there\n")
    out = tmp_path / "m.jsonl"
    assert main(["prepare", "folder", str(corpus), "-o", str(out)]) == 0
    (line,) = out.read_text().splitlines()
    entry = json.loads(line)
    assert entry["text"] == "Hello there" and entry["duration"] == 0.5 and entry["audio"] == "corpus/a.wav"
    assert "1 utterances" in capsys.readouterr().out


def test_console_script_help_runs_in_a_fresh_process():
    for args in ([], ["prepare"], ["train"], ["test"], ["transcribe"], ["plot"]):
        result = subprocess.run([sys.executable, "-m", "asr.cli", *args, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "usage: asr" in result.stdout


def test_number_lists_may_start_with_a_minus_sign():
    from asr.cli import build_parser

    tune = ["lm", "tune", "m.pt", "dev.jsonl"]
    for argv in (["--word-scores", "-1,0,1", "--lm-weights", "-.5,1e-1"],
                 ["--word-scores=-1,0,1", "--lm-weights=-.5,1e-1"]):
        args = build_parser().parse_args(tune + argv + ["--word-score", "-2"])
        assert (args.word_scores, args.lm_weights, args.word_score) == ([-1, 0, 1], [-0.5, 0.1], -2.0)
    with pytest.raises(SystemExit):  # an option after the list option is still an option, not its value
        build_parser().parse_args(tune + ["--word-scores", "-o", "out.json"])


def test_version_is_the_installed_package_version(capsys):
    import re
    from pathlib import Path

    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    version = re.search(r'^version = "(.+)"', pyproject, re.M).group(1)
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"asr {version}"
