"""The synthetic pretraining corpus: sentence filtering, sampling, the written corpus, the CLI, errors."""

from __future__ import annotations

import gzip
from dataclasses import replace as dataclass_replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.data.corpora.synthetic import (
    VOICE_SETS,
    generate_synthetic_corpus,
    sample_sentences,
    sentence_words,
)
from asr.data.manifest import read_manifest
from asr.errors import AsrError

SENTENCES = [
    "Hello, how are you doing today?",
    "I need a table for 2 at 7:30.",  # digits: refused
    "Can you find me a nice restaurant nearby",
    "ok",  # too short
    "What\u2019s the weather like in Paris tomorrow",
    "Please book the cheapest flight to Boston.",
    "I would like to rent a car for the weekend",
    "Is there anything else I can help you with?",
]
USABLE = {
    ("hello", "how", "are", "you", "doing", "today"),
    ("can", "you", "find", "me", "a", "nice", "restaurant", "nearby"),
    ("what's", "the", "weather", "like", "in", "paris", "tomorrow"),
    ("please", "book", "the", "cheapest", "flight", "to", "boston"),
    ("i", "would", "like", "to", "rent", "a", "car", "for", "the", "weekend"),
    ("is", "there", "anything", "else", "i", "can", "help", "you", "with"),
}


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "sentences.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(SENTENCES) + "\n")
    return path


def test_sentence_words_keeps_letter_sentences_and_refuses_digits_and_lengths():
    words = ("what's", "the", "weather", "like", "in", "paris")
    assert sentence_words("What\u2019s the weather like, in Paris?") == words
    assert sentence_words("Book it for 2 people please") is None
    assert sentence_words("yes please") is None  # 2 words
    assert sentence_words(" ".join(["word"] * 13)) is None
    assert sentence_words("caf\u00e9 au lait for me") is None  # letters outside a-z cannot be transcribed as spoken


def test_sampling_draws_only_usable_sentences_reproducibly(text):
    drawn = sample_sentences(text, 4, seed=1)
    assert len(drawn) == 4 and len(set(drawn)) == 4 and set(drawn) <= USABLE
    assert sample_sentences(text, 4, seed=1) == drawn
    assert set(sample_sentences(text, 10, seed=0)) == USABLE  # asking for more returns every usable one
    seeds = {tuple(sample_sentences(text, 2, seed=s)) for s in range(8)}
    assert len(seeds) > 1  # the seed matters


def test_the_corpus_speaks_its_transcripts_in_the_chosen_voices(text, tmp_path):
    outputs = generate_synthetic_corpus(text, tmp_path / "a", n_train=3, n_dev=2, voices="accented", seed=5)
    train, dev = read_manifest(outputs["train"]), read_manifest(outputs["dev"])
    assert len(train) == 3 and len(dev) == 2
    texts = [tuple(u.text.split()) for u in train + dev]
    assert set(texts) <= USABLE and len(set(texts)) == 5  # dev sentences are not training sentences
    for utt in train + dev:
        voice, rendering = utt.speaker.split("/")
        assert voice in VOICE_SETS["accented"] and rendering == utt.id  # each rendering is a speaker of its own
        audio, rate = sf.read(utt.audio)
        assert rate == 16000 and abs(len(audio) / rate - utt.duration) < 1e-3
        # words of about 0.2-0.5 s each, with pauses and lead/trail silence
        assert 0.15 * len(utt.text.split()) < utt.duration < 1.0 * len(utt.text.split()) + 1.0
        assert np.abs(audio).max() > 0.1
    again = generate_synthetic_corpus(text, tmp_path / "b", n_train=3, n_dev=2, voices="accented", seed=5)
    for first, second in zip(read_manifest(outputs["train"]), read_manifest(again["train"])):
        assert first.text == second.text and Path(first.audio).read_bytes() == Path(second.audio).read_bytes()


def test_asking_for_more_sentences_than_the_text_has_is_one_clear_error(text, tmp_path):
    with pytest.raises(AsrError, match="6 usable sentences, fewer than the 8 asked for"):
        generate_synthetic_corpus(text, tmp_path, n_train=6, n_dev=2)
    empty = tmp_path / "digits.txt"
    empty.write_text("call me at 555 1234\n")
    with pytest.raises(AsrError, match="digits.txt: no usable sentences"):
        generate_synthetic_corpus(empty, tmp_path / "x", n_train=1)
    with pytest.raises(AsrError, match="voices must be one of"):
        generate_synthetic_corpus(text, tmp_path / "x", n_train=1, voices="martian")


