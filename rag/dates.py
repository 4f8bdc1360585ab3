"""Dates at the precision the source gives: a month stays a month, a day is never invented.

Three jobs: parse publication dates and filter bounds (``2022``, ``2022-02``,
``2022-02-17``), compare them at the coarser precision of the two, and find date
expressions in French text ("ce jeudi", "février 2022", "la semaine dernière")
and resolve them against the article's own date.

>>> PartialDate.parse("2022-02").french()
'février 2022'
>>> [d.label for d in find_dates("Annoncé ce jeudi.", PartialDate.parse("2022-02"))]
['un jeudi de février 2022']
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from .errors import SettingsError

UNKNOWN_DATE = "date inconnue"

MONTHS_FR = [
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
]
_MONTH_INDEX = {name: i + 1 for i, name in enumerate(MONTHS_FR)}
_MONTH_INDEX.update({"fevrier": 2, "aout": 8, "decembre": 12})
WEEKDAYS_FR = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]

_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True, order=True)
class PartialDate:
    """A date known to the year, the month or the day."""

    year: int
    month: int | None = None
    day: int | None = None

    @classmethod
    def parse(cls, text: str) -> "PartialDate":
        """Parse ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; raise ``ValueError`` otherwise."""
        match = _ISO.match(text.strip())
        if not match:
            raise ValueError(f"not a YYYY, YYYY-MM or YYYY-MM-DD date: {text!r}")
        year, month, day = (int(g) if g else None for g in match.groups())
        if month is not None and not 1 <= month <= 12:
            raise ValueError(f"month out of range in {text!r}")
        if day is not None:
            date(year, month, day)  # raises ValueError for 2022-02-30
        if not 1000 <= year <= 9999:
            raise ValueError(f"year out of range in {text!r}")
        return cls(year, month, day)

    @property
    def precision(self) -> str:
        return "day" if self.day else "month" if self.month else "year"

    def first_day(self) -> date:
        return date(self.year, self.month or 1, self.day or 1)

    def last_day(self) -> date:
        if self.day:
            return date(self.year, self.month, self.day)
        month = self.month or 12
        return date(self.year, month, calendar.monthrange(self.year, month)[1])

    def iso(self) -> str:
        parts = [f"{self.year:04d}"]
        if self.month:
            parts.append(f"{self.month:02d}")
        if self.day:
            parts.append(f"{self.day:02d}")
        return "-".join(parts)

    def french(self) -> str:
        """'2022', 'février 2022' or '19 novembre 2025'."""
        if not self.month:
            return str(self.year)
        month = f"{MONTHS_FR[self.month - 1]} {self.year}"
        return f"{'1er' if self.day == 1 else self.day} {month}" if self.day else month

    def __str__(self) -> str:
        return self.iso()


def parse_optional(text: str | None) -> PartialDate | None:
    return PartialDate.parse(text) if text else None


def display_date(iso: str | None) -> str:
    """What the user sees for an article date: the ISO form, or 'date inconnue'."""
    return iso if iso else UNKNOWN_DATE


def parse_filter_bounds(since: str | None, until: str | None) -> tuple[PartialDate | None, PartialDate | None]:
    """Validate ``--since`` / ``--until``; raise a SettingsError a user can act on."""
    bounds = []
    for name, value in (("le début de la période (--since)", since), ("la fin de la période (--until)", until)):
        try:
            bounds.append(parse_optional(value))
        except ValueError:
            raise SettingsError(
                f"Date illisible pour {name} : {value!r}. Écrivez AAAA, AAAA-MM ou AAAA-MM-JJ (ex. 2022-02)."
            ) from None
    start, end = bounds
    if start and end and start.first_day() > end.last_day():
        raise SettingsError(
            f"Le début de la période ({start}, --since) est postérieur à sa fin ({end}, --until) : "
            "aucune date ne peut convenir. Inversez-les."
        )
    return start, end


def overlaps(article: PartialDate, since: PartialDate | None, until: PartialDate | None) -> bool:
    """True when the article's date interval can fall inside [since, until].

    Compared at the precision each side has: an article dated 2022-02 matches
    ``--since 2022-02-15`` because it may be from the second half of February.
    """
    if since and article.last_day() < since.first_day():
        return False
    if until and article.first_day() > until.last_day():
        return False
    return True


# --- Date expressions in text -------------------------------------------------

@dataclass(frozen=True)
class ResolvedDate:
    """A date expression found in a passage, with what it means given the article's date."""

    expression: str  # as written, e.g. "ce jeudi"
    label: str  # French, never more precise than the text allows
    iso: str | None  # YYYY / YYYY-MM / YYYY-MM-DD when known, else None
    relative: bool  # True when the meaning depends on the article's date
    start: int
    end: int
    kind: str = ""  # which pattern found it: "day_month", "this_weekday", "year"…

    def to_dict(self) -> dict:
        return {"expression": self.expression, "label": self.label, "iso": self.iso, "relative": self.relative,
                "kind": self.kind}


