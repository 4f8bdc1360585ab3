"""Stage 6: a French answer built from verbatim quotes, offline and deterministic.

The question type (quand, combien, qui, où, pourquoi, …) decides which sentence
of the retrieved passages answers it and what the lead sentence states: a date
for "quand", a number for "combien", a name for "qui". Every quote is checked to
be a substring of its article (whitespace aside) before it is shown, and carries
its article's title, file and date ("date inconnue" when undated).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .chunking import split_sentences
from .cleaning import squash_whitespace
from .dates import MONTHS_FR, PartialDate, ResolvedDate, display_date, find_dates
from .index import LoadedIndex
from .lexical import analyze
from .retrieval import Hit, SearchResult

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
MAX_CITATIONS = 3
_LEAD_QUOTE_CHARS = 240


@lru_cache(maxsize=1)
def refusal_text() -> str:
    """The one refusal sentence, shared by the code, the prompts and the tests."""
    return (PROMPTS_DIR / "refusal.txt").read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Citation:
    source: str  # article file name
    title: str
    date: str | None  # article date at its precision, None when undated
    quote: str  # verbatim from the article
    score: float
    start: int  # offsets of the quote in the cleaned article text
    end: int
    passage: str = ""  # the whole retrieved passage the quote comes from
    passage_start: int = 0
    dates: tuple[ResolvedDate, ...] = ()  # date expressions of the quote, resolved

    @property
    def date_display(self) -> str:
        return display_date(self.date)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["dates"] = [d.to_dict() for d in self.dates]
        return data


@dataclass
class Answer:
    question: str
    answer: str  # the whole text shown to the user: lead, then quotes with sources
    lead: str
    abstained: bool
    citations: list[Citation]
    embedding_model: str
    question_type: str = "autre"
    lead_fact: str | None = None  # the date, number, name or place the lead states
    lead_source: str | None = None  # the article the lead sentence comes from
    hits: list[Hit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # filter reports and warnings
    flagged: list[str] = field(default_factory=list)  # LLM items removed by verification
    timings_ms: dict[str, float] = field(default_factory=dict)

    @classmethod
    def refusal(cls, question: str, model_id: str, question_type: str, hits: list[Hit], notes: list[str],
                flagged: list[str] | None = None) -> "Answer":
        """The one refusal, with the notes that explain it (filters, absent terms, flagged items)."""
        text = refusal_text()
        return cls(question, render_answer(text, [], notes), text, True, [], model_id, question_type,
                   hits=hits, notes=notes, flagged=list(flagged or []))

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "lead": self.lead,
            "lead_fact": self.lead_fact,
            "lead_source": self.lead_source,
            "question_type": self.question_type,
            "abstained": self.abstained,
            "citations": [
                {"source": c.source, "title": c.title, "date": c.date, "quote": c.quote,
                 "score": round(c.score, 6), "start": c.start, "end": c.end,
                 "resolved_dates": [d.to_dict() for d in c.dates]}
                for c in self.citations
            ],
            "embedding_model": self.embedding_model,
            "notes": self.notes,
            "flagged": self.flagged,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


# --- question types ----------------------------------------------------------

_QUESTION_TYPES = [
    ("depuis_quand", r"\bdepuis quand\b|\bsince when\b|\bdepuis combien de temps\b"),
    ("combien", r"\bcombien\b|\bhow (many|much|long)\b|\bquel (nombre|bilan)\b"),
    ("quand", r"\bquand\b|\bwhen\b|\ben quelle année\b|\bà quelle date\b|\bquelle (date|année)\b|\bquel jour\b|\bà quel moment\b|\bwhat (year|day|date)\b"),
    ("qui", r"^\s*(qui|who|whom)\b|\bpar qui\b|\bqui (a|est|sont|ont|dirige)\b|\bquel (ministre|président|chef|ambassadeur|dirigeant)\b"
            r"|\bquel(le)? (est|était) (le|la) (nom|ministre|président|chef|ambassadeur|dirigeant|secrétaire)"),
    ("ou", r"\boù\b|\bwhere\b|\bdans quel(le)? (pays|ville|région|capitale)\b|\bquelle (ville|capitale|région)\b"),
    ("pourquoi", r"\bpourquoi\b|\bwhy\b|\bpour quelle(s)? raison|\bquelle(s)? (est|sont) (la|les) (raison|cause|motif)"),
    ("oui_non", r"^\s*(est-ce que|est-ce qu'|y a-t-il|is|are|was|were|did|does|do|has|have|can)\b|\w-(t-)?(il|elle|ils|elles|on)\b"),
]


def classify_question(question: str) -> str:
    """'quand', 'depuis_quand', 'combien', 'qui', 'ou', 'pourquoi', 'oui_non' or 'quoi'.

    >>> classify_question("Depuis quand la France est-elle au Mali ?")
    'depuis_quand'
    """
    q = question.lower()
    for name, pattern in _QUESTION_TYPES:
        if re.search(pattern, q):
            if name == "oui_non" and re.match(r"\s*(quel|quelle|que|qu'|comment|what|which)", q):
                continue
            return name
    return "quoi"


# --- spotting the fact a sentence holds ------------------------------------

_NUMBER_WORDS = r"(?:deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|quarante|cinquante|cent|centaine|dizaine|milliers?|millions?|plusieurs)"
_NUMBER = re.compile(rf"(?:\b(?:plus de|moins de|au moins|près de|environ|une|des)\s+)?(?:\b\d[\d\s.,]*\d\b|\b\d\b|\b{_NUMBER_WORDS}\b)(?:\s+(?:de\s+)?[\wéèêàç'’-]+){{1,2}}", re.I)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-ZÀ-Ý][\wéèëïç'’-]+(?:\s+(?:de\s+|du\s+|d['’]|le\s+|la\s+|al-)?[A-ZÀ-Ý][\wéèëïç'’-]+)+|[A-Z]{2,}(?:\s+[A-Z]{2,})?)")
_PLACE = re.compile(r"\b(?:à|au|aux|en|dans|vers|sur)\s+(?:le\s+|la\s+|les\s+|l['’])?([A-ZÀ-Ý][\wéèëïç'’-]+(?:[\s-]+(?:de\s+|du\s+|d['’])?[A-ZÀ-Ý][\wéèëïç'’-]+)*)")
_CAUSE = re.compile(r"\b(?:à cause d(?:e|u|es)|du fait d(?:e|u|es)|en raison d(?:e|u|es)|parce qu(?:e|')|car|afin de|pour (?:lutter|contenir|mieux|restaurer|créer)|face à|liées? à|suite à|autour de|à la suite d(?:e|u|es)|conduit à|because|due to)\b[^.;]*", re.I)
_CAUSE_WORDS = re.compile(r"\b(raisons?|causes?|divergences?|désaccords?|tensions?|dégradation|rupture|détérioré|motifs?)\b", re.I)
# "plusieurs mois" is no answer to "combien de temps": only counted durations.
_DURATION = re.compile(r"\b(?:\d+|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente)\s+(?:ans|années|mois|semaines|jours|years|months)\b", re.I)
_VAGUE_DATES = {"weekday", "this_weekday"}


_MONTH_NAMES = "|".join(MONTHS_FR + ["fevrier", "aout", "decembre"])
_FUNCTION_WORDS = {"la", "le", "les", "de", "du", "des", "et", "à", "au", "aux", "dans", "en", "sur", "pour", "par",
                   "avec", "ont", "a", "qui", "que", "ce", "cette", "ces", "son", "sa", "ses", "leur", "leurs"}


def _trim_function_words(phrase: str) -> str:
    """'43 personnes dans' -> '43 personnes': the phrase stops at the first function word after the number."""
    words = phrase.split()
    number_at = next((i for i, w in enumerate(words) if re.fullmatch(rf"[\d.,]+|{_NUMBER_WORDS}", w, re.I)), 0)
    for i in range(number_at + 1, len(words)):
        collective = i == number_at + 1 and re.fullmatch(r"centaines?|dizaines?|milliers|millions?", words[number_at], re.I)
        if words[i].lower() in _FUNCTION_WORDS and not collective:
            return " ".join(words[:i])
    return phrase


def _number_fact(sentence: str, question_terms: set[str], question: str = "") -> str | None:
    if re.search(r"combien de temps|how long|pendant combien", question, re.I):
        m = _DURATION.search(sentence)
        if m:
            return m.group(0)
    # "combien de morts": the counted noun, which the right number is followed by
    asked = re.search(r"\bcombien (?:de |d['’])(\w+)|\bhow many (\w+)", question, re.I)
    unit = set(analyze(asked.group(1) or asked.group(2))) if asked else set()
    best = None
    for m in _NUMBER.finditer(sentence):
        text = m.group(0).strip(" ,.")
        words = text.split()
        counted_noun = len(words) > 1 and words[1][:1].isalpha() and words[1].lower() not in _FUNCTION_WORDS
        if re.fullmatch(r"(19|20)\d{2}", words[0]) and not counted_noun:  # "en 2020 et" is a year, "2000 soldats" a count
            continue
        if re.match(rf"\S+\s+({_MONTH_NAMES})\b", text, re.I):  # nor is a day of the month
            continue
        # The number the question already gives ("deux villages") is not the answer.
        first_word = text.split()[0].lower()
        echoed = first_word in question.lower().split() if question else False
        key = (not echoed, bool(unit and unit & set(analyze(text))), len(set(analyze(text)) & question_terms),
               any(ch.isdigit() for ch in text))
        if best is None or key > best[0]:
            best = (key, _trim_function_words(text))
    return best[1] if best else None


def _name_fact(sentence: str, question: str) -> str | None:
    q_fold = question.lower()
    names = [m.group(1) for m in _NAME.finditer(sentence)]
    # A name already in the question is not the answer ("Qui a appelé l'ONU…" -> not "ONU").
    names = [n for n in names if n.lower() not in q_fold and len(n) > 2]
    persons = [n for n in names if len(n.split()) >= 2 and not n.isupper()]
    return (persons or names or [None])[0]


_CAPITAL_OF = re.compile(r"\bcapitale (?:du|de la|de l['’]|des|de) [^,]+, ([A-ZÀ-Ý][\wéèëïç'’-]+)")


def _place_fact(sentence: str, question: str) -> str | None:
    """The place nearest to the words of the question ("réunies … dans la capitale …, Bamako")."""
    q_fold = question.lower()
    places = [(m.start(), m.group(0)) for m in _PLACE.finditer(sentence) if m.group(1).lower() not in q_fold]
    capitals = [(m.start(1), m.group(1)) for m in _CAPITAL_OF.finditer(sentence) if m.group(1).lower() not in q_fold]
    if capitals and re.search(r"\b(ville|capitale|city)\b", question, re.I):
        return capitals[0][1]  # "dans quelle ville": the capital named, not the countries around it
    places += capitals
    if not places:
        return None
    q_terms = set(analyze(question))
    anchors = [m.start() for m in re.finditer(r"\w+", sentence) if set(analyze(m.group(0))) & q_terms]
    if not anchors:
        return min(places)[1]
    return min(places, key=lambda p: min(abs(p[0] - a) for a in anchors))[1]


def _date_fact(dates: list[ResolvedDate], article_date: PartialDate | None, since: bool) -> str | None:
    if dates:
        absolute = [d for d in dates if not d.relative]
        chosen = (absolute or dates)[0]
        if chosen.relative and chosen.expression.lower() != chosen.label.lower():
            return f"{chosen.label} (« {chosen.expression} »)"
        return f"{'depuis ' if since and not chosen.expression.lower().startswith('depuis') else ''}{chosen.expression}".strip()
    if article_date is not None:
        return f"{article_date.french()} (date de l'article)"
    return None


# --- picking sentences ---------------------------------------------------------

@dataclass
class _Candidate:
    hit: Hit
    start: int  # in the article text
    end: int
    text: str
    score: float
    dates: list[ResolvedDate]
    overlap: float = 0.0  # share of the question's terms in the sentence


def _article_date(hit: Hit) -> PartialDate | None:
    return PartialDate.parse(hit.chunk.date) if hit.chunk.date else None


def _type_bonus(qtype: str, text: str, dates: list[ResolvedDate], year_wanted: bool = False,
                day_wanted: bool = False, duration_wanted: bool = False) -> float:
    if qtype in ("quand", "depuis_quand"):
        # An explicit year or month answers "quand" better than "samedi" in an undated article.
        # A date we can place (even "ce jeudi" in a February 2022 article) beats "samedi" in an undated one,
        # unless the question asks for a day of the week.
        bonus = max((0.4 if d.iso or (day_wanted and "day" in d.kind)
                     else 0.3 if d.kind in ("day_month", "month") else 0.1 for d in dates), default=0.0)
        if year_wanted and not any(d.iso for d in dates):
            bonus = 0.0
        if qtype == "depuis_quand" and re.search(r"\bdepuis\b", text, re.I):
            bonus += 0.3
        return bonus
    if qtype == "combien":
        if duration_wanted:  # "combien de temps": only a counted duration answers
            return 0.8 if _DURATION.search(text) else 0.0
        return 0.4 if _NUMBER.search(text) else 0.0
    if qtype == "qui":
        return 0.2 if _NAME.search(text) else 0.0
    if qtype == "ou":
        return 0.3 if _PLACE.search(text) else 0.0
    if qtype == "pourquoi":
        return 0.4 * bool(_CAUSE.search(text)) + 0.3 * bool(_CAUSE_WORDS.search(text))
    return 0.0


def _matches(term: str, sentence_terms: set[str], prefixes: set[str]) -> bool:
    # Stems sharing five letters count as one: Snowball gives "reconnait" for "reconnaît"
    # but "reconnaitr" for "reconnaître".
    return term in sentence_terms or (len(term) >= 5 and term[:5] in prefixes)


def term_overlap(question_terms: set[str], sentence_terms: set[str] | frozenset[str],
                 weights: dict[str, float] | None = None, prefixes: frozenset[str] | None = None) -> float:
    """Weighted share of the question's terms found in the sentence (weights default to 1)."""
    if not question_terms:
        return 0.0
    if prefixes is None:
        prefixes = frozenset(t[:5] for t in sentence_terms if len(t) >= 5)
    weights = weights or {}
    total = sum(weights.get(t, 1.0) for t in question_terms)
    found = sum(weights.get(t, 1.0) for t in question_terms if _matches(t, sentence_terms, prefixes))
    return found / total


