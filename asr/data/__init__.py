"""Corpus data: manifests, importers, batching."""
