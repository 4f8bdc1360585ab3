"""Domain errors. Each carries a message that tells the user what to change.

They are raised deep in the pipeline and turned into a printed message (CLI) or a
chat message (app) only at the edge; nothing here prints.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: `str(error)` is a complete, user-facing French message."""

    exit_code = 2


class InvalidQuestionError(RagError):
    """The question is empty, blank or too long."""


class CorpusError(RagError):
    """The corpus folder is missing, empty or holds no readable article."""


class MetadataError(RagError):
    """The metadata sidecar of the corpus is malformed."""


class UnknownModelError(RagError):
    """The embedding model name cannot be resolved or loaded."""


class IndexCorruptedError(RagError):
    """Index files were truncated or edited after they were written."""


class IndexMismatchError(RagError):
    """The index on disk was built with other settings than the ones requested."""


class SettingsError(RagError):
    """A setting has an invalid value (top-k, dates, chunk sizes…)."""


class QuestionFileError(RagError):
    """An evaluation question file is malformed."""


class LLMError(RagError):
    """The language model could not be reached or answered badly."""
