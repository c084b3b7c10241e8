"""Word n-gram language models: modified Kneser-Ney estimation and ARPA files for beam-search decoding."""

from asr.lm.arpa import ArpaModel, LmError, write_arpa
from asr.lm.ngram import LmConfig, NgramModel, build_lm, build_lm_from_file, mkn_discounts

__all__ = [
    "ArpaModel",
    "LmConfig",
    "LmError",
    "NgramModel",
    "build_lm",
    "build_lm_from_file",
    "mkn_discounts",
    "write_arpa",
]
