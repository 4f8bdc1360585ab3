"""Optional LLM answers, with every quote and citation number checked before it is shown.

``--llm`` takes a LangChain chat model reachable by the user:

- ``ollama:MODEL`` or ``ollama:MODEL@http://host:11434`` (langchain-ollama);
- ``openai:BASE_URL#MODEL`` for any OpenAI-compatible server (vLLM, llama.cpp
  server, LM Studio), e.g. ``openai:http://127.0.0.1:8080/v1#qwen2.5``; the key
  comes from ``OPENAI_API_KEY`` (``none`` when unset).

After generation, each «…» or "…" quote must be found in the numbered passages
(exactly, once whitespace and quote marks are normalised); an unverified quote is
removed and flagged, out-of-range ``[n]`` are dropped and flagged, and the
verified citations carry source and date like extractive ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from .answer import PROMPTS_DIR, Answer, Citation, classify_question, refusal_text, render_answer
from .cleaning import normalise_quote_marks
from .dates import PartialDate, display_date, find_dates
from .errors import LLMError
from .index import LoadedIndex
from .retrieval import Hit, SearchResult
from .settings import Settings

_QUOTE = re.compile(r"«\s*(.+?)\s*»|“(.+?)”|\"(.+?)\"", re.S)
_CITE = re.compile(r"\[(\d+)\]")
_REMOVED = "\x00"


@dataclass(frozen=True)
class LLMSpec:
    provider: str  # "ollama" or "openai"
    model: str
    base_url: str | None


def parse_llm_spec(spec: str) -> LLMSpec:
    """'ollama:mistral', 'ollama:mistral@http://h:11434' or 'openai:http://h:8080/v1#model'."""
    provider, _, rest = spec.partition(":")
    if provider == "ollama" and rest:
        model, _, url = rest.partition("@")
        return LLMSpec("ollama", model, url or None)
    if provider == "openai" and "#" in rest:
        url, _, model = rest.rpartition("#")
        if url.startswith(("http://", "https://")) and model:
            return LLMSpec("openai", model, url)
    raise LLMError(
        f"Modèle de langage illisible : {spec!r}. Écrivez ollama:MODELE[@URL] "
        "ou openai:URL#MODELE (ex. openai:http://127.0.0.1:8080/v1#qwen2.5)."
    )


def make_chat_model(spec: LLMSpec):
    """The LangChain chat model for ``spec`` (imports its package only now)."""
    import os

    try:
        if spec.provider == "ollama":
            from langchain_ollama import ChatOllama

            kwargs = {"model": spec.model, "temperature": 0}
            if spec.base_url:
                kwargs["base_url"] = spec.base_url
            return ChatOllama(**kwargs)
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=spec.model, base_url=spec.base_url, api_key=os.environ.get("OPENAI_API_KEY", "none"),
                          temperature=0, max_retries=0, timeout=120)
    except ImportError:
        package = "langchain-ollama" if spec.provider == "ollama" else "langchain-openai"
        raise LLMError(f"Le mode --llm {spec.provider} demande le paquet {package} : pip install '.[llm]'.") from None


@lru_cache(maxsize=None)
def _prompt(name: str) -> str:
    return (PROMPTS_DIR / name).read_text(encoding="utf-8")


def build_messages(question: str, hits: list[Hit]) -> list[tuple[str, str]]:
    passages = "\n\n".join(
        _prompt("passage.txt").format(n=n, title=h.chunk.title, date=display_date(h.chunk.date), source=h.article_id,
                                       text=" ".join(h.chunk.text.split())).strip()
        for n, h in enumerate(hits, start=1)
    )
    system = _prompt("answer_system.txt").format(n_passages=len(hits), refusal=refusal_text())
    return [("system", system), ("user", _prompt("answer_user.txt").format(passages=passages, question=question))]


def _normalise(text: str) -> str:
    return " ".join(normalise_quote_marks(text).split()).strip(" .,;:")


@dataclass
class Verification:
    text: str  # the reply with unverified quotes and bad numbers removed
    citations: list[Citation]
    flagged: list[str]


def verify_reply(reply: str, hits: list[Hit], index: LoadedIndex) -> Verification:
    """Check every quote against the passages and every [n] against their number.

    Citations follow the reply's order: one per verified quote (from the passage
    that holds it), then one per valid [n] without a quote; the reply's [n] are
    renumbered to match the citations shown under it.
    """
    flagged: list[str] = []
    passages = [_normalise(h.chunk.text) for h in hits]
    cited: list[tuple[int, str | None]] = []  # (passage number, verified quote or None)

    def check_quote(match: re.Match) -> str:
        quote = next(g for g in match.groups() if g is not None)
        key = _normalise(quote)  # even « 17 février »: a short quote is still a claim about the source
        for n, passage in enumerate(passages, start=1):
            if key and key in passage:
                cited.append((n, quote))
                return match.group(0)
        flagged.append(f"citation non vérifiée retirée : « {quote[:160]} »")
        return _REMOVED

    text = _QUOTE.sub(check_quote, reply)
    valid_numbers = []

    def check_number(match: re.Match) -> str:
        n = int(match.group(1))
        if 1 <= n <= len(hits):
            valid_numbers.append(n)
            return match.group(0)
        flagged.append(f"référence [{n}] retirée : seuls les passages [1] à [{len(hits)}] existent")
        return _REMOVED

    text = _CITE.sub(check_number, text)
    # A sentence that leaned on a removed quote or reference goes with it: its claim is unsupported.
    sentences = re.split(r"(?<=[.!?])\s+", text)
    text = " ".join(s for s in sentences if _REMOVED not in s)
    quoted_passages = {n for n, _ in cited}
    cited += [(n, None) for n in dict.fromkeys(valid_numbers) if n not in quoted_passages]

    citations, display = [], {}
    for n, quote in cited:
        hit = hits[n - 1]
        article = index.articles[hit.article_id]
        start, end = _locate(article.text, quote, hit) if quote else (hit.chunk.start, hit.chunk.end)
        article_date = PartialDate.parse(hit.chunk.date) if hit.chunk.date else None
        citations.append(Citation(hit.article_id, hit.chunk.title, hit.chunk.date, article.text[start:end],
                                  hit.score, start, end, hit.chunk.text, hit.chunk.start,
                                  tuple(find_dates(article.text[start:end], article_date))))
        display.setdefault(n, len(citations))
    text = _CITE.sub(lambda m: f"[{display[int(m.group(1))]}]" if int(m.group(1)) in display else "", text)
    text = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    return Verification(text, citations, flagged)


def _locate(article_text: str, quote: str, hit: Hit) -> tuple[int, int]:
    """Offsets of a verified quote in the article (whitespace and quote marks flexible)."""
    words = [re.escape(w) for w in normalise_quote_marks(quote).split()]
    pattern = r"\s+".join(words)
    normalised_article = normalise_quote_marks(article_text)  # same length: one character for one
    m = re.search(pattern, normalised_article[hit.chunk.start:hit.chunk.end]) if words else None
    if m:
        return hit.chunk.start + m.start(), hit.chunk.start + m.end()
    return hit.chunk.start, hit.chunk.end


def stream_llm_answer(question: str, result: SearchResult, index: LoadedIndex, settings: Settings,
                      notes: list[str] | None = None, chat_model=None) -> Iterator[str | Answer]:
    """Yield the draft text as it streams, then the verified ``Answer`` last.

    The draft is unverified: show it as such, and replace it with the final answer.
    """
    notes = list(notes or [])
    qtype = classify_question(question)
    if not result.relevant or not result.hits:  # no context: refuse without asking a model
        yield Answer.refusal(question, index.model_id, qtype, result.hits, notes)
        return
    spec = parse_llm_spec(settings.llm) if chat_model is None else None
    model = chat_model or make_chat_model(spec)
    reply = ""
    try:
        for chunk in model.stream(build_messages(question, result.hits)):
            piece = chunk.content if isinstance(chunk.content, str) else "".join(
                part.get("text", "") for part in chunk.content if isinstance(part, dict))
            reply += piece
            yield reply
    except Exception as exc:
        if _is_connection_error(exc):
            where = spec.base_url if spec and spec.base_url else ("http://127.0.0.1:11434" if spec and spec.provider == "ollama" else "?")
            raise LLMError(
                f"Le modèle de langage {settings.llm!r} est injoignable à l'adresse {where} "
                f"({type(exc).__name__}). Vérifiez que le serveur tourne (ex. « ollama serve ») et l'URL."
            ) from None
        raise LLMError(f"Le modèle de langage a échoué : {type(exc).__name__}: {str(exc)[:200]}") from None

    if _normalise(refusal_text()) in _normalise(reply):
        yield Answer.refusal(question, index.model_id, qtype, result.hits, notes)
        return
    checked = verify_reply(reply, result.hits, index)
    if not checked.citations:
        notes.append("le modèle n'a cité aucun passage vérifiable : réponse refusée")
        yield Answer.refusal(question, index.model_id, qtype, result.hits, notes, checked.flagged)
        return
    lead = checked.text
    if checked.flagged:  # the removed text itself stays out of the answer; --json lists it under "flagged"
        notes.append(f"signalé : {len(checked.flagged)} élément(s) non vérifié(s) retiré(s) de la réponse du modèle")
    answer_text = render_answer(lead, checked.citations, notes)
    yield Answer(question, answer_text, lead, False, checked.citations, index.model_id, qtype,
                 lead_source=checked.citations[0].source, hits=result.hits, notes=notes, flagged=checked.flagged)


def llm_answer(question: str, result: SearchResult, index: LoadedIndex, settings: Settings,
               notes: list[str] | None = None, chat_model=None) -> Answer:
    """The verified answer, once generation has finished."""
    final = None
    for item in stream_llm_answer(question, result, index, settings, notes, chat_model):
        final = item
    assert isinstance(final, Answer)
    return final


def _is_connection_error(exc: Exception) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectError", "ConnectionError", "APIConnectionError", "ModelConnectionError",
                         "ConnectTimeout", "TransportError"}) or isinstance(exc, ConnectionError)