def test_cli_writes_the_corpus_and_names_bad_text_in_one_line(text, tmp_path, capsys):
    args = ["synth", str(text), "-o", str(tmp_path / "c"), "--train", "2", "--dev", "1", "--voices", "english"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "wrote 2 train" in out and "1 dev utterances" in out
    assert all(u.speaker.split("/")[0] in VOICE_SETS["english"] for u in read_manifest(tmp_path / "c" / "train.jsonl"))
    bad = tmp_path / "bad.txt.gz"
    bad.write_bytes(b"not gzip at all")
    assert main(["synth", str(bad), "-o", str(tmp_path / "d"), "--train", "1"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("asr: error:") and "bad.txt.gz: cannot read the text" in err and "\n" not in err
    assert main(["synth", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "e"), "--train", "1"]) != 0
    assert "missing.txt: text file not found" in capsys.readouterr().err


def test_one_word_transcripts_at_8_khz_for_digit_corpora(tmp_path):
    # FSDD's recipe speaks its own one-word training transcripts: repeated lines are separate draws.
    digits = tmp_path / "digits.txt"
    digits.write_text("zero\nseven\nthe two\n" * 4)
    assert sentence_words("zero", min_words=1, max_words=1) == ("zero",)
    assert sentence_words("the two", min_words=1, max_words=1) is None
    outputs = generate_synthetic_corpus(digits, tmp_path / "d", n_train=6, n_dev=2, sample_rate=8000,
                                        min_words=1, max_words=1, voices="english")
    utts = read_manifest(outputs["train"]) + read_manifest(outputs["dev"])
    assert sorted(u.text for u in utts) == ["seven"] * 4 + ["zero"] * 4
    for utt in utts:
        audio, rate = sf.read(utt.audio)
        assert rate == 8000 and abs(len(audio) / rate - utt.duration) < 1e-3 and utt.duration < 2.0
    with pytest.raises(AsrError, match=r"need 1 <= min \(3\) <= max \(2\)"):
        generate_synthetic_corpus(digits, tmp_path / "e", n_train=1, min_words=3, max_words=2)
    assert main(["synth", str(digits), "-o", str(tmp_path / "f"), "--train", "1", "--dev", "1", "--min-words", "1",
                 "--max-words", "1", "--sample-rate", "8000"]) == 0
    assert sf.info(read_manifest(tmp_path / "f" / "train.jsonl")[0].audio).samplerate == 8000


def test_a_manifest_gives_its_transcripts_as_the_sentences(tmp_path, capsys):
    # Recipes speak their own training transcripts (speechocean762 stage 3a): a .jsonl is read as a manifest.
    lines = ['{"id": "a", "audio": "a.wav", "duration": 1.0, "text": "WE CALL IT BEAR"}',
             '{"id": "b", "audio": "b.wav", "duration": 1.0, "text": "zero three five one"}',
             '{"id": "c", "audio": "c.wav", "duration": 1.0, "text": "it costs 5 dollars"}']  # digit: refused
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    drawn = sample_sentences(manifest, 5, min_words=1)
    assert sorted(drawn) == [("we", "call", "it", "bear"), ("zero", "three", "five", "one")]
    # Spoken under their own id prefix, so the corpus can train beside another synthetic one.
    outputs = generate_synthetic_corpus(manifest, tmp_path / "s", n_train=1, n_dev=1, min_words=1,
                                        voices="english", id_prefix="spoken")
    utts = read_manifest(outputs["train"]) + read_manifest(outputs["dev"])
    assert [u.id for u in utts] == ["spoken-train-000000", "spoken-dev-000000"]
    assert {u.text for u in utts} == {"we call it bear", "zero three five one"}
    assert all(Path(u.audio).name == f"{u.id}.flac" for u in utts)
    with pytest.raises(AsrError, match="id prefix must be"):
        generate_synthetic_corpus(manifest, tmp_path / "t", n_train=1, id_prefix="../x")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[0] + "\n{not json\n")
    assert main(["synth", str(bad), "-o", str(tmp_path / "x"), "--train", "1"]) != 0
    err = capsys.readouterr().err.strip()
    assert "bad.jsonl:2" in err and "\n" not in err


def test_connected_sentences_run_their_words_together(text, tmp_path):
    # Read speech joins its words; --connected speaks a share of the sentences in one eSpeak call.
    apart = generate_synthetic_corpus(text, tmp_path / "w", n_train=4, n_dev=1, voices="english", seed=3)
    joined = generate_synthetic_corpus(text, tmp_path / "c", n_train=4, n_dev=1, voices="english", seed=3,
                                       connected=1.0)
    apart_utts, joined_utts = read_manifest(apart["train"]), read_manifest(joined["train"])
    # Same sentences in the same voices (the share is drawn after every other choice)...
    assert [(u.text, u.speaker) for u in apart_utts] == [(u.text, u.speaker) for u in joined_utts]
    # ...without the pauses and the citation form of every word: clearly shorter speech.
    assert sum(u.duration for u in joined_utts) < 0.85 * sum(u.duration for u in apart_utts)
    for utt in joined_utts:
        audio, rate = sf.read(utt.audio)
        assert abs(len(audio) / rate - utt.duration) < 1e-3 and np.abs(audio).max() > 0.1
    again = generate_synthetic_corpus(text, tmp_path / "c2", n_train=4, n_dev=1, voices="english", seed=3,
                                      connected=1.0)
    assert [Path(u.audio).read_bytes() for u in read_manifest(again["train"])] == \
        [Path(u.audio).read_bytes() for u in joined_utts]


def test_the_connected_share_is_drawn_per_sentence_and_leaves_the_other_choices_alone():
    from asr.data.corpora.demo import _plan

    words = ("can", "you", "help", "me")
    plans = [_plan(np.random.default_rng([0, k]), "u", VOICE_SETS["both"], words, connected_share=0.5)
             for k in range(400)]
    assert 0.4 < np.mean([p.connected for p in plans]) < 0.6
    for k in (0, 1, 2):  # a corpus without the option draws exactly the plans it drew before
        plain = _plan(np.random.default_rng([0, k]), "u", VOICE_SETS["both"], words)
        assert not plain.connected and dataclass_replace(plans[k], connected=False) == plain


def test_a_connected_share_outside_0_to_1_is_refused_in_one_line(text, tmp_path, capsys):
    with pytest.raises(AsrError, match="connected must be a share between 0 and 1, got 1.5"):
        generate_synthetic_corpus(text, tmp_path / "x", n_train=1, connected=1.5)
    with pytest.raises(SystemExit):
        main(["synth", str(text), "-o", str(tmp_path / "y"), "--train", "1", "--connected", "2"])
    err = capsys.readouterr().err
    assert "--connected" in err and "Traceback" not in err
