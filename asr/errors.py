"""Errors a user can cause. The CLI prints them as one line, without a traceback."""

from __future__ import annotations


class AsrError(Exception):
    """Base class for every error caused by user input (files, configs, arguments)."""


class AudioError(AsrError):
    """An audio file is missing, unreadable, empty, truncated or holds non-finite samples."""


class ManifestError(AsrError):
    """A manifest or corpus directory is malformed."""


class ConfigError(AsrError):
    """A YAML config or a command-line override is invalid."""


class CheckpointError(AsrError):
    """A model file is missing, corrupt, unsafe or from an unsupported format version."""


class TextError(AsrError):
    """A transcript cannot be handled by the tokenizer."""


class OutputError(AsrError, OSError):
    """An output file could not be written (disk full, read-only folder...); the previous file is kept.

    Also an ``OSError``, so callers that handle file-system failures keep working.
    """
