"""Recurrent CTC speech recognition: manifests -> log-mel -> RNN encoder -> CTC -> decoding -> WER."""
