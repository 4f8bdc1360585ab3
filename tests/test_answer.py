"""Answers: the lead states the fact, quotes are verbatim and dated, refusal is the shared sentence."""

from __future__ import annotations

import json

import pytest

from rag.answer import classify_question, refusal_text, verify_quote
from rag.cleaning import squash_whitespace
from rag.pipeline import ask

from .conftest import ARTICLE_2022, REPO, MALI_QUESTION, raw_article

QUESTIONS = [json.loads(line) for line in (REPO / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def test_mali_question_answers_february_2022_from_the_2022_article(settings, index):
    answer = ask(MALI_QUESTION, settings, index=index)
    assert not answer.abstained
    assert "février 2022" in answer.lead
    first = answer.citations[0]
    assert (first.source, first.date) == (ARTICLE_2022, "2022-02")
    assert "Barkhane et Takuba" in first.quote
    assert f"{first.title}, {ARTICLE_2022}, 2022-02" in answer.answer


def test_every_quote_of_every_eval_answer_is_verbatim_in_the_original_file(settings, index):
    """Whitespace aside, each quote is a substring of the raw article file as shipped."""
    raw = {}
    checked = 0
    for q in QUESTIONS:
        answer = ask(q["question"], settings, index=index)
        for c in answer.citations:
            raw.setdefault(c.source, squash_whitespace(raw_article(c.source)))
            assert squash_whitespace(c.quote) in raw[c.source], (q["id"], c.quote[:60])
            assert c.date == index.articles[c.source].date
            checked += 1
    assert checked > len(QUESTIONS)


def test_undated_sources_say_date_inconnue(settings, index):
    answer = ask("Combien de personnes des soldats auraient-ils tuées dans deux villages au Mali ?", settings, index=index)
    citation = next(c for c in answer.citations if c.source.startswith("000_"))
    assert citation.date is None and citation.date_display == "date inconnue"
    assert "000_52844237f3919914.txt, date inconnue" in answer.answer


def test_verify_quote_rejects_what_is_not_in_the_article():
    article = "La France est militairement présente\ndepuis 2013 au Mali."
    assert verify_quote("présente depuis   2013 au Mali", article)
    assert not verify_quote("présente depuis 2012 au Mali", article)
    assert not verify_quote("   ", article)


def test_refusal_sentence_comes_from_prompts():
    assert refusal_text() == (REPO / "prompts" / "refusal.txt").read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("question, expected", [
    ("quand la France a-t-elle quitté le Mali ?", "quand"),
    ("Depuis quand la France est-elle présente militairement au Mali ?", "depuis_quand"),
    ("Combien de personnes ont été tuées ?", "combien"),
    ("Qui a appelé à une plateforme de coopération ?", "qui"),
    ("Où la junte a-t-elle signé la charte ?", "ou"),
    ("Pourquoi la France a-t-elle retiré ses troupes ?", "pourquoi"),
    ("When did France withdraw its troops from Mali?", "quand"),
    ("Quels pays forment l'Alliance des États du Sahel ?", "quoi"),
    ("La France reconnaît-elle la junte du Niger ?", "oui_non"),
])
def test_question_types(question, expected):
    assert classify_question(question) == expected


@pytest.mark.parametrize("question, qtype, fact", [
    ("quand la France a-t-elle quitté le Mali ?", "quand", "février 2022"),
    ("Depuis quand la France est-elle présente militairement au Mali ?", "depuis_quand", "2013"),
    ("Combien de personnes des soldats auraient-ils tuées dans deux villages au Mali ?", "combien", "43"),
    ("Combien de temps les soldats français sont-ils restés au Mali ?", "combien", "neuf ans"),
    ("Qui a appelé à une plateforme de coopération entre les services de renseignement ?", "qui", "Guterres"),
    ("Qui dirige la junte malienne ?", "qui", "Assimi Goita"),
    ("Où le JNIM mène-t-il un blocus sur les ravitaillements de carburant ?", "ou", "Mali"),
    ("Dans quelle ville la charte de l'alliance a-t-elle été signée ?", "ou", "Bamako"),
    ("Pourquoi la France et ses partenaires se retirent-ils du Mali ?", "pourquoi", "dégradation des relations"),
    ("En quelle année le G5 Sahel a-t-il été créé ?", "quand", "2017"),
])
def test_lead_states_the_fact_first(settings, index, question, qtype, fact):
    answer = ask(question, settings, index=index)
    assert answer.question_type == qtype
    assert fact in answer.lead_fact, answer.lead
    assert answer.lead.startswith(answer.lead_fact[:1].upper())  # the fact leads the sentence


def test_json_output_carries_the_lead_fact_and_resolved_dates(settings, index):
    data = ask(MALI_QUESTION, settings, index=index).to_dict()
    assert "février 2022" in data["lead_fact"]
    first = data["citations"][0]
    assert {"expression": "ce jeudi", "label": "un jeudi de février 2022", "iso": "2022-02", "relative": True,
            "kind": "this_weekday"} in first["resolved_dates"]
    assert data["flagged"] == []


def test_passages_of_short_lines_do_not_crash(tmp_path):
    from rag.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# Titre seul", encoding="utf-8")
    (corpus / "b.md").write_text("Le Mali et le Niger ont signé une charte de défense à Bamako.", encoding="utf-8")
    answer = ask("Titre seul", Settings(corpus_dir=corpus, index_dir=tmp_path / "index").with_retrieval(top_k=2, min_relevance=0))
    assert answer.abstained or all(verify_quote(c.quote, (corpus / c.source).read_text()) for c in answer.citations)


def test_shouted_question_is_answered(settings, index):
    answer = ask("QUAND LA FRANCE A-T-ELLE QUITTÉ LE MALI ?", settings, index=index)
    assert not answer.abstained and answer.citations[0].source == ARTICLE_2022
