"""Loading a corpus folder: dates, titles, sidecar metadata, bad files."""

from __future__ import annotations

import json

import pytest

from rag.corpus import load_corpus
from rag.errors import CorpusError, MetadataError

from .conftest import CORPUS


def test_real_corpus_loads_with_dates_at_their_precision():
    report = load_corpus(CORPUS)
    by_id = {a.id: a for a in report.articles}
    assert len(by_id) == 5 and not report.skipped
    assert by_id["001_1eeb353eab19d8bf.txt"].date_iso == "2022-02"  # a month stays a month
    assert by_id["004_d763b711483b827d.txt"].date_iso == "2025-11-19"
    for undated in ("000_52844237f3919914.txt", "002_9f9063d798544db8.txt", "003_5e3812d6ad0d5e96.txt"):
        assert by_id[undated].date is None  # never guessed
    assert by_id["003_5e3812d6ad0d5e96.txt"].title.startswith("La France met fin à sa coopération antiterroriste")


def test_sidecar_gives_title_date_and_url(corpus_copy):
    (corpus_copy / "metadata.json").write_text(json.dumps({
        "000_52844237f3919914.txt": {"title": "La coalition pour le Sahel", "date": "2020-06", "url": "https://example.org/a"},
    }), encoding="utf-8")
    article = {a.id: a for a in load_corpus(corpus_copy).articles}["000_52844237f3919914.txt"]
    assert (article.title, article.date_iso, article.url) == ("La coalition pour le Sahel", "2020-06", "https://example.org/a")


@pytest.mark.parametrize("content, message", [
    ("{not json", "pas du JSON valide"),
    (json.dumps({"000_52844237f3919914.txt": {"date": "juin 2020"}}), "date illisible"),
    (json.dumps({"000_52844237f3919914.txt": {"auteur": "x"}}), "clé(s) inconnue(s)"),
])
def test_bad_sidecar_is_a_clear_error(corpus_copy, content, message):
    (corpus_copy / "metadata.json").write_text(content, encoding="utf-8")
    with pytest.raises(MetadataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_corpus(corpus_copy)


def test_binary_and_non_utf8_files_are_skipped_by_name(corpus_copy):
    (corpus_copy / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (corpus_copy / "latin1.txt").write_bytes("Le président malien à Bamako".encode("latin-1"))
    report = load_corpus(corpus_copy)
    assert len(report.articles) == 5
    assert {name for name, _ in report.skipped} == {"image.txt", "latin1.txt"}
    assert all("binaire ou non UTF-8" in why for _, why in report.skipped)


def test_markdown_and_html_articles_are_read(tmp_path):
    (tmp_path / "a.md").write_text("date 2023-07-26\n# Coup d'État au Niger\n\nLe président a été renversé.", encoding="utf-8")
    (tmp_path / "b.html").write_text(
        "<html><head><title>Sahel</title></head><body><article><h1>Alliance</h1>"
        "<p>Le Mali, le Burkina Faso et le Niger ont signé la charte du Liptako-Gourma à Bamako, "
        "créant une alliance de défense collective entre les trois pays du Sahel central.</p>"
        "</article></body></html>", encoding="utf-8")
    by_id = {a.id: a for a in load_corpus(tmp_path).articles}
    assert by_id["a.md"].date_iso == "2023-07-26"
    assert "Liptako-Gourma" in by_id["b.html"].text


def test_missing_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="n'existe pas"):
        load_corpus(tmp_path / "absent")
    with pytest.raises(CorpusError, match="aucun article"):
        load_corpus(tmp_path)


def test_impossible_date_header_skips_only_that_file(corpus_copy):
    (corpus_copy / "x.md").write_text("date 2022-02-30 Le Mali et la France.", encoding="utf-8")
    (corpus_copy / "y.md").write_text("date 2023\nLe Niger et la junte.", encoding="utf-8")
    report = load_corpus(corpus_copy)
    assert [name for name, _ in report.skipped] == ["x.md"]
    assert "date 2022-02-30" in report.skipped[0][1] and "AAAA-MM-JJ" in report.skipped[0][1]
    assert {a.id: a for a in report.articles}["y.md"].date_iso == "2023"  # a year-only header is read as such


def test_sidecar_values_must_be_strings_and_unknown_files_are_reported(corpus_copy):
    (corpus_copy / "metadata.json").write_text(json.dumps({"000_52844237f3919914.txt": {"title": 123}}), encoding="utf-8")
    with pytest.raises(MetadataError, match="« title » doit être une chaîne"):
        load_corpus(corpus_copy)
    (corpus_copy / "metadata.json").write_text(json.dumps({"typo.txt": {"title": "x"}}), encoding="utf-8")
    assert any(name == "typo.txt" and "absent du dossier" in why for name, why in load_corpus(corpus_copy).skipped)
