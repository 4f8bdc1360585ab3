"""The few functions the CLI, the app, the eval and Python users all call.

>>> from rag.pipeline import ask
>>> answer = ask("quand la France a-t-elle quitté le Mali ?")   # doctest: +SKIP
>>> answer.citations[0].date                                     # doctest: +SKIP
'2022-02'
"""

from __future__ import annotations

import time
from typing import Iterator

from .answer import Answer, extractive_answer
from .errors import InvalidQuestionError
from .index import BuildReport, LoadedIndex, Progress, open_index
from typing import Callable
from .retrieval import SearchResult, search
from .settings import Settings


def validate_question(question: str, settings: Settings) -> str:
    """The question stripped, or an InvalidQuestionError saying what is wrong."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestionError("La question est vide. Écrivez une question, par ex. « quand la France a-t-elle quitté le Mali ? ».")
    question = " ".join(question.split())
    if any("\ud800" <= ch <= "\udfff" for ch in question):  # undecodable bytes from argv or stdin
        raise InvalidQuestionError("La question n'est pas du texte UTF-8 valide. Vérifiez l'encodage du terminal ou du fichier.")
    if not any(ch.isalnum() for ch in question):
        raise InvalidQuestionError(f"La question « {question[:40]} » ne contient ni lettre ni chiffre. Écrivez une question en mots.")
    if len(question) > settings.max_question_chars:
        raise InvalidQuestionError(
            f"La question fait {len(question)} caractères ; la limite est {settings.max_question_chars}. "
            "Posez une question courte plutôt que de coller un texte."
        )
    return question


def filter_notes(result: SearchResult) -> list[str]:
    notes = []
    if result.undated_excluded:
        n = result.undated_excluded
        notes.append(f"{n} article{'s' if n > 1 else ''} sans date {'ont été exclus' if n > 1 else 'a été exclu'} par le filtre de dates")
    if result.unknown_terms:
        notes.append("absent(s) du corpus : " + ", ".join(result.unknown_terms))
    if result.date_hint is not None:
        notes.append(f"date lue dans la question : « {result.date_hint.expression} » (articles correspondants favorisés, aucun écarté)")
    return notes


def search_passages(question: str, settings: Settings | None = None, *, progress: Progress | None = None,
                    on_build: Callable[[BuildReport], None] | None = None,
                    index: LoadedIndex | None = None) -> SearchResult:
    """The top passages for ``question`` (building the index first if it is missing)."""
    settings = settings or Settings()
    question = validate_question(question, settings)
    index = index or open_index(settings, progress=progress, on_build=on_build)
    return search(index, question, settings.retrieval)


def ask(question: str, settings: Settings | None = None, *, progress: Progress | None = None,
        on_build: Callable[[BuildReport], None] | None = None, index: LoadedIndex | None = None) -> Answer:
    """Answer ``question`` from the corpus with verified, dated quotes (or the refusal)."""
    started = time.perf_counter()
    settings = settings or Settings()
    question = validate_question(question, settings)
    t = time.perf_counter()
    index = index or open_index(settings, progress=progress, on_build=on_build)
    open_ms = (time.perf_counter() - t) * 1000
    result = search(index, question, settings.retrieval)
    t = time.perf_counter()
    if settings.llm:
        from .llm import llm_answer

        answer = llm_answer(question, result, index, settings, notes=filter_notes(result))
    else:
        answer = extractive_answer(question, result, index, notes=filter_notes(result))
    answer.timings_ms = {"open_index": open_ms, **result.timings_ms,
                         "answer": (time.perf_counter() - t) * 1000,
                         "total": (time.perf_counter() - started) * 1000}
    return answer


def ask_stream(question: str, settings: Settings | None = None, *, progress: Progress | None = None,
               index: LoadedIndex | None = None) -> Iterator[str | Answer]:
    """Like `ask`, but with an LLM configured, yield the unverified draft as it grows, then the final Answer.

    Without an LLM the extractive answer is immediate: the only item is the Answer.
    """
    settings = settings or Settings()
    if not settings.llm:
        yield ask(question, settings, progress=progress, index=index)
        return
    from .llm import stream_llm_answer

    started = time.perf_counter()
    question = validate_question(question, settings)
    index = index or open_index(settings, progress=progress)
    result = search(index, question, settings.retrieval)
    for item in stream_llm_answer(question, result, index, settings, notes=filter_notes(result)):
        if isinstance(item, Answer):
            item.timings_ms = {**result.timings_ms, "total": (time.perf_counter() - started) * 1000}
        yield item
