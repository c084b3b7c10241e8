"""Beam search, lexicon-free or lexicon-constrained, with a word n-gram LM and hotwords: our compiled search
(``asr/decode/_wordlm.cpp``) or torchaudio's ``ctc_decoder`` (flashlight-text).

Which search:
- the compiled prefix search of :mod:`asr.decode.native` for lexicon-free decoding (flashlight's lexicon-free
  decoder only knows token-level LMs) and for a character model's lexicon: it gathers characters into words
  and scores each completed word with the ARPA model, as pyctcdecode does;
- flashlight's lexicon decoder for phone models (a word's spelling is not its letters), with its KenLM reading
  the ARPA file, or with :class:`WordLmAdapter`, a Python ``CTCDecoderLM`` with the compiled search's word
  scoring, when there are hotwords (the adapter is also the fallback where the extension is not built);
- flashlight's lexicon-free decoder where the extension is not built, or with ``compiled=False``.
Scores are log10, like KenLM's, so ``lm_weight`` means the same on both paths.
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState, ctc_decoder

from asr.decode import DecoderConfig, Hypothesis, Word, native
from asr.decode.greedy import words_from_tokens
from asr.decode.hotwords import Hotword, HotwordError, parse_hotword, read_hotwords
from asr.decode.lexicon import LexiconError, lexicon_from_words, read_lexicon, write_lexicon
from asr.errors import ConfigError
from asr.text import BLANK, WORD_SEP, TextNormalizer

log = logging.getLogger(__name__)


class WordLmAdapter(CTCDecoderLM):
    """Word n-gram LM (plus hotword boosts) for flashlight's decoders.

    Lexicon-free mode: the decoder offers one token at a time; characters accumulate in the state and a
    word is scored when ``|`` (or the end) completes it. While a partial word is a prefix of a hotword it
    earns a share of the boost, so the beam keeps it; the share is taken back if the word turns out to
    be something else. Lexicon mode: the decoder offers whole words by index in ``word_list``.
    """

    def __init__(
        self,
        arpa,  # asr.lm.arpa.ArpaModel or None
        tokenizer,
        hotwords: list[Hotword],
        word_score: float,
        lm_weight: float,
        word_list: list[str] | None = None,
        unk_prefix_score: float = 0.0,
    ):
        CTCDecoderLM.__init__(self)
        self.arpa = arpa
        self.order = arpa.order if arpa is not None else 1
        self.symbols = tokenizer.symbols
        self.sep = tokenizer.word_sep_id
        self.word_list = word_list
        # Lexicon-free decoding has no word_score option, so the adapter adds it (pre-divided by the weight).
        self.word_bonus = word_score / lm_weight if (word_list is None and lm_weight) else 0.0
        self.lm_weight = lm_weight or 1.0
        self.phrases: dict[str, list[Hotword]] = {}
        self.prefix_boost: dict[str, float] = {}
        for hw in hotwords:
            self.phrases.setdefault(hw.words[-1], []).append(hw)
            first = hw.words[0]
            for i in range(1, len(first) + 1):
                share = hw.boost * i / len(first)
                self.prefix_boost[first[:i]] = max(self.prefix_boost.get(first[:i], 0.0), share)
        # Lexicon-free with an LM: every prefix of a word the LM or a hotword knows; a partial word leaving this
        # set pays unk_prefix_score once (pre-divided by the weight, like the hotword boosts).
        self.prefixes: set[str] | None = None
        self.known: set[str] = set()
        self.unk_prefix = unk_prefix_score / self.lm_weight
        if word_list is None and arpa is not None and unk_prefix_score:
            self.known = native.known_words(arpa, (w for hw in hotwords for w in hw.words))
            self.prefixes = {w[:i] for w in self.known for i in range(1, len(w) + 1)}
        # Enough history for the LM and for matching the longest hotword phrase.
        self.context_len = max(self.order - 1, max((len(h.words) for h in hotwords), default=1) - 1)
        # state -> (context words, partial word, prefix bonus already given, {token: (child, score)})
        self.states: dict[CTCDecoderLMState, tuple[tuple[str, ...], str, float, dict]] = {}
        self._word_cache: dict[tuple[tuple[str, ...], str], float] = {}

    def _word_logprob(self, context: tuple[str, ...], word: str) -> float:
        key = (context, word)
        cached = self._word_cache.get(key)
        if cached is None:
            lm = self.arpa.score(word, context) if self.arpa is not None else 0.0
            bonus = sum(hw.boost for hw in self.phrases.get(word, ())
                        if tuple(context[len(context) - len(hw.words) + 1:]) == hw.words[:-1]
                        or len(hw.words) == 1)
            # Hotwords are scaled back by lm_weight so a boost is in final-score units, whatever the weight.
            cached = lm + bonus / self.lm_weight + self.word_bonus
            self._word_cache[key] = cached
        return cached

    def _unknown_end(self, word: str) -> float:
        """The unknown-word charge for a word that ends while still a prefix of known words ("callin"): it never
        left them, so it was not charged on the way."""
        if self.prefixes is not None and word in self.prefixes and word not in self.known:
            return self.unk_prefix
        return 0.0

    def _next_context(self, context: tuple[str, ...], word: str) -> tuple[str, ...]:
        return (context + (word,))[-self.context_len:] if self.context_len else ()

    def start(self, start_with_nothing: bool) -> CTCDecoderLMState:
        # One utterance's states die with it; without this reset memory grows with every decode.
        self.states.clear()
        state = CTCDecoderLMState()
        self.states[state] = (("<s>",), "", 0.0, {})
        return state

    def score(self, state: CTCDecoderLMState, usr_token_idx: int) -> tuple[CTCDecoderLMState, float]:
        context, partial, given, memo = self.states[state]
        # The beam offers the same (state, token) pair again on every frame a hypothesis survives.
        hit = memo.get(usr_token_idx)
        if hit is None:
            hit = memo[usr_token_idx] = self._expand(state, usr_token_idx, context, partial, given)
        return hit

    def _expand(
        self, state: CTCDecoderLMState, idx: int, context: tuple[str, ...], partial: str, given: float
    ) -> tuple[CTCDecoderLMState, float]:
        child = state.child(idx)
        if self.word_list is not None:  # lexicon mode: a whole word
            word = self.word_list[idx]
            self.states.setdefault(child, (self._next_context(context, word), "", 0.0, {}))
            return child, self._word_logprob(context, word)
        if idx == self.sep:
            if not partial:
                self.states.setdefault(child, (context, "", 0.0, {}))
                return child, 0.0
            self.states.setdefault(child, (self._next_context(context, partial), "", 0.0, {}))
            return child, self._word_logprob(context, partial) - given / self.lm_weight + self._unknown_end(partial)
        new_partial = partial + self.symbols[idx]
        # The prefix bonus follows the partial word: it grows while the word can still become a hotword
        # and drops to zero (taking back what was given) the moment it cannot.
        target = self.prefix_boost.get(new_partial, 0.0)
        self.states.setdefault(child, (context, new_partial, target, {}))
        score = (target - given) / self.lm_weight
        if self.prefixes is not None and new_partial not in self.prefixes and (not partial or partial in self.prefixes):
            score += self.unk_prefix
        return child, score

    def finish(self, state: CTCDecoderLMState) -> tuple[CTCDecoderLMState, float]:
        context, partial, given, _ = self.states[state]
        score = 0.0
        if partial:
            score += self._word_logprob(context, partial) - given / self.lm_weight + self._unknown_end(partial)
            context = self._next_context(context, partial)
        if self.arpa is not None:
            score += self.arpa.score("</s>", context)
        child = state.child(-1)
        self.states.setdefault(child, (context, "", 0.0, {}))
        return child, score


def blank_run_starts(log_probs: torch.Tensor, blank_id: int, blank_prob: float) -> torch.Tensor:
    """Indices of the frames to decode: all but the second and later frames of each run of frames whose blank
    probability exceeds ``blank_prob`` (1 keeps every frame). The first frame of a run stays, so a blank still
    separates a repeated token ("l l" in "hello") and frame times map back through the returned indices."""
    if blank_prob >= 1.0:
        return torch.arange(log_probs.shape[0])
    # numpy: these few vector operations cost several times more as torch calls on short utterances.
    blank = log_probs[:, blank_id].detach().float().cpu().numpy() > math.log(blank_prob)
    repeat = np.zeros_like(blank)
    repeat[1:] = blank[1:] & blank[:-1]
    return torch.from_numpy(np.flatnonzero(~repeat))


def check_lexicon_against_lm(lexicon: dict, lm_vocab: set[str], lexicon_path: str, lm_path: str) -> None:
    """Lexicon words the LM never saw are scored as <unk>: say so, and refuse a lexicon the LM cannot score."""
    missing = [w for w in lexicon if w not in lm_vocab]
    if len(missing) == len(lexicon):
        raise LexiconError(f"{lexicon_path}: none of its {len(lexicon)} words is in the LM vocabulary of {lm_path}")
    if missing:
        log.warning("%s: %d of %d words are not in the LM vocabulary of %s and will be scored as <unk>: %s",
                    lexicon_path, len(missing), len(lexicon), lm_path, ", ".join(missing[:10]))


def _decoder_word_list(lexicon_path: Path) -> list[str]:
    """Words by the index torchaudio's decoder will use (it builds the same dictionary from the same file)."""
    from flashlight.lib.text.dictionary import create_word_dict, load_words

    word_dict = create_word_dict(load_words(str(lexicon_path)))
    return [word_dict.get_entry(i) for i in range(word_dict.index_size())]


