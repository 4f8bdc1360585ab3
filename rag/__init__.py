"""Sourced question answering over French news articles about the Sahel.

>>> from rag import ask
>>> print(ask("quand la France a-t-elle quitté le Mali ?").answer)   # doctest: +SKIP

Heavy libraries (FAISS, bm25s, sentence-transformers) load only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Settings", "ask", "search_passages", "build_index"]


def __getattr__(name: str):
    # Lazy: `import rag` must stay cheap for the CLI's start-up time.
    if name == "Settings":
        from .settings import Settings

        return Settings
    if name in ("ask", "search_passages"):
        from . import pipeline

        return getattr(pipeline, name)
    if name == "build_index":
        from .index import build_index

        return build_index
    raise AttributeError(name)
