"""The one compiled part: asr.decode._wordlm, lexicon-free CTC beam search with a word n-gram LM
(asr/decode/_wordlm.cpp; why in its header). Everything else is in pyproject.toml."""

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

setup(ext_modules=[Pybind11Extension("asr.decode._wordlm", ["asr/decode/_wordlm.cpp"], cxx_std=17,
                                     extra_compile_args=["-O2"])])
