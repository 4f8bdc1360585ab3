"""French sentence splitting and token-budget packing on the real articles."""

from __future__ import annotations

import pytest

from rag.chunking import chunk_article, count_tokens, split_sentences
from rag.corpus import load_corpus
from rag.settings import ChunkingSettings

from .conftest import CORPUS


@pytest.fixture(scope="module")
def articles():
    return load_corpus(CORPUS).articles


def _sentences(text):
    return [text[s.start:s.end] for s in split_sentences(text)]


def test_no_cut_inside_guillemets_or_after_abbreviations():
    text = "M. Macron l'a dit. « Le retrait est acté. Il sera coordonné », a-t-il ajouté. St. Louis est loin. Fin."
    assert _sentences(text) == [
        "M. Macron l'a dit.",
        "« Le retrait est acté. Il sera coordonné », a-t-il ajouté.",
        "St. Louis est loin.",
        "Fin.",
    ]


def test_quoted_sentences_of_the_real_corpus_stay_whole(articles):
    text = {a.id: a for a in articles}["002_9f9063d798544db8.txt"].text
    sentences = _sentences(text)
    assert any(s.startswith("Cette « charte » prévoit (article 6)") and "la sécurité dans la zone couverte par l’alliance" in s
               for s in sentences)
    # no sentence ends inside a quotation that the sentence itself opened and later closes
    assert not any(s.endswith("que « toute atteinte à la souveraineté nationale") for s in sentences)


def test_headings_and_table_rows_stand_alone(articles):
    text = {a.id: a for a in articles}["001_1eeb353eab19d8bf.txt"].text
    assert "Une présence militaire depuis 2013" in _sentences(text)


@pytest.mark.parametrize("max_tokens, overlap", [(60, 0), (120, 1), (300, 2)])
def test_chunks_respect_the_budget_keep_offsets_and_overlap(articles, max_tokens, overlap):
    settings = ChunkingSettings(max_tokens=max_tokens, overlap_sentences=overlap)
    for article in articles:
        chunks = chunk_article(article, settings)
        assert chunks, article.id
        covered = set()
        for c in chunks:
            assert c.text == article.text[c.start:c.end]  # offsets into the cleaned text
            assert c.article_id == article.id and c.title == article.title and c.date == article.date_iso
            assert c.n_tokens == count_tokens(c.text)
            single_sentence = len(split_sentences(c.text)) == 1
            assert c.n_tokens <= max_tokens or single_sentence
            covered.update(range(c.start, c.end))
        # every sentence of the article is in some chunk
        for s in split_sentences(article.text):
            assert s.start in covered
        if overlap and len(chunks) > 1:
            shared = sum(1 for a, b in zip(chunks, chunks[1:]) if b.start < a.end)
            assert shared >= 1


def test_bigger_budget_means_fewer_chunks(articles):
    small = sum(len(chunk_article(a, ChunkingSettings(max_tokens=60, overlap_sentences=0))) for a in articles)
    large = sum(len(chunk_article(a, ChunkingSettings(max_tokens=300, overlap_sentences=0))) for a in articles)
    assert large < small
