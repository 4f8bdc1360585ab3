"""LLM mode on stand-in model replies: fabricated quotes and bad numbers never reach the user."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from rag.answer import refusal_text
from rag.errors import LLMError
from rag.llm import llm_answer, parse_llm_spec, stream_llm_answer
from rag.pipeline import ask
from rag.retrieval import search
from rag.cleaning import squash_whitespace

from .conftest import ARTICLE_2022, MALI_QUESTION, REPO, raw_article

REPLIES = json.loads((REPO / "tests" / "data" / "llm_replies.json").read_text(encoding="utf-8"))


def replying(name: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=REPLIES[name])]))


@pytest.fixture
def mali(settings, index):
    result = search(index, MALI_QUESTION, settings.retrieval)
    assert len(result.hits) == 5
    return result


def run(name, settings, index, result):
    llm_settings = settings.evolve(llm="ollama:recorded")
    return llm_answer(MALI_QUESTION, result, index, llm_settings, chat_model=replying(name))


def test_verified_reply_keeps_quotes_with_source_and_date(settings, index, mali):
    answer = run("good", settings, index, mali)
    assert not answer.abstained and not answer.flagged
    assert answer.citations[0].source == ARTICLE_2022 and answer.citations[0].date == "2022-02"
    for c in answer.citations:
        assert squash_whitespace(c.quote) in squash_whitespace(raw_article(c.source))
    assert "février 2022" in answer.lead
    assert f"{ARTICLE_2022}, 2022-02" in answer.answer


def test_fabricated_quote_and_out_of_range_number_never_reach_the_user(settings, index, mali):
    answer = run("fabricated", settings, index, mali)
    assert "Les derniers soldats français de Barkhane ont quitté le Mali" not in answer.answer
    assert "15 août" not in answer.answer  # the sentence resting on the fabricated quote goes too
    assert "non vérifié" in answer.answer
    assert "[7]" not in answer.answer
    assert any("citation non vérifiée" in f for f in answer.flagged)
    assert any("[7]" in f for f in answer.flagged)
    # the real quote survives, renumbered to the citation shown
    assert len(answer.citations) == 1 and answer.citations[0].source == ARTICLE_2022
    assert "« La France, ses partenaires européens et le Canada annoncent ce jeudi le retrait du Mali » [1]" in answer.lead
    assert answer.to_dict()["flagged"] == answer.flagged


def test_model_refusal_and_uncited_replies_become_the_refusal(settings, index, mali):
    assert run("refusal", settings, index, mali).abstained
    uncited = run("uncited", settings, index, mali)
    assert uncited.abstained and uncited.lead == refusal_text()


def test_answers_stream_before_verification(settings, index, mali):
    items = list(stream_llm_answer(MALI_QUESTION, mali, index, settings.evolve(llm="ollama:x"), chat_model=replying("good")))
    drafts = [i for i in items if isinstance(i, str)]
    assert len(drafts) > 5 and drafts[-1] == REPLIES["good"]
    assert not isinstance(items[-1], str)


def test_no_context_refuses_without_calling_a_model(settings, index):
    result = search(index, "Qui a remporté la Coupe du monde de football 2018 ?", settings.retrieval)
    assert not result.relevant

    class Exploding:
        def stream(self, *_):
            raise AssertionError("the model must not be called")

    answer = llm_answer("Qui a remporté la Coupe du monde de football 2018 ?", result, index, settings.evolve(llm="ollama:x"),
                        chat_model=Exploding())
    assert answer.abstained and answer.lead == refusal_text()


@pytest.mark.parametrize("spec, url", [
    ("openai:http://127.0.0.1:9/v1#qwen", "http://127.0.0.1:9/v1"),
    ("ollama:mistral@http://127.0.0.1:9", "http://127.0.0.1:9"),
])
def test_unreachable_model_names_the_url(settings, index, spec, url):
    pytest.importorskip("langchain_openai" if spec.startswith("openai") else "langchain_ollama")
    with pytest.raises(LLMError, match=f"injoignable à l'adresse {url}"):
        ask(MALI_QUESTION, settings.evolve(llm=spec), index=index)


@pytest.mark.parametrize("spec", ["gpt4", "ollama:", "openai:model", "openai:ftp://x#m"])
def test_bad_llm_spec(spec):
    with pytest.raises(LLMError, match="illisible"):
        parse_llm_spec(spec)


def test_short_quotes_are_verified_too(settings, index, mali):
    model = GenericFakeChatModel(messages=iter([AIMessage(content=(
        "Le retrait a été annoncé le « 17 février » [1]. « La France est militairement présente depuis 2013 au Mali » [2].")
    )]))
    answer = llm_answer(MALI_QUESTION, mali, index, settings.evolve(llm="ollama:x"), chat_model=model)
    assert "17 février" not in answer.answer
    assert any("17 février" in f for f in answer.flagged)
    assert any("depuis 2013" in c.quote for c in answer.citations)
