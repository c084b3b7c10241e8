"""Recurrent CTC speech recognition: manifests -> log-mel -> RNN encoder -> CTC -> decoding -> WER."""

__version__ = "0.1.0"