_MONTH_RE = "|".join(sorted(_MONTH_INDEX, key=len, reverse=True))
_WEEKDAY_RE = "|".join(WEEKDAYS_FR)
_DATE_PATTERNS = [
    ("day_month_year", re.compile(rf"\b(1er|\d{{1,2}})\s+({_MONTH_RE})\s+(\d{{4}})\b", re.I)),
    ("day_month", re.compile(rf"\b(1er|\d{{1,2}})\s+({_MONTH_RE})\b", re.I)),
    ("half_year", re.compile(r"\b(premier|second|deuxième|1er|2e|2nd)\s+(semestre|trimestre)\s+(\d{4})\b", re.I)),
    ("month_year", re.compile(rf"\b({_MONTH_RE})\s+(\d{{4}})\b", re.I)),
    ("month", re.compile(rf"\b(?:en|de|d'|mois de|début|fin|mi-)\s*({_MONTH_RE})\b", re.I)),
    ("year", re.compile(r"\b(?:en|depuis|dès|de|à partir de|avant|après|jusqu'en|fin|début)\s+((?:19|20)\d{2})\b", re.I)),
    # A bare 2000 followed by a word is a count ("2000 soldats"), not a year.
    ("bare_year", re.compile(r"(?<![\d,.])((?:19|20)\d{2})(?!\d|[,.]\d)(?!\s+[a-zà-ÿ])")),
    ("this_weekday", re.compile(rf"\b(ce|cette)\s+({_WEEKDAY_RE})(?:\s+(matin|soir|après-midi))?\b", re.I)),
    ("weekday", re.compile(rf"\b({_WEEKDAY_RE})\b", re.I)),
    ("last_week", re.compile(r"\bla semaine (dernière|passée)\b", re.I)),
    ("yesterday", re.compile(r"\bhier\b", re.I)),
    ("today", re.compile(r"\baujourd'hui\b", re.I)),
]


def _month_number(name: str) -> int:
    return _MONTH_INDEX[name.lower()]


def _day_number(token: str) -> int:
    return 1 if token.lower() == "1er" else int(token)


def _in_article_period(article: PartialDate | None, what: str) -> str:
    """'un jeudi de février 2022' style phrase for an expression we cannot pin to a day."""
    if article is None:
        return f"{what}, date non précisée"
    return f"{what} de {article.french()}" if article.month else f"{what} en {article.year}"


