"""French lexical search: BM25 (bm25s) over the same chunks as the dense index.

The analyzer folds case, handles elisions ("l'Alliance" -> "alliance"), drops
French stop words, stems with Snowball's French stemmer (PyStemmer) and then
folds accents, so "États", "etats" and "Etat" meet. The index is saved with
numpy arrays and JSON only (no pickle) beside the FAISS file.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

from .chunking import Chunk

_ELISION = re.compile(r"\b(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu|quoiqu)['’](?=\w)", re.I)
_TOKEN = re.compile(r"\w+", re.UNICODE)
# Interrogatives and fillers that carry no topic in a question.
_QUESTION_WORDS = {
    "quand", "depuis", "qui", "quoi", "quel", "quelle", "quels", "quelles", "combien", "comment", "pourquoi",
    "où", "ou", "est", "ce", "que", "qu", "a", "t", "il", "elle", "ils", "elles", "on",
}


def fold_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_FRENCH

    words = {w.lower() for w in STOPWORDS_FRENCH} | _QUESTION_WORDS
    return frozenset(words | {fold_accents(w) for w in words})


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("french")


def analyze(text: str) -> list[str]:
    """Terms of a French text, as indexed and as searched.

    >>> analyze("l'Alliance des États du Sahel")
    ['allianc', 'etat', 'sahel']
    """
    text = _ELISION.sub("", text.lower())
    stop = _stopwords()
    # Stop words go; numbers stay when they have two digits or more (years, counts).
    words = [w for w in _TOKEN.findall(text) if (w.isdigit() and len(w) >= 2) or (not w.isdigit() and w not in stop)]
    return [fold_accents(stem) for stem in _stemmer().stemWords(words)]


class LexicalIndex:
    """BM25 over chunks, rows aligned with the FAISS index."""

    def __init__(self, model) -> None:
        self._model = model

    @classmethod
    def build(cls, chunks: list[Chunk]) -> "LexicalIndex":
        import bm25s

        model = bm25s.BM25(k1=1.2, b=0.75)
        # An empty token lets bm25s index a chunk made only of stop words.
        model.index([analyze(c.text) or [""] for c in chunks], show_progress=False)
        return cls(model)

    def save(self, folder: Path) -> None:
        self._model.save(str(folder), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        import bm25s

        return cls(bm25s.BM25.load(str(folder), allow_pickle=False, load_corpus=False))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (zeros when no term matches)."""
        vocab = self._model.vocab_dict
        terms = [t for t in analyze(query) if t in vocab]
        n = int(self._model.scores["num_docs"])
        if not terms:
            return np.zeros(n, dtype=np.float32)
        return np.asarray(self._model.get_scores(terms), dtype=np.float32)