@dataclass(frozen=True)
class _Sentence:
    start: int  # in the passage
    end: int
    text: str
    terms: frozenset[str]
    prefixes: frozenset[str]  # five-letter prefixes of the terms (see _matches)
    dates: tuple[ResolvedDate, ...]
    substantial: bool  # not a heading or a table scrap


@lru_cache(maxsize=20000)
def _sentence_table(passage: str, article_date: str | None) -> tuple[_Sentence, ...]:
    """Sentences of a passage with their terms and dates, computed once per passage, not per question."""
    date = PartialDate.parse(article_date) if article_date else None
    table = []
    for s in split_sentences(passage):
        text = passage[s.start:s.end]
        terms = frozenset(analyze(text))
        table.append(_Sentence(s.start, s.end, text, terms, frozenset(t[:5] for t in terms if len(t) >= 5),
                               tuple(find_dates(text, date)), len(text) >= 25 and bool(re.search(r"\w{3}", text))))
    return tuple(table)


def _candidates(hits: list[Hit], question: str, qtype: str) -> list[_Candidate]:
    q_terms = set(analyze(question))
    year_wanted = bool(re.search(r"\b(année|an|year)\b", question, re.I))
    day_wanted = bool(re.search(r"\bquel jour\b|\bwhat day\b", question, re.I))
    duration_wanted = bool(re.search(r"combien de temps|pendant combien|how long", question, re.I))
    top = hits[0].score if hits else 1.0
    every = [(hit, sentence) for hit in hits for sentence in _sentence_table(hit.chunk.text, hit.chunk.date)]
    # Headings and table scraps make poor answers, unless the passages hold nothing else.
    sentences = [(h, s) for h, s in every if s.substantial] or every
    # A question term found in every retrieved sentence ("alliance") tells them apart less
    # than one found in a single sentence ("objectif"): weight terms by their rarity here.
    n = max(1, len(sentences))
    weights = {t: math.log(1 + n / (1 + sum(1 for _, s in sentences if _matches(t, s.terms, s.prefixes))))
               for t in q_terms}
    out = []
    for hit, s in sentences:
        passage_weight = hit.score / top if top else 0.0
        overlap = term_overlap(q_terms, s.terms, weights, s.prefixes)
        dates = list(s.dates)
        score = 0.8 * passage_weight + overlap + _type_bonus(qtype, s.text, dates, year_wanted, day_wanted, duration_wanted)
        out.append(_Candidate(hit, hit.chunk.start + s.start, hit.chunk.start + s.end, s.text, score, dates, overlap))
    return sorted(out, key=lambda c: -c.score)