def _resolve(kind: str, m: re.Match, article: PartialDate | None) -> tuple[str, str | None, bool]:
    """(label, iso, relative) for one match."""
    if kind == "day_month_year":
        d = PartialDate(int(m.group(3)), _month_number(m.group(2)), _day_number(m.group(1)))
        return d.french(), d.iso(), False
    if kind == "day_month":
        month, day = _month_number(m.group(2)), _day_number(m.group(1))
        written = f"{day if day > 1 else '1er'} {MONTHS_FR[month - 1]}"
        if article is None:
            return f"{written}, année non précisée", None, True
        if not article.month:  # a year-precision article cannot tell this year from the last
            return f"{written}, probablement {article.year}", None, True
        year = article.year
        # A news article speaks of the most recent such day; with a known month we can tell.
        if article.month and month > article.month:
            year -= 1
        d = PartialDate(year, month, day)
        return d.french(), d.iso(), True
    if kind == "half_year":
        ordinal = "premier" if m.group(1).lower() in ("premier", "1er") else "second"
        return f"{ordinal} {m.group(2).lower()} {m.group(3)}", m.group(3), False
    if kind == "month_year":
        d = PartialDate(int(m.group(2)), _month_number(m.group(1)))
        return d.french(), d.iso(), False
    if kind == "month":
        month = _month_number(m.group(1))
        if article is None:
            return f"{MONTHS_FR[month - 1]}, année non précisée", None, True
        if not article.month:
            return f"{MONTHS_FR[month - 1]}, probablement {article.year}", None, True
        year = article.year - 1 if article.month and month > article.month else article.year
        return f"{MONTHS_FR[month - 1]} {year}", f"{year:04d}-{month:02d}", True
    if kind in ("year", "bare_year"):
        return m.group(1), m.group(1), False
    if kind in ("this_weekday", "weekday"):
        name = m.group(2 if kind == "this_weekday" else 1).lower()
        if article is not None and article.day:
            published = article.first_day()
            weekday = WEEKDAYS_FR.index(name)
            if kind == "this_weekday":  # the one of the publication week
                d = published + timedelta(days=weekday - published.weekday())
            else:  # a bare weekday in a news report: the latest one up to publication
                d = published - timedelta(days=(published.weekday() - weekday) % 7)
            pd = PartialDate(d.year, d.month, d.day)
            return f"{name} {pd.french()}", pd.iso(), True
        return _in_article_period(article, f"un {name}"), article.iso() if article else None, True
    if kind == "last_week":
        if article is not None and article.day:
            monday = article.first_day() - timedelta(days=article.first_day().weekday() + 7)
            pd = PartialDate(monday.year, monday.month, monday.day)
            return f"la semaine du {pd.french()}", None, True
        if article is None:
            return "la semaine précédant l'article, date non précisée", None, True
        return f"la semaine précédant l'article ({article.french()})", None, True
    if kind == "yesterday":
        if article is not None and article.day:
            d = article.first_day() - timedelta(days=1)
            pd = PartialDate(d.year, d.month, d.day)
            return pd.french(), pd.iso(), True
        return _in_article_period(article, "la veille de l'article"), None, True
    # today
    if article is not None:
        return article.french(), article.iso(), True
    return "le jour de l'article, date non précisée", None, True


def _possible_day(m: re.Match) -> bool:
    day, month = _day_number(m.group(1)), _month_number(m.group(2))
    return 1 <= day <= calendar.monthrange(2024, month)[1]  # a leap year: 29 février is possible


def find_dates(text: str, article_date: PartialDate | None) -> list[ResolvedDate]:
    """Date expressions in ``text``, resolved against the article's date, in text order.

    Longer expressions win over the shorter ones they contain ("26 juillet 2023"
    over "2023").
    """
    taken: list[tuple[int, int]] = []
    found: list[ResolvedDate] = []
    for kind, pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            span = m.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            if kind.startswith("day_month") and not _possible_day(m):
                continue  # "31 février" is no date
            label, iso, relative = _resolve(kind, m, article_date)
            taken.append(span)
            found.append(ResolvedDate(m.group(0), label, iso, relative, *span, kind))
    return sorted(found, key=lambda d: d.start)


# --- Date constraints written in a question -----------------------------------

@dataclass(frozen=True)
class QuestionDateHint:
    """A soft date constraint read from the question ("en 2022", "depuis 2023")."""

    since: PartialDate | None
    until: PartialDate | None
    expression: str


_Q_IN_MONTH = re.compile(rf"\ben\s+({_MONTH_RE})\s+(\d{{4}})\b", re.I)
_Q_IN_YEAR = re.compile(r"\ben\s+((?:19|20)\d{2})\b", re.I)
_Q_SINCE = re.compile(r"\b(?:depuis|après|à partir de)\s+(?:le\s+|la\s+|l')?(?:[\wéèû'-]+\s+){0,4}?((?:19|20)\d{2})\b", re.I)
_Q_BEFORE = re.compile(r"\b(?:avant|jusqu'en)\s+(?:le\s+|la\s+|l')?(?:[\wéèû'-]+\s+){0,4}?((?:19|20)\d{2})\b", re.I)


def question_date_hint(question: str) -> QuestionDateHint | None:
    """Read a date constraint from a French question, or None.

    >>> question_date_hint("Que s'est-il passé en février 2022 ?").since
    PartialDate(year=2022, month=2, day=None)
    """
    if m := _Q_IN_MONTH.search(question):
        d = PartialDate(int(m.group(2)), _month_number(m.group(1)))
        return QuestionDateHint(d, d, m.group(0))
    if m := _Q_SINCE.search(question):
        return QuestionDateHint(PartialDate(int(m.group(1))), None, m.group(0))
    if m := _Q_BEFORE.search(question):
        # "avant le coup d'État de 2023": the year itself may still hold earlier events
        return QuestionDateHint(None, PartialDate(int(m.group(1))), m.group(0))
    if m := _Q_IN_YEAR.search(question):
        d = PartialDate(int(m.group(1)))
        return QuestionDateHint(d, d, m.group(0))
    return None
