"""Corpus-specific preparation: turn a known corpus layout into train/dev/test manifests with its standard splits."""
