"""Stage 5: find the passages that answer a question.

Dense search (FAISS) and French BM25 are fused by reciprocal rank fusion; either
leg can be switched off. Date filters (``since``/``until``) keep the articles
whose date can fall in the range, at the precision each article has, and count
the undated ones they leave out. A date written in the question ("en 2022")
favours matching articles without dropping any. Overlapping chunks of one article
are merged into one passage. Whether anything relevant was found at all is
decided by a relevance threshold calibrated per embedding model.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .chunking import Chunk
from .dates import PartialDate, QuestionDateHint, overlaps, parse_filter_bounds, question_date_hint
from .embeddings import load_embedder
from .index import LoadedIndex
from .settings import RetrievalSettings

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
_DATE_HINT_BONUS = 0.5  # in units of a first-rank RRF contribution


@dataclass(frozen=True)
class Hit:
    """A retrieved passage (one chunk, or several overlapping chunks merged)."""

    chunk: Chunk
    score: float  # the fused score that orders hits
    dense_score: float | None  # cosine similarity, None when the dense leg is off
    lexical_score: float | None  # BM25, None when the lexical leg is off
    rank: int
    merged_ids: tuple[str, ...] = ()

    @property
    def article_id(self) -> str:
        return self.chunk.article_id

    def to_dict(self) -> dict:
        return {
            "id": self.chunk.id, "source": self.chunk.article_id, "title": self.chunk.title,
            "date": self.chunk.date, "text": self.chunk.text, "start": self.chunk.start, "end": self.chunk.end,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "lexical_score": None if self.lexical_score is None else round(self.lexical_score, 6),
            "rank": self.rank, "merged_ids": list(self.merged_ids),
        }


@dataclass
class SearchResult:
    hits: list[Hit]
    relevant: bool  # False: nothing passed the relevance threshold
    best_relevance: float  # the evidence the threshold was compared with
    threshold: float
    undated_excluded: int = 0  # articles left out by an explicit date filter for lack of a date
    filtered_out: int = 0  # dated articles outside the explicit range
    date_hint: QuestionDateHint | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    unknown_terms: list[str] = field(default_factory=list)  # names/numbers of the question absent from the corpus


@lru_cache(maxsize=1)
def _calibration() -> dict:
    if CALIBRATION_FILE.exists():
        return json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    return {}


def relevance_threshold(model_id: str, evidence_kind: str, override: float | None = None) -> float:
    """The calibrated threshold for this model, on dense or BM25 evidence (see `rag eval --calibrate`)."""
    if override is not None:
        return override
    entry = _calibration().get(model_id, {})
    return float(entry.get(evidence_kind, 0.0))


def relevance_evidence(dense: float | None, lexical_share: float | None) -> float:
    """One number per question: how strongly the best passage matches.

    The dense cosine when the dense leg ran (it separates answerable from
    unanswerable questions best on the eval set), else the normalised BM25 share.
    """
    if dense is not None:
        return dense
    return lexical_share or 0.0


# Acronyms (MINUSMA, JNIM) and numbers of two digits or more (years, counts). Capitalised
# words are left out: "Maghreb" may well be asked about a text that says "Afrique du Nord".
_ENTITY = re.compile(r"\b([A-ZÀ-Ý]{2,}[\w-]*)\b|\b(\d{2,})\b")
_FRENCH_MARKERS = {"le", "la", "les", "des", "du", "de", "est", "a", "quel", "quelle", "quand", "qui", "combien",
                   "pourquoi", "où", "en", "au", "aux", "ont", "sont", "une", "un", "il", "elle", "depuis"}
_ENGLISH_MARKERS = {"the", "of", "did", "does", "is", "are", "was", "were", "who", "when", "what", "which", "how",
                    "why", "where", "in", "to", "from", "its", "their"}


def looks_french(question: str) -> bool:
    words = re.findall(r"[\wÀ-ÿ]+", question.lower())
    return sum(w in _FRENCH_MARKERS for w in words) >= sum(w in _ENGLISH_MARKERS for w in words)


def corpus_vocabulary(index: LoadedIndex) -> frozenset[str]:
    """Every word of the corpus, lower-cased with accents folded (cached on the index)."""
    from .lexical import fold_accents

    with index._lock:
        vocab = getattr(index, "_surface_vocab", None)
        if vocab is None:
            words: set[str] = set()
            for article in index.articles.values():
                words.update(re.findall(r"\w+", fold_accents(article.text.lower())))
            vocab = frozenset(words)
            index._surface_vocab = vocab
        return vocab


def unknown_terms(question: str, index: LoadedIndex) -> list[str]:
    """Acronyms and numbers of a French question that occur nowhere in the corpus.

    A question about "la MINUSMA" or "1992" cannot be answered by a corpus that
    never writes those words, however close the nearest passage looks. English
    questions are left to the dense threshold: their words are not in a French
    corpus anyway.
    """
    from .lexical import fold_accents

    if not looks_french(question):
        return []
    letters = [ch for ch in question if ch.isalpha()]
    shouting = letters and sum(ch.isupper() for ch in letters) > 0.6 * len(letters)
    vocab = corpus_vocabulary(index)
    missing = []
    for m in _ENTITY.finditer(question.strip()):
        if shouting and m.group(1):  # "QUAND LA FRANCE…": capitals say nothing about acronyms
            continue
        term = m.group(1) or m.group(2)
        parts = re.findall(r"\w+", fold_accents(term.lower()))
        if parts and not all(p in vocab for p in parts):
            missing.append(term)
    return missing


def _allowed_rows(index: LoadedIndex, settings: RetrievalSettings) -> tuple[np.ndarray | None, int, int]:
    """Row mask for the explicit date filter, and how many articles it left out."""
    since, until = parse_filter_bounds(settings.since, settings.until)
    if not since and not until:
        return None, 0, 0
    keep_articles, undated, outside = set(), 0, 0
    for article in index.articles.values():
        if article.date is None:
            undated += 1
        elif overlaps(PartialDate.parse(article.date), since, until):
            keep_articles.add(article.id)
        else:
            outside += 1
    mask = np.fromiter((c.article_id in keep_articles for c in index.chunks), dtype=bool, count=len(index.chunks))
    return mask, undated, outside


def _dense_ranking(index: LoadedIndex, query_vector: np.ndarray, k: int, mask: np.ndarray | None):
    import faiss

    if index.faiss_index.ntotal == 0:
        return [], {}
    k = min(k, index.faiss_index.ntotal if mask is None else int(mask.sum()))
    if k <= 0:
        return [], {}
    params = None
    if mask is not None:
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.flatnonzero(mask).astype(np.int64)))
    scores, ids = index.faiss_index.search(query_vector.reshape(1, -1).astype(np.float32), k, params=params)
    ranking = [int(i) for i in ids[0] if i >= 0]
    return ranking, {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}


def _lexical_ranking(index: LoadedIndex, question: str, k: int, mask: np.ndarray | None):
    scores = index.lexical.scores(question)  # loaded with the index
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    positive = np.flatnonzero(scores > 0)
    order = positive[np.argsort(-scores[positive], kind="stable")][:k]
    return [int(i) for i in order], scores


def _hint_matches(index: LoadedIndex, hint: QuestionDateHint | None) -> set[str]:
    if hint is None:
        return set()
    return {a.id for a in index.articles.values()
            if a.date and overlaps(PartialDate.parse(a.date), hint.since, hint.until)}


def _merge_overlapping(index: LoadedIndex, ranked: list[tuple[int, float]]) -> list[tuple[Chunk, float, list[int]]]:
    """Fold chunks of one article whose spans overlap or touch into the best-ranked one.

    A merged span can reach a passage kept earlier: it is folded in too, so no two
    results ever overlap. The merged result keeps the rank and score of its best part.
    """
    from .chunking import count_tokens

    def touches(a: Chunk, b: Chunk) -> bool:
        return a.article_id == b.article_id and a.start <= b.end and b.start <= a.end

    merged: list[tuple[Chunk, float, list[int]]] = []
    for row, score in ranked:
        item, position = (index.chunks[row], score, [row]), len(merged)
        while touching := [i for i, kept in enumerate(merged) if touches(kept[0], item[0])]:
            if touching[0] <= position:  # an earlier, better-ranked passage leads the merge
                position, best = touching[0], merged[touching[0]]
            else:
                best = item
            group = [merged[i] for i in touching] + [item]
            start, end = min(c.start for c, _, _ in group), max(c.end for c, _, _ in group)
            text = index.articles[best[0].article_id].text[start:end]
            head = best[0]
            item = (Chunk(head.id, head.article_id, head.title, head.date, text, start, end, count_tokens(text)),
                    best[1], [r for _, _, rows in group for r in rows])
            for i in reversed(touching):
                merged.pop(i)
        merged.insert(position, item)
    return merged


def _mmr(index: LoadedIndex, query_vector: np.ndarray, candidates: list[tuple[int, float]], k: int,
         lam: float) -> list[tuple[int, float]]:
    """Maximal marginal relevance over the fused candidates (vectors from the index)."""
    chosen: list[tuple[int, float]] = []
    pool = list(candidates)
    while pool and len(chosen) < k:
        def gain(item):
            row = item[0]
            sim_q = float(index.vectors[row] @ query_vector)
            sim_sel = max((float(index.vectors[row] @ index.vectors[c[0]]) for c in chosen), default=0.0)
            return lam * sim_q - (1 - lam) * sim_sel
        best = max(pool, key=gain)
        chosen.append(best)
        pool.remove(best)
    return chosen


def _rerank(question: str, index: LoadedIndex, candidates: list[tuple[int, float]], model_name: str):
    from .reranking import load_cross_encoder

    model = load_cross_encoder(model_name)
    scores = model.predict([(question, index.chunks[row].text) for row, _ in candidates])
    return sorted(((row, float(s)) for (row, _), s in zip(candidates, scores)), key=lambda x: -x[1])


def search(index: LoadedIndex, question: str, settings: RetrievalSettings) -> SearchResult:
    """Rank the passages of ``index`` for ``question``.

    >>> result = search(open_index(Settings()), "quand la France a-t-elle quitté le Mali ?",
    ...                  RetrievalSettings())   # doctest: +SKIP
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    mask, undated_excluded, outside = _allowed_rows(index, settings)
    use_dense = settings.mode in ("hybrid", "dense") and settings.dense_weight > 0
    use_lexical = settings.mode in ("hybrid", "bm25") and settings.lexical_weight > 0
    if not (use_dense or use_lexical):
        use_dense = True  # both weights at zero: fall back to plain dense ranking

    query_vector = None
    dense_rank: list[int] = []
    dense_scores: dict[int, float] = {}
    if use_dense or settings.mmr_lambda is not None:
        embedder = load_embedder(index.model_id)
        t = time.perf_counter()
        query_vector = embedder.embed_queries([question])[0]
        timings["embed_query"] = (time.perf_counter() - t) * 1000
    if use_dense:
        t = time.perf_counter()
        dense_rank, dense_scores = _dense_ranking(index, query_vector, settings.candidates, mask)
        timings["dense"] = (time.perf_counter() - t) * 1000
    lexical_rank: list[int] = []
    lexical_scores = None
    if use_lexical:
        t = time.perf_counter()
        lexical_rank, lexical_scores = _lexical_ranking(index, question, settings.candidates, mask)
        timings["lexical"] = (time.perf_counter() - t) * 1000

    hint = question_date_hint(question)
    hinted = _hint_matches(index, hint)
    fused: dict[int, float] = {}
    for weight, ranking in ((settings.dense_weight, dense_rank), (settings.lexical_weight, lexical_rank)):
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (settings.rrf_k + rank)
    if hinted:
        bonus = _DATE_HINT_BONUS / (settings.rrf_k + 1)
        for row in fused:
            if index.chunks[row].article_id in hinted:
                fused[row] += bonus
    ranked = sorted(fused.items(), key=lambda x: (-x[1], x[0]))
    if settings.reranker:
        ranked = _rerank(question, index, ranked[: max(settings.top_k * 4, 20)], settings.reranker)
    if settings.mmr_lambda is not None and query_vector is not None:
        ranked = _mmr(index, query_vector, ranked[: settings.candidates], settings.top_k * 2, settings.mmr_lambda)

    hits = []
    for chunk, score, rows in _merge_overlapping(index, ranked)[: settings.top_k]:
        dense = max((dense_scores[r] for r in rows if r in dense_scores), default=None) if use_dense else None
        if use_dense and dense is None and query_vector is not None:
            dense = float(max(index.vectors[r] @ query_vector for r in rows))
        lexical = float(max(lexical_scores[r] for r in rows)) if lexical_scores is not None else None
        hits.append(Hit(chunk, score, dense, lexical, len(hits) + 1, tuple(index.chunks[r].id for r in rows)))

    best_dense = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
    best_lexical = _lexical_share(hits, question, index) if best_dense is None else None
    evidence = relevance_evidence(best_dense, best_lexical)
    threshold = relevance_threshold(index.model_id, "dense" if best_dense is not None else "bm25",
                                    settings.min_relevance)
    missing = unknown_terms(question, index)
    timings["search_total"] = (time.perf_counter() - t0) * 1000
    return SearchResult(hits, bool(hits) and not missing and evidence >= threshold, evidence, threshold,
                        undated_excluded, outside, hint, timings, missing)


def _lexical_share(hits: list[Hit], question: str, index: LoadedIndex) -> float:
    """IDF-weighted share of the question's terms found in the best passage, in [0, 1].

    Terms the corpus never uses weigh the most, so "Qui a gagné la coupe du monde
    de football ?" matched only on "coupe" and "monde" stays low, and so do English
    questions against a French BM25.
    """
    from .lexical import analyze

    model = index.lexical._model
    vocab = model.vocab_dict
    terms = set(analyze(question))
    if not terms or not hits:
        return 0.0
    n_docs = int(model.scores["num_docs"])
    weights = {}
    for t in terms:
        df = _document_frequency(model, vocab[t]) if t in vocab else 0
        weights[t] = float(np.log(1 + (n_docs - df + 0.5) / (df + 0.5)))
    total = sum(weights.values())
    best = 0.0
    for hit in hits:
        present = set(analyze(hit.chunk.text))
        best = max(best, sum(w for t, w in weights.items() if t in present) / total)
    return best


def _document_frequency(model, token_id: int) -> int:
    indptr = model.scores["indptr"]
    return int(indptr[token_id + 1] - indptr[token_id])
