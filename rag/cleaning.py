"""Cleaning rules for scraped news text, applied in code and never by hand.

Every rule either removes whole lines or changes whitespace only, so that a quote
taken from the cleaned text is still verbatim in the original file once
whitespace is set aside (see ``squash_whitespace``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Bump when a rule changes: cleaned text (and so every chunk) may change with it.
CLEANING_VERSION = 1

_DATE_HEADER = re.compile(r"^\s*date\s+(\d{4}(?:-\d{2}(?:-\d{2})?)?)(?![\d-])[ \t]*", re.I)

# Consent banners and social embeds pasted in by scrapers (Le Monde, France 24, RFI…).
_NOTICE_PATTERNS = [
    re.compile(p, re.I)
    for p in (
        r"^pour afficher ce contenu\b",
        r"vous devez accepter les cookies",
        r"^ces cookies permettent\b",
        r"\bj['’]autorise\b.*\bg[ée]rer mes choix\b",
        r"^g[ée]rer mes choix$",
        r"^(advertisement|publicité|pub|annonce|sponsored|contenu sponsorisé)$",
        r"^lire aussi\s*:?",
        r"^(partager|share)( sur (facebook|twitter|x|linkedin))?$",
    )
]
# A signature is a short line of 2-3 capitalised words (a person's name) near the end.
_SIGNATURE = re.compile(r"^[A-ZÀ-Ý][\w'’-]+(?: [A-ZÀ-Ý][\w'’-]+){1,2}$")
_SENTENCE_END = re.compile(r"[.!?…:;»\"]\s*$")
# Glued table cells: a lower-case letter (or closing bracket/digit) directly followed by
# a capital starts a new cell, e.g. "Déficit de confianceDécisions unilatérales".
_GLUED_CELLS = re.compile(r"(?<=[a-zà-ÿ0-9)])(?=[A-ZÀ-Ý][a-zà-ÿ])")


@dataclass(frozen=True)
class CleanedText:
    text: str
    date: str | None  # from a leading "date YYYY-MM[-DD]" line, at that precision
    title_line: str | None  # a heading found at the top (repeated title lines removed)
    removed: tuple[str, ...]  # the lines dropped, for `rag index --verbose` and tests


def squash_whitespace(text: str) -> str:
    """The text with every whitespace run removed: the key for verbatim checks."""
    return re.sub(r"\s+", "", text)


def normalise_quote_marks(text: str) -> str:
    """Map typographic variants to one form, for comparing a model's quote with a source."""
    table = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "\u00a0": " ", "\u202f": " "})
    return text.translate(table)


def is_punctuation_noise(line: str) -> bool:
    """'/ / / /', '. . . .', '$ $ $', '* * *', '- - -': no letter nor digit at all."""
    stripped = line.strip()
    return bool(stripped) and not any(ch.isalnum() for ch in stripped)


def is_notice(line: str) -> bool:
    stripped = line.strip()
    return any(p.search(stripped) for p in _NOTICE_PATTERNS)


def looks_like_table_row(line: str) -> bool:
    """A short line with no sentence punctuation whose cells were glued together."""
    stripped = line.strip()
    return (
        len(stripped) < 200
        and not _SENTENCE_END.search(stripped)
        and ". " not in stripped
        and bool(_GLUED_CELLS.search(stripped))
    )


def separate_glued_cells(line: str) -> str:
    """Insert a tab between glued cells: whitespace only, the characters stay."""
    return _GLUED_CELLS.sub("\t", line)


def _normalise_title(line: str) -> str:
    return unicodedata.normalize("NFC", line.strip().rstrip(".").strip()).casefold()


def _strip_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """Drop a trailing author signature and the short bio that follows it."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    for i in content[-3:]:
        if _SIGNATURE.match(lines[i].strip()):
            after = [lines[j].strip() for j in content if j > i]
            if all(len(a) < 200 for a in after):
                return lines[:i], [l for l in lines[i:] if l.strip()]
    return lines, []


def clean_text(raw: str) -> CleanedText:
    """Apply every rule to one article's raw text.

    >>> clean_text(" date 2022-02 Texte.\\n\\nADVERTISEMENT\\n* * *").text
    'Texte.'
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    date = None
    header = _DATE_HEADER.match(text)
    if header:
        date = header.group(1)
        text = text[header.end():]

    removed: list[str] = []
    kept: list[str] = []
    for line in text.split("\n"):
        if is_punctuation_noise(line) or is_notice(line):
            removed.append(line.strip())
            continue
        kept.append(line)

    kept, signature = _strip_signature(kept)
    removed.extend(signature)

    # Title lines repeated at the top (a scraper artefact): keep the first one only.
    title_line = None
    first = [i for i, line in enumerate(kept) if line.strip()][:4]
    if first:
        candidate = kept[first[0]].strip()
        repeats = [i for i in first[1:] if _normalise_title(kept[i]) == _normalise_title(candidate)]
        if repeats or (len(candidate) < 160 and not _SENTENCE_END.search(candidate)):
            title_line = candidate.rstrip(".")
        for i in reversed(repeats):
            removed.append(kept.pop(i).strip())

    lines = []
    for line in kept:
        line = line.strip()
        if looks_like_table_row(line):
            line = separate_glued_cells(line)
        lines.append(line)
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return CleanedText(cleaned, date, title_line, tuple(removed))
