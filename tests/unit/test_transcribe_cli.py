"""asr transcribe: folders, globs and stdin in; txt/json/srt/vtt/tsv out, to stdout or one file per input."""

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.checkpoint import AsrBundle, save_bundle
from asr.cli import main
from asr.decode import DecoderConfig, Hypothesis, Word
from asr.features import FeatureConfig
from asr.formats import to_srt, to_tsv, to_vtt
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, TextNormalizer
from asr.transcribe import Transcriber

RATE = 8000


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["ab", "ba", "abba", "b a"])
    features = FeatureConfig(sample_rate=RATE, n_mels=20)
    model = CtcModel(ModelConfig(cell="gru", hidden_size=8, num_layers=1, conv_channels=2, input_dim=6),
                     features.n_mels, len(tokenizer)).eval()
    bundle = AsrBundle(model, features, tokenizer, TextNormalizer(), DecoderConfig("greedy"), {"epoch": 0})
    return save_bundle(bundle, tmp_path / "model.pt")


@pytest.fixture
def audio_tree(tmp_path: Path) -> Path:
    """in/a.wav, in/x/b.flac, in/y/b.wav: different noise in each (same stem b in two folders)."""
    rng = np.random.default_rng(0)
    for name in ("a.wav", "x/b.flac", "y/b.wav"):
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.2 * rng.standard_normal(int(RATE * 0.8))).astype(np.float32), RATE)
    return tmp_path / "in"


HYP = Hypothesis("one two three", [Word("one", 0.1, 0.4, 0.9), Word("two", 0.5, 0.8, 0.8),
                                   Word("three", 2.0, 2.5, 0.7)])


@pytest.fixture
def fixed_hyp(monkeypatch):
    """No model is loaded and every file transcribes to HYP, so the printed formats can be checked exactly."""
    monkeypatch.setattr(Transcriber, "__init__", lambda self, *args, **kwargs: None)
    monkeypatch.setattr(Transcriber, "transcribe", lambda self, paths: [HYP for _ in paths])
    monkeypatch.setattr(Transcriber, "transcribe_iter", lambda self, paths: iter([HYP for _ in paths]))


def run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["transcribe", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_folder_to_output_dir_in_json_mirrors_the_layout(tiny_model, audio_tree, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, tiny_model, audio_tree, "--format", "json", "--output-dir", out_dir)
    assert code == 0 and out == ""
    written = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    assert written == ["a.json", "x/b.json", "y/b.json"]
    assert err.count("wrote ") == 3
    # the same transcripts as the Python API gives, with times and confidences
    expected = Transcriber(tiny_model).transcribe([audio_tree / "x" / "b.flac"])[0]
    entry = json.loads((out_dir / "x" / "b.json").read_text())
    assert entry["file"] == str(audio_tree / "x" / "b.flac") and entry["text"] == expected.text
    assert [w["word"] for w in entry["words"]] == [w.word for w in expected.words]


def test_existing_outputs_are_kept_unless_overwrite(fixed_hyp, audio_tree, tmp_path, capsys):
    out_dir = tmp_path / "out"
    (out_dir / "x").mkdir(parents=True)
    (out_dir / "x" / "b.srt").write_text("mine\n")
    code, _, err = run(capsys, "model.pt", audio_tree, "--format", "srt", "-o", out_dir)
    assert code == 0 and (out_dir / "x" / "b.srt").read_text() == "mine\n"
    assert f"skipped {audio_tree / 'x' / 'b.flac'}: {out_dir / 'x' / 'b.srt'} exists" in err
    assert (out_dir / "a.srt").read_text() == (out_dir / "y" / "b.srt").read_text() == to_srt(HYP)
    code, _, err = run(capsys, "model.pt", audio_tree, "--format", "srt", "-o", out_dir, "--overwrite")
    assert code == 0 and "skipped" not in err and (out_dir / "x" / "b.srt").read_text() == to_srt(HYP)
    assert not [p for p in out_dir.rglob(".*")]  # no temporary files left beside the outputs


def test_a_bad_model_is_reported_before_the_inputs(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "no_such_model.pt", tmp_path / "no_such_input.wav")
    assert code == 2 and "no_such_model.pt" in err and "no_such_input" not in err


def test_subtitles_and_tsv_on_stdout(fixed_hyp, audio_tree, capsys):
    wav = audio_tree / "a.wav"
    for fmt, text in (("srt", to_srt(HYP)), ("vtt", to_vtt(HYP)), ("tsv", to_tsv(HYP))):
        assert run(capsys, "model.pt", wav, "--format", fmt)[:2] == (0, text)
    code, out, _ = run(capsys, "model.pt", wav, "--format", "srt", "--max-line-chars", "7", "--max-lines", "1")
    assert out == ("1\n00:00:00,100 --> 00:00:00,800\none two\n\n"
                   "2\n00:00:02,000 --> 00:00:02,500\nthree\n")
    code, out, _ = run(capsys, "model.pt", wav, "--format", "srt", "--cue-gap", "0.05")
    assert out.count("-->") == 3
    code, out, err = run(capsys, "model.pt", audio_tree, "--format", "srt")
    assert code == 2 and out == "" and err.strip() == (
        "asr: error: --format srt with 3 input files: give --output-dir DIR (one file each)")


def test_text_lines_name_the_files_and_text_is_an_alias(fixed_hyp, audio_tree, capsys, monkeypatch):
    monkeypatch.chdir(audio_tree)
    code, out, _ = run(capsys, "model.pt", "*.wav", "**/b.*")  # patterns expanded by us, not the shell
    assert code == 0 and out.splitlines() == ["a.wav\tone two three", "x/b.flac\tone two three",
                                              "y/b.wav\tone two three"]
    assert run(capsys, "model.pt", "a.wav", "--format", "text")[1] == "one two three\n"
    out = run(capsys, "model.pt", "a.wav", "x", "--format", "json")[1]
    assert [json.loads(line)["file"] for line in out.splitlines()] == ["a.wav", "x/b.flac"]


def test_stdin_is_transcribed_like_the_file(tiny_model, audio_tree, capsys, monkeypatch):
    wav = audio_tree / "y" / "b.wav"
    _, from_file, _ = run(capsys, tiny_model, wav, "--format", "json")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(wav.read_bytes())))
    code, from_stdin, _ = run(capsys, tiny_model, "-", "--format", "json")
    assert code == 0
    assert json.loads(from_stdin) == {**json.loads(from_file), "file": "<stdin>"}


