"""Each cleaning rule, on the real articles, and the verbatim guarantee."""

from __future__ import annotations

import pytest

from rag.cleaning import clean_text, is_punctuation_noise, looks_like_table_row, separate_glued_cells, squash_whitespace
from rag.corpus import corpus_files

from .conftest import CORPUS, raw_article

ALL_ARTICLES = [p.name for p in corpus_files(CORPUS)]


def test_cookie_and_social_notices_are_removed():
    raw = raw_article("001_1eeb353eab19d8bf.txt")
    assert "Pour afficher ce contenu Twitter" in raw and "J'autorise Gérer mes choix" in raw
    cleaned = clean_text(raw).text
    assert "Pour afficher ce contenu" not in cleaned
    assert "cookies" not in cleaned
    assert "Gérer mes choix" not in cleaned
    # the article around the notice is kept
    assert "Une présence militaire depuis 2013" in cleaned


def test_advertisement_signature_bio_and_noise_are_removed():
    raw = raw_article("003_5e3812d6ad0d5e96.txt")
    cleaned = clean_text(raw)
    for junk in ("ADVERTISEMENT", "Miles Cooper", "journalism entrepreneur", "$ $ $", "/ / /", "* * *", ". . . .", "- - -"):
        assert junk in raw
        assert junk not in cleaned.text, junk
    assert cleaned.text.rstrip().endswith("tant sur le plan sécuritaire que diplomatique.")
    assert "Miles Cooper" in cleaned.removed


@pytest.mark.parametrize("line", ["/ / / / /", ". . . . .", "$ $ $ $", "* * *", "- - - -", "* . * ."])
def test_punctuation_noise_lines(line):
    assert is_punctuation_noise(line)


@pytest.mark.parametrize("line", ["Une présence militaire depuis 2013", "« Le retrait » - 2022", "43"])
def test_text_lines_are_not_noise(line):
    assert not is_punctuation_noise(line)


def test_repeated_title_lines_are_kept_once():
    raw = raw_article("002_9f9063d798544db8.txt")
    title = "Coopération de défense des régimes militaires du Mali, du Burkina Faso et du Niger"
    assert raw.count(title) == 3
    cleaned = clean_text(raw)
    assert cleaned.text.count(title) == 1
    assert cleaned.title_line == title


def test_glued_table_cells_are_separated_by_whitespace_only():
    raw = raw_article("003_5e3812d6ad0d5e96.txt")
    assert "Déficit de confianceDécisions" in raw
    cleaned = clean_text(raw).text
    assert "Déficit de confiance\tDécisions unilatérales" in cleaned
    assert "Russie\tÉmergente\tRenforcement des liens stratégiques" in cleaned
    assert "FacteursDescription" not in cleaned


def test_table_rule_leaves_prose_alone():
    prose = "Le président McDonald a parlé à Bamako. Il est reparti."
    assert not looks_like_table_row(prose)
    assert separate_glued_cells("ActeursInfluence actuelle") == "Acteurs\tInfluence actuelle"


@pytest.mark.parametrize("name", ALL_ARTICLES)
def test_cleaned_text_is_the_original_minus_lines_and_whitespace(name):
    """Removing lines and changing whitespace only: every cleaned line is verbatim in the file."""
    raw = raw_article(name)
    cleaned = clean_text(raw)
    squashed_raw = squash_whitespace(raw)
    for line in cleaned.text.split("\n"):
        assert squash_whitespace(line) in squashed_raw, line[:80]
    # and nothing was reordered: the squashed cleaned text is a subsequence of the squashed original
    position = 0
    for line in cleaned.text.split("\n"):
        key = squash_whitespace(line)
        if key:
            found = squashed_raw.find(key, position)
            assert found >= 0, line[:80]
            position = found + len(key)


def test_date_header_is_read_at_its_precision():
    assert clean_text(raw_article("001_1eeb353eab19d8bf.txt")).date == "2022-02"
    assert clean_text(raw_article("004_d763b711483b827d.txt")).date == "2025-11-19"
    assert clean_text(raw_article("000_52844237f3919914.txt")).date is None
    # the text after the date on the same line is kept
    assert clean_text(raw_article("001_1eeb353eab19d8bf.txt")).text.startswith("C'était un retrait attendu.")