def verify_quote(quote: str, article_text: str) -> bool:
    """True when ``quote`` is a substring of the article, whitespace aside."""
    needle = squash_whitespace(quote)
    return bool(needle) and needle in squash_whitespace(article_text)


def _lead_fact(qtype: str, best: _Candidate, question: str) -> str | None:
    article_date = _article_date(best.hit)
    if qtype in ("quand", "depuis_quand"):
        return _date_fact(best.dates, article_date, since=qtype == "depuis_quand")
    if qtype == "combien":
        return _number_fact(best.text, set(analyze(question)), question)
    if qtype == "qui":
        return _name_fact(best.text, question)
    if qtype == "ou":
        return _place_fact(best.text, question)
    if qtype == "pourquoi":
        m = _CAUSE.search(best.text)
        return m.group(0).strip(" ,") if m else None
    return None


_LEAD_TEMPLATES = {
    "quand": "{fact} : {sentence}",
    "depuis_quand": "Depuis {fact_wo_depuis} : {sentence}",
    "combien": "{fact_cap} : {sentence}",
    "qui": "{fact} : {sentence}",
    "ou": "{fact_cap} : {sentence}",
    "pourquoi": "{fact_cap} : {sentence}",
}


def _shorten(text: str, limit: int = _LEAD_QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def build_lead(qtype: str, fact: str | None, best: _Candidate) -> str:
    """The lead sentence: the fact first, then the sentence it comes from, with its source."""
    source = f"(« {best.hit.chunk.title} », {display_date(best.hit.chunk.date)})"
    sentence = _shorten(best.text)
    if fact and qtype in _LEAD_TEMPLATES:
        lead = _LEAD_TEMPLATES[qtype].format(
            fact=_capitalise(fact), fact_cap=_capitalise(fact), sentence=sentence,
            fact_wo_depuis=re.sub(r"^depuis\s+", "", fact, flags=re.I),
        )
    else:
        lead = f"D'après les articles : {sentence}"
    return f"{lead} {source}"


def _other_sources(qtype: str, fact: str | None, best: _Candidate, cited: list[_Candidate], question: str) -> str:
    """Facts from other articles that differ from the lead's, shown side by side rather than merged."""
    if fact is None or qtype not in ("quand", "depuis_quand", "combien", "qui", "ou"):
        return ""
    others = []
    for cand in cited:
        # Only a sentence as much about the question as the lead's may compete with it.
        if (cand.hit.article_id == best.hit.article_id or cand.score < 0.9 * best.score
                or cand.overlap < max(best.overlap, 0.3)):
            continue
        other = _lead_fact(qtype, cand, question)
        # An unplaceable "ce mercredi" in an undated article is no competing fact.
        if other and "non précisée" not in other and normalise_fact(other) != normalise_fact(fact):
            others.append(f"« {cand.hit.chunk.title} » ({display_date(cand.hit.chunk.date)}) indique : {other}")
    return (" Autre(s) source(s) : " + " ; ".join(others) + ".") if others else ""


def normalise_fact(fact: str) -> str:
    return re.sub(r"\W+", " ", fact.lower()).strip()


def _ordered(citations: list[Citation], qtype: str) -> list[Citation]:
    """History questions read best in date order (undated last); others by relevance."""
    if qtype not in ("quand", "depuis_quand"):
        return citations
    return sorted(citations, key=lambda c: (c.date is None, c.date or "", -c.score))


def render_answer(lead: str, citations: list[Citation], notes: list[str]) -> str:
    lines = [lead, ""]
    for n, c in enumerate(citations, start=1):
        lines.append(f"[{n}] « {' '.join(c.quote.split())} »")
        lines.append(f"    — {c.title}, {c.source}, {c.date_display}")
    lines.extend(f"({note})" for note in notes)
    return "\n".join(lines).rstrip()


def extractive_answer(question: str, result: SearchResult, index: LoadedIndex,
                      notes: list[str] | None = None) -> Answer:
    """Build the answer from the search result; refuse when nothing relevant was found."""
    notes = list(notes or [])
    qtype = classify_question(question)
    if not result.relevant or not result.hits:
        return Answer.refusal(question, index.model_id, qtype, result.hits, notes)
    candidates = _candidates(result.hits, question, qtype)
    if not candidates:  # passages without a single sentence (punctuation only)
        return Answer.refusal(question, index.model_id, qtype, result.hits, notes)
    best = candidates[0]
    fact = _lead_fact(qtype, best, question)

    citations: list[Citation] = []
    cited: list[_Candidate] = []
    used_spans: list[tuple[str, int, int]] = []
    per_article: dict[str, int] = {}
    for cand in candidates:
        if len(citations) >= MAX_CITATIONS:
            break
        if cand.score < 0.5 * best.score:
            break
        art = cand.hit.article_id
        if per_article.get(art, 0) >= 2 or any(a == art and s < cand.end and cand.start < e for a, s, e in used_spans):
            continue
        article = index.articles[art]
        quote = article.text[cand.start:cand.end]
        if not verify_quote(quote, article.text):
            continue  # cannot happen with offsets into the same text; a guard, not a path
        citations.append(Citation(art, cand.hit.chunk.title, cand.hit.chunk.date, quote, cand.hit.score,
                                  cand.start, cand.end, cand.hit.chunk.text, cand.hit.chunk.start,
                                  tuple(cand.dates)))
        cited.append(cand)
        used_spans.append((art, cand.start, cand.end))
        per_article[art] = per_article.get(art, 0) + 1
    citations = _ordered(citations, qtype)
    lead = build_lead(qtype, fact, best) + _other_sources(qtype, fact, best, cited, question)
    return Answer(question, render_answer(lead, citations, notes), lead, False, citations, index.model_id,
                  qtype, lead_fact=fact, lead_source=best.hit.article_id, hits=result.hits, notes=notes)