def _ints(values) -> list[int]:
    """torchaudio's hypotheses hold tensors, the compiled search's hold lists."""
    return values.tolist() if hasattr(values, "tolist") else values


def _name_words(timed: list[Word], names: list[str]) -> list[Word]:
    """The lexicon decoder's words, with the times of the ``|``-separated token groups of its path.

    The words are the truth (a phone group may spell several homophones); when the model ran two words
    together without a ``|``, the groups are fewer than the words and the unmatched words share the
    last group's span.
    """
    if not timed:
        return [Word(name, 0.0, 0.0, 0.0) for name in names]
    out = []
    for i, name in enumerate(names):
        src = timed[min(i, len(timed) - 1)]
        out.append(Word(name, src.start, src.end, src.confidence))
    return out


class BeamDecoder:
    def __init__(self, config: DecoderConfig, tokenizer, normalizer: TextNormalizer | None = None,
                 compiled: bool = True):
        """``compiled=False`` decodes with flashlight only (its best-path search, the Python ``WordLmAdapter`` for
        a word LM without a lexicon): the path before the compiled search, kept for comparisons."""
        self.config = config
        self.tokenizer = tokenizer
        self.normalizer = normalizer or TextNormalizer()
        arpa = None
        if config.lm:
            from asr.lm.arpa import ArpaModel

            arpa = ArpaModel.load(config.lm)
        hotwords = self._hotwords(config)
        tokens = list(tokenizer.symbols)
        lexicon = self._lexicon(config, tokenizer, arpa)
        if lexicon is not None:
            for hw in hotwords:
                lexicon.update(lexicon_from_words(hw.words, tokenizer, source="hotwords"))
        self._tmp = tempfile.TemporaryDirectory(prefix="asr-lexicon-")
        common = dict(
            tokens=tokens, nbest=max(1, config.nbest), beam_size=config.beam_size,
            beam_size_token=config.beam_size_token or None, beam_threshold=config.beam_threshold,
            lm_weight=config.lm_weight, sil_score=config.sil_score, blank_token=BLANK, sil_token=WORD_SEP,
        )
        if lexicon is not None and compiled and native.spelled_by_letters(lexicon, tokenizer) and native.available():
            lm = None
            self.decoder = native.NativeWordLmSearch(arpa, tokenizer, hotwords, config, lexicon=lexicon)
        elif lexicon is not None:
            lex_path = write_lexicon(lexicon, Path(self._tmp.name) / "lexicon.txt")
            if arpa is not None and not hotwords:
                lm = config.lm  # flashlight's KenLM reads the ARPA file itself
            elif arpa is not None or hotwords:
                lm = WordLmAdapter(arpa, tokenizer, hotwords, config.word_score, config.lm_weight,
                                   word_list=_decoder_word_list(lex_path))
            else:
                lm = None
            self.decoder = ctc_decoder(lexicon=str(lex_path), lm=lm, word_score=config.word_score,
                                       unk_score=config.unk_score, **common)
        elif compiled and native.available():
            lm = None
            self.decoder = native.NativeWordLmSearch(arpa, tokenizer, hotwords, config)
        else:
            lm = WordLmAdapter(arpa, tokenizer, hotwords, config.word_score, config.lm_weight,
                               unk_prefix_score=config.unk_prefix_score) if (arpa is not None or hotwords) else None
            self.decoder = ctc_decoder(lexicon=None, lm=lm, **common)
        self.lexicon = lexicon
        self._lm = lm

    @staticmethod
    def _lexicon(config: DecoderConfig, tokenizer, arpa) -> dict[str, list[str]] | None:
        """Word -> token spelling for lexicon decoding; None for lexicon-free decoding (character models)."""
        phone_model = tokenizer.unit_metric == "per"
        if config.lexicon == "model" or (phone_model and not config.lexicon):
            if not phone_model:
                raise ConfigError("lexicon 'model' is for phone models, which store their training words; "
                                  "give a character model a lexicon file or 'lm'")
            # Phones spell no words by themselves: a phone model decodes through its training words, plus the
            # LM's vocabulary (general English) when it has one and the lexicon was left to the default.
            lexicon = dict(tokenizer.lexicon)
            if arpa is not None and not config.lexicon:
                extra = [w for w in sorted(arpa.vocab) if w not in lexicon]
                lexicon.update(lexicon_from_words(extra, tokenizer, source=config.lm, required=False))
                check_lexicon_against_lm(lexicon, set(arpa.vocab), "the model's training words", config.lm)
            return lexicon
        if config.lexicon == "lm":
            if arpa is None:
                raise ConfigError("lexicon 'lm' needs an LM (--lm) to take the vocabulary from")
            return lexicon_from_words(sorted(arpa.vocab), tokenizer, source=config.lm)
        if config.lexicon:
            lexicon = read_lexicon(config.lexicon, tokenizer)
            if arpa is not None:
                check_lexicon_against_lm(lexicon, set(arpa.vocab), config.lexicon, config.lm)
            return lexicon
        return None

    def _hotwords(self, config: DecoderConfig) -> list[Hotword]:
        hotwords: list[Hotword] = []
        for spec in config.hotwords:
            if spec.startswith("@"):
                hotwords.extend(read_hotwords(spec[1:], config.hotword_boost))
            else:
                hotwords.append(parse_hotword(spec, config.hotword_boost))
        normalised = []
        for hw in hotwords:
            words = tuple(self.normalizer(" ".join(hw.words)).split())
            if not words:
                raise HotwordError(f"hotword {' '.join(hw.words)!r} is empty after normalisation")
            normalised.append(Hotword(words, hw.boost))
        return normalised

    def decode(self, log_probs: torch.Tensor, frame_shift: float) -> Hypothesis:
        log_probs = log_probs.detach().float().cpu()
        if isinstance(self.decoder, native.NativeWordLmSearch):
            # The compiled search decodes every frame: skipping blank runs first cost it more than it saved
            # (tools/bench/results/decode_*.md, the "every frame" rows); flashlight's searches gain from it.
            kept = None
            results = self.decoder.decode_frames(log_probs.numpy())
        else:
            kept = blank_run_starts(log_probs, self.tokenizer.blank_id, self.config.blank_skip)
            emissions = (log_probs if len(kept) == len(log_probs) else log_probs[kept]).contiguous().unsqueeze(0)
            results = self.decoder(emissions)[0]
        if not results or not math.isfinite(float(results[0].score)):
            # Say why a transcript is empty or meaningless instead of reporting success in silence.
            config = self.config
            log.warning("beam search: %s over %d frames; check the decoder settings (beam_size %s, "
                        "beam_threshold %s, lexicon %r, unk_score %s, lm_weight %s)",
                        "no hypothesis survived" if not results else f"best score is {results[0].score}",
                        log_probs.shape[0], config.beam_size, config.beam_threshold, config.lexicon or "none",
                        config.unk_score, config.lm_weight)
            if not results:
                return Hypothesis(text="")
        best = results[0]
        # Both searches' token paths have a virtual frame before frame 0 and after the last frame, so their
        # timesteps are one frame late; shift back and drop the virtual entries.
        kept_frames = range(len(log_probs)) if kept is None else kept.tolist()
        frames = len(kept_frames)
        tokens = [(t, kept_frames[f - 1]) for t, f in zip(_ints(best.tokens), _ints(best.timesteps))
                  if 0 < f <= frames]
        words = words_from_tokens(tokens, log_probs, self.tokenizer, frame_shift)
        names = getattr(best, "words", None)
        if names:
            words = _name_words(words, list(names))
        text = " ".join(w.word for w in words)
        score = float(best.score)
        nbest = [(text, score)] + [(self._text(h), float(h.score)) for h in results[1:]]
        units = self.tokenizer.unit_string(t for t, _ in tokens)
        return Hypothesis(text=text, words=words, score=score, nbest=nbest, units=units)

    def _text(self, hyp) -> str:
        names = getattr(hyp, "words", None)
        if names:
            return " ".join(names)
        return self.tokenizer.decode(_ints(hyp.tokens))

    def decode_batch(self, log_probs: torch.Tensor, lengths: torch.Tensor, frame_shift: float) -> list[Hypothesis]:
        return [self.decode(log_probs[i, : int(lengths[i])], frame_shift) for i in range(log_probs.shape[0])]
