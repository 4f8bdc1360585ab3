"""Dates: parsing at precision, filter bounds, and resolving French expressions against the article date."""

from __future__ import annotations

import pytest

from rag.dates import PartialDate, find_dates, overlaps, parse_filter_bounds, question_date_hint
from rag.errors import SettingsError

FEB_2022 = PartialDate.parse("2022-02")  # month precision, like article 001
NOV_19_2025 = PartialDate.parse("2025-11-19")  # day precision (a Wednesday), like article 004


def labels(text, article):
    return [(d.expression, d.label, d.iso) for d in find_dates(text, article)]


def test_parse_keeps_precision_and_rejects_nonsense():
    assert PartialDate.parse("2022").precision == "year"
    assert PartialDate.parse("2022-02").precision == "month"
    assert PartialDate.parse("2022-02-17").precision == "day"
    for bad in ("2022-13", "2022-02-30", "22-02", "février 2022", ""):
        with pytest.raises(ValueError):
            PartialDate.parse(bad)


def test_en_2013_is_a_year():
    assert labels("La France est présente depuis 2013 au Mali.", None) == [("depuis 2013", "2013", "2013")]


def test_month_and_year():
    assert labels("annoncé en février 2022", None) == [("février 2022", "février 2022", "2022-02")]


def test_second_semester():
    assert labels("les revers subis au second semestre 2019", None) == [("second semestre 2019", "second semestre 2019", "2019")]


def test_day_month_in_a_dated_and_an_undated_article():
    assert labels("le coup d'État du 26 juillet", NOV_19_2025) == [("26 juillet", "26 juillet 2025", "2025-07-26")]
    assert labels("le coup d'État du 26 juillet", None) == [("26 juillet", "26 juillet, année non précisée", None)]
    # a later month than the article's is last year's
    assert labels("le 26 décembre", FEB_2022)[0][2] == "2021-12-26"


def test_ce_jeudi_in_a_month_precision_article_stays_a_month():
    assert labels("annoncent ce jeudi le retrait", FEB_2022) == [("ce jeudi", "un jeudi de février 2022", "2022-02")]


def test_ce_jeudi_in_a_day_precision_article_is_that_week():
    # 2025-11-19 is a Wednesday: "ce jeudi" is the 20th, a bare "lundi" the 17th
    assert labels("ce jeudi", NOV_19_2025) == [("ce jeudi", "jeudi 20 novembre 2025", "2025-11-20")]
    assert labels("Il a parlé lundi.", NOV_19_2025) == [("lundi", "lundi 17 novembre 2025", "2025-11-17")]


def test_ce_mercredi_in_an_undated_article():
    assert labels("Cette mesure, annoncée ce mercredi", None) == [("ce mercredi", "un mercredi, date non précisée", None)]


def test_la_semaine_derniere():
    assert labels("tué 43 personnes la semaine dernière", None)[0][1] == "la semaine précédant l'article, date non précisée"
    assert labels("la semaine dernière", FEB_2022)[0][1] == "la semaine précédant l'article (février 2022)"
    assert labels("la semaine dernière", NOV_19_2025)[0][1] == "la semaine du 10 novembre 2025"


def test_longest_expression_wins():
    assert [d.expression for d in find_dates("le 26 juillet 2023 et en 2020", None)] == ["26 juillet 2023", "en 2020"]


def test_filter_bounds_compare_at_the_articles_precision():
    since, until = parse_filter_bounds("2022-02-15", None)
    assert overlaps(FEB_2022, since, until)  # February 2022 may include the 15th onwards
    _, until = parse_filter_bounds(None, "2022-01-31")
    assert not overlaps(FEB_2022, None, until)
    since, until = parse_filter_bounds("2022", "2022")
    assert overlaps(FEB_2022, since, until) and not overlaps(NOV_19_2025, since, until)
    since, _ = parse_filter_bounds("2025-11-19", None)
    assert overlaps(NOV_19_2025, since, None)  # boundaries are inclusive
    since, _ = parse_filter_bounds("2025-11-20", None)
    assert not overlaps(NOV_19_2025, since, None)


@pytest.mark.parametrize("since, until", [("2023", "2022"), ("2022-03", "2022-02-28"), ("x", None), (None, "2022-02-30")])
def test_bad_filter_bounds(since, until):
    with pytest.raises(SettingsError):
        parse_filter_bounds(since, until)


@pytest.mark.parametrize("question, since, until", [
    ("Que s'est-il passé en 2022 ?", "2022", "2022"),
    ("Que s'est-il passé en février 2022 ?", "2022-02", "2022-02"),
    ("Que fait la France depuis 2023 ?", "2023", None),
    ("Quelles relations avant le coup d'État de 2023 ?", None, "2023"),
])
def test_question_date_hints(question, since, until):
    hint = question_date_hint(question)
    assert (hint.since.iso() if hint.since else None, hint.until.iso() if hint.until else None) == (since, until)


def test_no_hint_without_a_date():
    assert question_date_hint("quand la France a-t-elle quitté le Mali ?") is None


def test_counts_are_not_years_and_impossible_days_are_not_dates():
    assert find_dates("Quelque 2000 soldats sont partis.", None) == []
    assert find_dates("le 31 février", None) == []
    assert [d.expression for d in find_dates("en 2020 et 2022, ils", None)] == ["en 2020", "2022"]


def test_year_precision_article_does_not_invent_the_year_of_a_day():
    year_only = PartialDate.parse("2023")
    assert labels("le 26 juillet", year_only) == [("26 juillet", "26 juillet, probablement 2023", None)]
