"""LangChain faces of the pipeline: a retriever, an Embeddings adapter and a runnable chain.

The CLI does not import LangChain (it costs most of a second at start-up); Python
users who compose LangChain chains get the same retrieval and answers here.

>>> retriever = CorpusRetriever(settings=Settings())               # doctest: +SKIP
>>> docs = retriever.invoke("quand la France a-t-elle quitté le Mali ?")  # doctest: +SKIP
>>> docs[0].metadata["date"]                                        # doctest: +SKIP
'2022-02'
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from pydantic import ConfigDict

from .embeddings import load_embedder
from .pipeline import ask, search_passages
from .settings import Settings


class CorpusRetriever(BaseRetriever):
    """The hybrid, date-aware retriever of this package as a LangChain retriever."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    settings: Settings

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        result = search_passages(query, self.settings)
        if not result.relevant:
            return []
        return [
            Document(
                page_content=hit.chunk.text,
                metadata={"source": hit.article_id, "title": hit.chunk.title, "date": hit.chunk.date,
                          "score": hit.score, "start": hit.chunk.start, "end": hit.chunk.end, "id": hit.chunk.id},
            )
            for hit in result.hits
        ]


class EmbedderAdapter(Embeddings):
    """Any embedder of this package as LangChain ``Embeddings`` (query/passage prefixes kept)."""

    def __init__(self, model_name: str = "e5") -> None:
        self._embedder = load_embedder(model_name)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_passages(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.embed_queries([text])[0].tolist()


def answer_chain(settings: Settings | None = None):
    """A runnable: question in, ``Answer`` out (verified quotes, dates, refusal)."""
    settings = settings or Settings()
    return RunnableLambda(lambda question: ask(question, settings), name="sahel_rag_answer")
