"""Stage 1: read the articles of a corpus folder into ``Article`` records.

Files: ``.txt`` and ``.md`` as UTF-8 text, ``.html``/``.htm`` through trafilatura.
An optional sidecar ``metadata.json`` in the folder maps a file name to its
``title``, ``date`` (YYYY, YYYY-MM or YYYY-MM-DD) and ``url``; it wins over what
is read from the file. A file that is binary or not UTF-8 is skipped with a
warning naming it, and the rest is read.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .cleaning import CleanedText, clean_text
from .dates import PartialDate
from .errors import CorpusError, MetadataError

TEXT_SUFFIXES = {".txt", ".md"}
HTML_SUFFIXES = {".html", ".htm"}
SIDECAR_NAME = "metadata.json"
_TITLE_MAX = 90


@dataclass(frozen=True)
class Article:
    """One cleaned article. ``id`` is its file name, stable across runs."""

    id: str
    title: str
    text: str
    date: PartialDate | None
    url: str | None = None
    content_hash: str = ""  # sha256 of the raw file bytes plus the metadata that shaped it
    removed_lines: tuple[str, ...] = field(default=(), repr=False)

    @property
    def date_iso(self) -> str | None:
        return self.date.iso() if self.date else None


@dataclass(frozen=True)
class CorpusReport:
    """What loading found: the articles, and the files skipped with the reason."""

    articles: list[Article]
    skipped: list[tuple[str, str]]  # (file name, reason in French)


def _title_from_text(text: str) -> str:
    """First sentence, shortened: a display label for articles without a heading."""
    first_line = text.strip().split("\n", 1)[0]
    sentence = re.split(r"(?<=[.!?])\s", first_line, maxsplit=1)[0]
    if len(sentence) <= _TITLE_MAX:
        return sentence.rstrip(".")
    return sentence[:_TITLE_MAX].rsplit(" ", 1)[0] + "…"


def load_sidecar(folder: Path) -> dict[str, dict]:
    path = folder / SIDECAR_NAME
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"Le fichier de métadonnées {path} n'est pas du JSON valide ({exc}). Corrigez-le ou supprimez-le.") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise MetadataError(
            f"{path} doit être un objet JSON {{\"nom_de_fichier.txt\": {{\"title\": …, \"date\": …, \"url\": …}}}}."
        )
    for name, meta in data.items():
        for key in ("title", "date", "url"):
            if key in meta and not isinstance(meta[key], str):
                raise MetadataError(f"{path} : « {key} » doit être une chaîne pour {name} (reçu : {meta[key]!r}).")
        unknown = set(meta) - {"title", "date", "url"}
        if unknown:
            raise MetadataError(f"{path} : clé(s) inconnue(s) {sorted(unknown)} pour {name}. Clés permises : title, date, url.")
        if meta.get("date"):
            try:
                PartialDate.parse(str(meta["date"]))
            except ValueError:
                raise MetadataError(
                    f"{path} : date illisible {meta['date']!r} pour {name}. Écrivez AAAA, AAAA-MM ou AAAA-MM-JJ."
                ) from None
    return data


def _decode(path: Path, raw: bytes) -> str | None:
    """Text of a file, or None when it is binary or not UTF-8."""
    if b"\x00" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _html_to_text(html: str) -> str:
    import trafilatura  # only HTML corpora pay for this import

    return trafilatura.extract(html, include_comments=False, include_tables=True, favor_precision=True) or ""


def read_article(path: Path, meta: dict | None = None) -> Article | str:
    """An Article, or a French reason why the file was skipped."""
    raw = path.read_bytes()
    text = _decode(path, raw)
    if text is None:
        return "fichier binaire ou non UTF-8"
    if path.suffix.lower() in HTML_SUFFIXES:
        text = _html_to_text(text)
    cleaned: CleanedText = clean_text(text)
    if not cleaned.text.strip():
        return "aucun texte après nettoyage"
    meta = meta or {}
    date_text = meta.get("date") or cleaned.date
    if date_text and not meta.get("date"):
        try:
            PartialDate.parse(date_text)
        except ValueError:
            return f"en-tête de date impossible « date {date_text} » : écrivez date AAAA, AAAA-MM ou AAAA-MM-JJ"
    hasher = hashlib.sha256(raw)
    hasher.update(json.dumps(meta, sort_keys=True).encode())
    return Article(
        id=path.name,
        title=meta.get("title") or cleaned.title_line or _title_from_text(cleaned.text),
        text=cleaned.text,
        date=PartialDate.parse(str(date_text)) if date_text else None,
        url=meta.get("url"),
        content_hash=hasher.hexdigest(),
        removed_lines=cleaned.removed,
    )


def corpus_files(folder: Path) -> list[Path]:
    suffixes = TEXT_SUFFIXES | HTML_SUFFIXES
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
        and p.name.lower() not in {"readme.md", "readme.txt"}
    )


def check_corpus_dir(folder: Path | str) -> Path:
    folder = Path(folder)
    if not folder.exists():
        raise CorpusError(f"Le dossier du corpus {folder} n'existe pas. Indiquez-le avec --corpus DOSSIER.")
    if not folder.is_dir():
        raise CorpusError(f"{folder} n'est pas un dossier. Indiquez un dossier d'articles avec --corpus.")
    return folder


def load_corpus(folder: Path | str) -> CorpusReport:
    """Read every article of ``folder``.

    >>> report = load_corpus("corpus")   # doctest: +SKIP
    >>> report.articles[1].date.iso()    # doctest: +SKIP
    '2022-02'
    """
    folder = check_corpus_dir(folder)
    sidecar = load_sidecar(folder)
    files = corpus_files(folder)
    if not files:
        raise CorpusError(
            f"Le dossier du corpus {folder} ne contient aucun article (.txt, .md ou .html). Ajoutez-y des articles."
        )
    articles, skipped = [], []
    names = {p.name for p in files}
    for name in sorted(set(sidecar) - names):
        skipped.append((name, f"décrit dans {SIDECAR_NAME} mais absent du dossier (nom mal orthographié ?)"))
    for path in files:
        result = read_article(path, sidecar.get(path.name))
        if isinstance(result, str):
            skipped.append((path.name, result))
        else:
            articles.append(result)
    if not articles:
        reasons = "; ".join(f"{name} ({why})" for name, why in skipped)
        raise CorpusError(f"Aucun article lisible dans {folder} : {reasons}.")
    return CorpusReport(articles, skipped)
