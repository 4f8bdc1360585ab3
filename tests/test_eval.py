"""The eval suite: metric functions on hand-made cases, question-file errors, and the regression guard."""

from __future__ import annotations

import json

import pytest

from rag.errors import QuestionFileError
from rag.evaluation import (
    REGRESSION_FILE, best_threshold, facts_present, hit_at_k, load_questions, passage_span, percentile,
    reciprocal_rank, refusal_scores, run_pipeline_config, summarise, QuestionResult,
)

from .conftest import REPO

QUESTIONS_FILE = REPO / "eval" / "questions.jsonl"


# --- metric functions ------------------------------------------------------------

def test_hit_at_k_and_reciprocal_rank():
    assert [hit_at_k(r, 3) for r in (1, 3, 4, None)] == [1.0, 1.0, 0.0, 0.0]
    assert [reciprocal_rank(r) for r in (1, 2, 4, None)] == [1.0, 0.5, 0.25, 0.0]


def test_facts_need_every_group_and_fold_case_and_accents():
    assert facts_present("Retrait annoncé en FEVRIER 2022.", [["2022"], ["février", "february"]])[0]
    ok, missing = facts_present("Retrait annoncé en 2022.", [["2022"], ["février", "february"]])
    assert not ok and missing == [["février", "february"]]
    assert not facts_present("n'importe quoi", [])[0]  # no facts: nothing to be right about


def test_refusal_precision_and_recall():
    refused = [True, True, False, False, True]
    answerable = [False, True, True, False, False]
    scores = refusal_scores(refused, answerable)
    assert scores["refusal_precision"] == pytest.approx(2 / 3)
    assert scores["refusal_recall"] == pytest.approx(2 / 3)
    assert scores["in_corpus_refusal_rate"] == pytest.approx(1 / 2)
    assert refusal_scores([False, False], [True, False])["refusal_precision"] is None


def test_percentile_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([], 50) == 0.0


def test_best_threshold_separates_and_respects_forced_refusals():
    evidence = [0.9, 0.85, 0.8, 0.7, 0.6]
    answerable = [True, True, True, False, False]
    t, accuracy = best_threshold(evidence, answerable, [False] * 5)
    assert 0.7 < t <= 0.8 and accuracy == 1.0
    # a forced refusal of an answerable question costs accuracy whatever the threshold
    _, accuracy = best_threshold(evidence, answerable, [True, False, False, False, False])
    assert accuracy == pytest.approx(0.8)


def test_passage_span_is_whitespace_insensitive():
    text = "La France est\nmilitairement présente depuis 2013."
    start = text.index("est")
    assert passage_span(text, "est militairement   présente") == (start, text.index("présente") + len("présente"))
    assert passage_span(text, "absent du texte") is None


def _result(correct: bool, answerable: bool, abstained: bool, rank=1):
    return QuestionResult("q", "?", answerable, abstained, correct, [], rank if answerable else None,
                          rank if answerable else None, True if answerable and not abstained else None, True, None, 10.0, "", None)


def test_summary_is_not_always_one():
    results = [_result(True, True, False, 1), _result(False, True, False, 3), _result(True, False, True),
               _result(False, False, False)]
    metrics = summarise(results)
    assert metrics["answer_correctness"] == 0.5
    assert metrics["article_hit@1"] == 0.5 and metrics["article_hit@3"] == 1.0
    assert metrics["article_mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert metrics["refusal_recall"] == 0.5 and metrics["refusal_accuracy"] == 0.75


# --- question files ---------------------------------------------------------------

def test_the_project_question_set_is_valid_and_covers_the_brief():
    questions = load_questions(QUESTIONS_FILE, {p.name for p in (REPO / "corpus").glob("*.txt")})
    assert len(questions) >= 40
    assert sum(not q.answerable for q in questions) >= 6
    assert any(q.question == "quand la France a-t-elle quitté le Mali ?" for q in questions)
    assert any(len(q.gold_articles) >= 2 for q in questions)
    assert {"quand", "depuis_quand", "qui", "combien", "ou", "pourquoi"} <= {q.type for q in questions}


@pytest.mark.parametrize("lines, message", [
    (['{"id": "a", "question": "q ?", "answerable": false, "expected_facts": [], "gold_articles": []}', "{oops"],
     "ligne 2 : JSON invalide"),
    (['{"id": "a", "question": "q ?", "answerable": true, "expected_facts": [["x"]], "gold_articles": ["999.txt"]}'],
     "ligne 1 : article(s) gold inconnu(s) ['999.txt']"),
    (['{"id": "a", "question": "q ?", "answerable": true, "expected_facts": [["x"]]}'],
     "ligne 1 : champ obligatoire manquant « gold_articles »"),
    (['{"id": "a", "question": "q ?", "answerable": "oui", "expected_facts": [], "gold_articles": []}'],
     "« answerable » doit être de type bool"),
    (["", "   "], "ne contient aucune question"),
])
def test_malformed_question_files(tmp_path, lines, message):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(QuestionFileError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        load_questions(path, {"000.txt"})


def test_rag_eval_on_a_users_own_question_file(settings, index, tmp_path, capsys):
    from rag.cli import main

    own = tmp_path / "mine.jsonl"
    own.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"id": "m1", "question": "Depuis quand la France est-elle au Mali ?", "answerable": True,
         "expected_facts": [["2013"]], "gold_articles": ["001_1eeb353eab19d8bf.txt"]},
        {"id": "m2", "question": "Quelle est la capitale du Canada ?", "answerable": False,
         "expected_facts": [], "gold_articles": []},
    ]), encoding="utf-8")
    out = tmp_path / "reports"
    code = main(["eval", "--questions", str(own), "--corpus", str(settings.corpus_dir),
                 "--index-dir", str(settings.index_dir), "--out", str(out)])
    assert code == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    metrics = report["configurations"][0]["metrics"]
    assert metrics["questions"] == 2 and metrics["answer_correctness"] == 1.0 and metrics["refusal_recall"] == 1.0
    assert (out / "report.md").exists() and (out / "chart.png").stat().st_size > 1000
    assert "| multilingual-e5-small · hybrid |" in capsys.readouterr().out


def test_bad_question_file_from_the_cli(settings, index, tmp_path, capsys):
    from rag.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    code = main(["eval", "--questions", str(bad), "--corpus", str(settings.corpus_dir), "--index-dir", str(settings.index_dir)])
    assert code == 2 and "ligne 1" in capsys.readouterr().err


# --- the regression guard --------------------------------------------------------------

def test_default_configuration_does_not_regress(settings, index):
    """Fails when answer correctness or refusal accuracy falls below the recorded levels, or a quote is not verbatim."""
    recorded = json.loads(REGRESSION_FILE.read_text(encoding="utf-8"))
    report = run_pipeline_config("default", settings, load_questions(QUESTIONS_FILE, set(index.articles)))
    m = report.metrics
    failures = [f"{r.id}: {r.question}" for r in report.questions if not r.correct]
    assert m["quotes_verbatim"] == 1.0
    assert m["answer_correctness"] >= recorded["answer_correctness"] - 1e-9, failures
    assert m["refusal_accuracy"] >= recorded["refusal_accuracy"] - 1e-9, failures
    assert m["article_hit@1"] >= recorded["article_hit@1"] - 1e-9
    assert m["passage_mrr"] >= recorded["passage_mrr"] - 1e-9
