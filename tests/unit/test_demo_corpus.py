"""The eSpeak NG demo corpus: audio format, splits, determinism, word timings, synthesis controls, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.data.corpora.demo import (
    TEST_VOICES,
    TRAIN_VOICES,
    VOCABULARY,
    generate_demo_corpus,
    normalize_demo_text,
    write_fresh_utterance,
)
from asr.data.corpora.espeak import EspeakSynth
from asr.data.manifest import read_manifest
from asr.errors import AsrError

SIZES = {"train": 12, "dev": 4, "test": 4}
SEED = 3


def _generate(out_dir: Path, seed: int = SEED) -> dict[str, Path]:
    return generate_demo_corpus(out_dir, n_train=SIZES["train"], n_dev=SIZES["dev"], n_test=SIZES["test"], seed=seed)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    out_dir = tmp_path_factory.mktemp("demo")
    return out_dir, _generate(out_dir)


def _alignments(path: Path) -> dict[str, list[dict]]:
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {entry["id"]: entry["words"] for entry in entries}


def _f0(samples: np.ndarray, rate: int) -> float:
    """Pitch of the loudest 40 ms frame, from the autocorrelation peak between 60 and 400 Hz."""
    size = int(0.04 * rate)
    frames = np.lib.stride_tricks.sliding_window_view(samples, size)[:: size // 2]
    frame = frames[np.argmax((frames**2).sum(axis=1))]
    frame = frame - frame.mean()
    corr = np.correlate(frame, frame, "full")[size - 1 :]
    low, high = int(rate / 400), int(rate / 60)
    return rate / (low + int(np.argmax(corr[low:high])))


def test_manifests_describe_16k_mono_pcm16_speech_with_exact_durations(corpus):
    out_dir, paths = corpus
    assert set(paths) == {"train", "dev", "test", "alignments"}
    ids = set()
    for split, count in SIZES.items():
        assert paths[split] == out_dir / f"{split}.jsonl"
        utterances = read_manifest(paths[split])
        assert len(utterances) == count
        for utt in utterances:
            assert Path(utt.audio).parent == out_dir / "wav"
            info = sf.info(utt.audio)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert utt.duration == pytest.approx(info.frames / info.samplerate, abs=1e-4)
            samples, _ = sf.read(utt.audio, dtype="float64")
            assert np.sqrt(np.mean(samples**2)) > 0.005  # speech, not near-silence
            assert np.abs(samples).max() < 0.999  # and not clipped
            ids.add(utt.id)
    assert len(ids) == sum(SIZES.values())  # ids are unique across splits, so wav files cannot collide


def test_transcripts_are_lowercase_words_of_the_small_vocabulary(corpus):
    _, paths = corpus
    assert 40 <= len(VOCABULARY) <= 60
    for split in SIZES:
        for utt in read_manifest(paths[split]):
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", utt.text), utt.text
            assert set(utt.text.split()) <= set(VOCABULARY), utt.text


def test_test_speakers_never_occur_in_training(corpus):
    _, paths = corpus
    speakers = {split: {utt.speaker for utt in read_manifest(paths[split])} for split in SIZES}
    assert speakers["train"] <= set(TRAIN_VOICES)
    assert speakers["dev"] <= set(TRAIN_VOICES)
    assert speakers["test"] <= set(TEST_VOICES)
    assert not speakers["train"] & speakers["test"]
    # Held out by voice variant (timbre), not merely by accent/variant combination.
    train_variants = {voice.split("+")[1] for voice in TRAIN_VOICES}
    test_variants = {voice.split("+")[1] for voice in TEST_VOICES}
    assert not train_variants & test_variants


def test_same_seed_gives_identical_corpus_and_another_seed_does_not(corpus, tmp_path):
    out_dir, paths = corpus
    again = _generate(tmp_path / "again")
    for name in ("train", "dev", "test", "alignments"):
        # Manifests hold relative audio paths, so identical content means identical bytes.
        assert again[name].read_bytes() == paths[name].read_bytes(), name
    for wav in sorted((out_dir / "wav").glob("*.wav")):
        assert (tmp_path / "again" / "wav" / wav.name).read_bytes() == wav.read_bytes(), wav.name

    other = _generate(tmp_path / "other", seed=SEED + 1)
    texts = [utt.text for utt in read_manifest(paths["train"])]
    assert [utt.text for utt in read_manifest(other["train"])] != texts


def test_word_timings_follow_the_transcript_and_the_energy(corpus):
    _, paths = corpus
    alignments = _alignments(paths["alignments"])
    for split in SIZES:
        for utt in read_manifest(paths[split]):
            words = alignments[utt.id]
            assert [w["word"] for w in words] == utt.text.split()
            samples, rate = sf.read(utt.audio, dtype="float64")
            assert words[0]["start"] >= 0.05 and words[-1]["end"] <= utt.duration - 0.05
            for prev, word in zip(words[:-1], words[1:], strict=True):
                assert prev["start"] < prev["end"] < word["start"] < word["end"]
            in_word = np.zeros(len(samples), dtype=bool)
            word_power = []
            for word in words:
                span = slice(int(word["start"] * rate), int(np.ceil(word["end"] * rate)))
                in_word[span] = True
                word_power.append(np.mean(samples[span] ** 2))
            # Everything outside the spans (lead, pauses, tail) is noise only: any speech that a late start
            # or an early end left outside would raise this power to near the words' own.
            gap_power = np.mean(samples[~in_word] ** 2)
            assert 10 * np.log10(min(word_power) / gap_power) > 10, utt.id


def test_synthesized_word_spans_cover_exactly_the_nonsilent_samples():
    synth = EspeakSynth()
    out = synth.synthesize("call mom", "en-us+m3", 175, 50, pauses=[0.1], lead=0.2, trail=0.15)
    rate = out.sample_rate
    assert rate == 22050 and out.samples.dtype == np.float32
    assert [word for word, _, _ in out.words] == ["call", "mom"]
    in_word = np.zeros(len(out.samples), dtype=bool)
    for _, start, end in out.words:
        first, stop = round(start * rate), round(end * rate)
        assert out.samples[first] != 0 and out.samples[stop - 1] != 0  # spans start and end on sound
        in_word[first:stop] = True
    assert not np.any(out.samples[~in_word])  # and outside them is digital silence
    (_, start1, end1), (_, start2, end2) = out.words
    assert start1 == pytest.approx(0.2, abs=1 / rate)
    assert start2 - end1 == pytest.approx(0.1, abs=1 / rate)
    assert out.duration - end2 == pytest.approx(0.15, abs=1 / rate)


def test_different_words_sound_different_and_the_same_word_the_same():
    synth = EspeakSynth()
    one = synth.synthesize("one", "en-us+m3")
    seven = synth.synthesize("seven", "en-us+m3")
    one_again = synth.synthesize("one", "en-us+m3")
    assert abs(seven.duration - one.duration) > 0.05
    assert abs(one_again.duration - one.duration) < 0.01
    assert np.abs(one.samples).max() > 0.1  # audible, not a silent buffer of some length


def test_rate_and_pitch_parameters_take_effect():
    synth = EspeakSynth()
    slow = synth.synthesize("seven", "en-us+f2", rate=100)
    fast = synth.synthesize("seven", "en-us+f2", rate=300)
    assert slow.duration > 1.8 * fast.duration
    low = synth.synthesize("zero", "en-us+m3", pitch=20)
    high = synth.synthesize("zero", "en-us+m3", pitch=80)
    assert _f0(high.samples, high.sample_rate) > 1.4 * _f0(low.samples, low.sample_rate)


@pytest.mark.parametrize("voice", ["xx-nope", "en-us+nope"])
def test_unknown_voice_or_variant_is_a_clear_error(voice):
    with pytest.raises(AsrError, match="not found"):
        EspeakSynth().synthesize("one", voice)


def test_bad_synthesis_arguments_are_errors():
    synth = EspeakSynth()
    with pytest.raises(AsrError, match="rate"):
        synth.synthesize("one", "en-us", rate=20)
    with pytest.raises(AsrError, match="empty"):
        synth.synthesize("  ", "en-us")
    with pytest.raises(AsrError, match="pauses"):
        synth.synthesize("one two", "en-us", pauses=[0.1, 0.1])


def test_missing_library_or_data_is_an_asr_error(tmp_path):
    with pytest.raises(AsrError, match="cannot load"):
        EspeakSynth(library_path=tmp_path / "libespeak-ng.so")
    with pytest.raises(AsrError, match="incomplete"):
        EspeakSynth(library_path=tmp_path / "other.so", data_path=tmp_path)


def test_corpus_sizes_must_be_positive(tmp_path):
    with pytest.raises(AsrError, match="n_dev"):
        generate_demo_corpus(tmp_path, n_train=2, n_dev=0, n_test=1)
    assert not (tmp_path / "train.jsonl").exists()


def test_fresh_utterance_is_written_deterministically(tmp_path):
    wav = write_fresh_utterance(tmp_path / "a", "Call 551, mom?", seed=5)
    assert wav == tmp_path / "a" / "fresh.wav"
    assert (tmp_path / "a" / "fresh.txt").read_text(encoding="utf-8") == "call five five one mom\n"
    info = sf.info(str(wav))
    assert (info.samplerate, info.channels) == (16000, 1) and info.duration > 1.0
    again = write_fresh_utterance(tmp_path / "b", "call five five one mom", seed=5)
    assert again.read_bytes() == wav.read_bytes()


def test_fresh_utterance_without_text_avoids_training_transcripts(corpus, tmp_path):
    out_dir, paths = corpus
    train_texts = {utt.text for utt in read_manifest(paths["train"])}
    for seed in range(3):
        target = tmp_path / str(seed)
        target.mkdir()
        (target / "train.jsonl").write_bytes(paths["train"].read_bytes())
        write_fresh_utterance(target, seed=seed)
        text = (target / "fresh.txt").read_text(encoding="utf-8").strip()
        assert text not in train_texts
        assert set(text.split()) <= set(VOCABULARY)


def test_text_outside_the_vocabulary_is_rejected_by_name():
    assert normalize_demo_text("Turn ON the kitchen light!") == ("turn", "on", "the", "kitchen", "light")
    with pytest.raises(AsrError, match="banana"):
        normalize_demo_text("call banana")
    with pytest.raises(AsrError, match="no words"):
        normalize_demo_text("?!")