def test_errors_are_one_line_naming_the_input(tiny_model, audio_tree, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"this is not audio at all")))
    code, _, err = run(capsys, tiny_model, "-")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("asr: error: <stdin>: cannot ") and "audio" in err and "asr-stdin" not in err
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    code, _, err = run(capsys, tiny_model, empty)
    assert code == 2 and err.strip() == (
        f"asr: error: {empty}: no audio files (.flac, .mp3, .ogg, .opus, .wav) in this folder or below")
    code, _, err = run(capsys, tiny_model, audio_tree / "a.wav", tmp_path / "gone.wav")
    assert code == 2 and err.strip() == f"asr: error: {tmp_path / 'gone.wav'}: audio file not found"
    with pytest.raises(SystemExit) as info:
        run(capsys, tiny_model, audio_tree / "a.wav", "--max-line-chars", "0", "--format", "srt")
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and err == [
        "asr: error: asr transcribe: argument --max-line-chars: must be in [1, 10000], got '0' "
        "(see asr transcribe --help)"]


def test_read_only_output_dir_is_one_line(fixed_hyp, audio_tree, tmp_path, capsys):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    out_dir = tmp_path / "ro"
    out_dir.mkdir()
    out_dir.chmod(0o500)
    try:
        code, _, err = run(capsys, "model.pt", audio_tree / "a.wav", "-o", out_dir)
    finally:
        out_dir.chmod(0o700)
    assert code == 2 and err.startswith(f"asr: error: {out_dir / 'a.txt'}: cannot write")


def test_plot_draws_one_png_per_input_with_each_word_and_confidence(fixed_hyp, audio_tree, tmp_path, capsys,
                                                                     monkeypatch):
    import matplotlib.image

    from asr import plots

    drawn = {}
    real = plots.transcript_figure

    def spy(features, frame_shift, hyp, title="", shown_seconds=None):
        fig = real(features, frame_shift, hyp, title, shown_seconds)
        drawn[title] = [t.get_text() for ax in fig.axes for t in ax.texts]
        return fig

    monkeypatch.setattr(plots, "transcript_figure", spy)
    monkeypatch.setattr(Transcriber, "load_for_plot", lambda self, path: torch.zeros(80, 20))  # 0.8 s of frames
    monkeypatch.setattr(Transcriber, "bundle", type("B", (), {"features": FeatureConfig(sample_rate=RATE)})(),
                        raising=False)
    code, _, err = run(capsys, "model.pt", audio_tree, "--plot", tmp_path / "plots", "-o", tmp_path / "out")
    assert code == 0, err
    pngs = sorted(str(p.relative_to(tmp_path / "plots")) for p in (tmp_path / "plots").rglob("*.png"))
    assert pngs == ["a.png", "x/b.png", "y/b.png"]  # named like the transcripts
    image = matplotlib.image.imread(tmp_path / "plots" / "a.png")
    assert image.shape[0] > 300 and image.shape[1] > 600
    # words inside the 0.8 s shown: on the spectrogram, and with their confidence in the lower panel
    assert drawn[str(audio_tree / "a.wav")] == ["one", "two", "one\n0.90", "two\n0.80"]


def test_progress_bar_on_a_terminal_quiet_lines_otherwise(fixed_hyp, audio_tree, tmp_path, capsys, monkeypatch):
    code, _, err = run(capsys, "model.pt", audio_tree, "-o", tmp_path / "quiet")
    assert code == 0 and err.splitlines() == [f"wrote {tmp_path / 'quiet' / n}" for n in ("a.txt", "x/b.txt",
                                                                                          "y/b.txt")]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = run(capsys, "model.pt", audio_tree, "-o", tmp_path / "tty")
    assert code == 0 and "| 0/3 [" in err and "file/s" in err and err.count("wrote ") == 3
    assert err.splitlines()[-1].startswith("transcribed 3 files in 00:0")
