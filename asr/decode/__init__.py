"""CTC decoders. Each turns (frames, vocab) log-probs into a :class:`Hypothesis`.

The types live in ``types.py``; greedy decoding in ``greedy.py``; a beam search with n-gram LMs plugs in
beside it through ``build_decoder`` with ``DecoderConfig.kind = "beam"``.
"""

from __future__ import annotations

from asr.decode.types import Decoder, DecoderConfig, Hypothesis, Word, describe_decoder
from asr.errors import ConfigError
from asr.text import TextNormalizer

__all__ = ["Decoder", "DecoderConfig", "Hypothesis", "Word", "build_decoder", "describe_decoder"]


def build_decoder(config: DecoderConfig, tokenizer, normalizer: TextNormalizer | None = None) -> Decoder:
    if config.kind == "greedy":
        from asr.decode.greedy import GreedyDecoder

        return GreedyDecoder(tokenizer)
    if config.kind == "beam":
        from asr.decode.beam import BeamDecoder
        from asr.limits import check_decoder_paths

        check_decoder_paths(config)  # only regular files are opened: never a FIFO, a device or a folder

        return BeamDecoder(config, tokenizer, normalizer)
    raise ConfigError(f"decoder kind must be 'greedy' or 'beam', got {config.kind!r}")
