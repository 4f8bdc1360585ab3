"""The evaluation suite: question files, metric functions, runs, comparisons, reports.

A question file is JSON Lines (see eval/README.md). For each configuration the
runner asks every question through the same `ask` the CLI uses and records:
retrieval hit@1/3/5 and MRR for the gold article and the answer-bearing passage,
answer correctness (expected facts in the answer), citation validity, date
correctness, refusal precision/recall and latency p50/p95.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .answer import verify_quote
from .dates import PartialDate
from .errors import QuestionFileError
from .lexical import fold_accents
from .settings import Settings

DEFAULT_QUESTIONS = Path(__file__).resolve().parent.parent / "eval" / "questions.jsonl"
REGRESSION_FILE = Path(__file__).resolve().parent.parent / "eval" / "regression.json"
KS = (1, 3, 5)
_REQUIRED = {"id": str, "question": str, "answerable": bool, "expected_facts": list, "gold_articles": list}


# --- question files -----------------------------------------------------------

@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answerable: bool
    expected_facts: list[list[str]]
    gold_articles: list[str]
    gold_passages: list[str] = field(default_factory=list)
    expected_date: str | None = None
    type: str = ""
    note: str = ""


def load_questions(path: Path | str, known_articles: set[str] | None = None) -> list[EvalQuestion]:
    """Parse and validate a question file; errors name the line and the field."""
    path = Path(path)
    if not path.is_file():
        raise QuestionFileError(f"Fichier de questions introuvable : {path}.")
    questions, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, ligne {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{where} : JSON invalide ({exc.msg}, colonne {exc.colno}).") from None
        if not isinstance(row, dict):
            raise QuestionFileError(f"{where} : chaque ligne doit être un objet JSON.")
        for key, kind in _REQUIRED.items():
            if key not in row:
                raise QuestionFileError(f"{where} : champ obligatoire manquant « {key} ».")
            if not isinstance(row[key], kind):
                raise QuestionFileError(f"{where} : « {key} » doit être de type {kind.__name__}.")
        if row["id"] in seen:
            raise QuestionFileError(f"{where} : identifiant en double « {row['id']} ».")
        seen.add(row["id"])
        if not row["question"].strip():
            raise QuestionFileError(f"{where} : question vide.")
        facts = row["expected_facts"]
        if not all(isinstance(g, list) and g and all(isinstance(a, str) and a for a in g) for g in facts):
            raise QuestionFileError(f"{where} : « expected_facts » doit être une liste de listes de chaînes non vides.")
        passages = row.get("gold_passages", [])
        if not isinstance(passages, list) or not all(isinstance(p, str) and p.strip() for p in passages):
            raise QuestionFileError(f"{where} : « gold_passages » doit être une liste de chaînes non vides.")
        if row.get("expected_date") is not None:
            try:
                PartialDate.parse(str(row["expected_date"]))
            except ValueError:
                raise QuestionFileError(f"{where} : « expected_date » doit être AAAA, AAAA-MM ou AAAA-MM-JJ.") from None
        if row["answerable"] and not (facts and row["gold_articles"]):
            raise QuestionFileError(f"{where} : une question answerable demande expected_facts et gold_articles.")
        if known_articles is not None:
            unknown = [a for a in row["gold_articles"] if a not in known_articles]
            if unknown:
                raise QuestionFileError(
                    f"{where} : article(s) gold inconnu(s) {unknown} ; le corpus contient : {sorted(known_articles)[:8]}…"
                )
        allowed = {f for f in EvalQuestion.__dataclass_fields__}
        extra = set(row) - allowed
        if extra:
            raise QuestionFileError(f"{where} : champ(s) inconnu(s) {sorted(extra)}.")
        questions.append(EvalQuestion(**row))
    if not questions:
        raise QuestionFileError(f"{path} ne contient aucune question.")
    return questions


# --- metric functions -----------------------------------------------------------

def normalise_text(text: str) -> str:
    return fold_accents(text.casefold())


def facts_present(text: str, expected_facts: list[list[str]]) -> tuple[bool, list[list[str]]]:
    """True when every group has an alternative in ``text`` (case and accents folded)."""
    haystack = normalise_text(text)
    missing = [group for group in expected_facts if not any(normalise_text(alt) in haystack for alt in group)]
    return (not missing and bool(expected_facts)), missing


def hit_at_k(rank: int | None, k: int) -> float:
    """1.0 when the first relevant item is within the top ``k`` (ranks start at 1)."""
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))  # 1-based
    return ordered[max(0, min(len(ordered), rank) - 1)]


def refusal_scores(refused: list[bool], answerable: list[bool]) -> dict[str, float | None]:
    """Precision and recall of refusals, with unanswerable questions as the positives."""
    true_pos = sum(r and not a for r, a in zip(refused, answerable))
    predicted = sum(refused)
    actual = sum(not a for a in answerable)
    return {
        "refusal_precision": true_pos / predicted if predicted else None,
        "refusal_recall": true_pos / actual if actual else None,
        "in_corpus_refusal_rate": (sum(r and a for r, a in zip(refused, answerable)) / sum(answerable)) if any(answerable) else None,
    }


def passage_span(article_text: str, snippet: str) -> tuple[int, int] | None:
    """Where ``snippet`` sits in the article, whitespace-insensitively."""
    words = snippet.split()
    if not words:
        return None
    m = re.search(r"\s+".join(re.escape(w) for w in words), article_text)
    return m.span() if m else None


def first_rank(items: list, predicate) -> int | None:
    for rank, item in enumerate(items, start=1):
        if predicate(item):
            return rank
    return None


# --- running ---------------------------------------------------------------

@dataclass
class QuestionResult:
    id: str
    question: str
    answerable: bool
    abstained: bool
    correct: bool  # answerable: facts present and not abstained; unanswerable: refused
    missing_facts: list[list[str]]
    article_rank: int | None
    passage_rank: int | None
    cited_gold: bool | None
    quotes_verbatim: bool
    date_correct: bool | None
    latency_ms: float
    lead: str
    first_source: str | None


@dataclass
class ConfigReport:
    label: str
    settings: dict
    metrics: dict
    questions: list[QuestionResult]


def _gold_spans(q: EvalQuestion, articles: dict) -> dict[str, list[tuple[int, int]]]:
    spans: dict[str, list[tuple[int, int]]] = {}
    for snippet in q.gold_passages:
        for article_id in q.gold_articles:
            if article_id in articles:
                span = passage_span(articles[article_id], snippet)
                if span:
                    spans.setdefault(article_id, []).append(span)
    return spans


def _bears_answer(source: str, start: int, end: int, spans: dict[str, list[tuple[int, int]]]) -> bool:
    """A passage bears the answer when it covers at least half of a gold snippet."""
    for s, e in spans.get(source, []):
        if min(end, e) - max(start, s) >= 0.5 * (e - s):
            return True
    return False


def evaluate_answers(questions: list[EvalQuestion], answer_fn, articles: dict[str, str],
                     raw_articles: dict[str, str]) -> list[QuestionResult]:
    """Run ``answer_fn(question) -> (Answer-like, hits)`` over the set and score each question.

    ``hits`` are (source, start, end) in ranked order; ``articles`` map ids to the
    texts those offsets refer to; ``raw_articles`` are the files as shipped, for the
    verbatim check.
    """
    results = []
    for q in questions:
        t = time.perf_counter()
        answer, hits = answer_fn(q.question)
        latency = (time.perf_counter() - t) * 1000
        spans = _gold_spans(q, articles)
        article_rank = first_rank(hits, lambda h: h[0] in q.gold_articles) if q.answerable else None
        passage_rank = first_rank(hits, lambda h: _bears_answer(h[0], h[1], h[2], spans)) if q.answerable else None
        verbatim = all(verify_quote(c.quote, raw_articles.get(c.source, "")) for c in answer.citations)
        if q.answerable:
            found, missing = facts_present(answer.answer, q.expected_facts)
            correct = found and not answer.abstained
        else:
            missing, correct = [], answer.abstained
        # the source the answer leads with (citations themselves may be in date order)
        lead_source = getattr(answer, "lead_source", None) or (answer.citations[0].source if answer.citations else None)
        cited_gold = (lead_source in q.gold_articles) if q.answerable and not answer.abstained else None
        date_correct = None
        if q.expected_date:
            date_correct = any(c.source in q.gold_articles and c.date == q.expected_date for c in answer.citations)
        results.append(QuestionResult(
            q.id, q.question, q.answerable, answer.abstained, correct, missing, article_rank, passage_rank,
            cited_gold, verbatim, date_correct, latency, answer.lead,
            lead_source,
        ))
    return results


def summarise(results: list[QuestionResult]) -> dict:
    answerable = [r for r in results if r.answerable]
    metrics: dict = {"questions": len(results), "answerable": len(answerable),
                     "unanswerable": len(results) - len(answerable)}
    for what, attr in (("article", "article_rank"), ("passage", "passage_rank")):
        ranks = [getattr(r, attr) for r in answerable]
        for k in KS:
            metrics[f"{what}_hit@{k}"] = statistics.fmean(hit_at_k(x, k) for x in ranks) if ranks else None
        metrics[f"{what}_mrr"] = statistics.fmean(reciprocal_rank(x) for x in ranks) if ranks else None
    metrics["answer_correctness"] = statistics.fmean(r.correct for r in answerable) if answerable else None
    metrics["overall_accuracy"] = statistics.fmean(r.correct for r in results)
    cited = [r.cited_gold for r in answerable if r.cited_gold is not None]
    metrics["citation_in_gold"] = statistics.fmean(cited) if cited else None
    metrics["quotes_verbatim"] = statistics.fmean(r.quotes_verbatim for r in results)
    dated = [r.date_correct for r in results if r.date_correct is not None]
    metrics["date_correctness"] = statistics.fmean(dated) if dated else None
    metrics.update(refusal_scores([r.abstained for r in results], [r.answerable for r in results]))
    # right answer-or-refuse decisions over all questions (whatever the answer's content)
    metrics["refusal_accuracy"] = statistics.fmean(r.abstained != r.answerable for r in results)
    latencies = [r.latency_ms for r in results]
    metrics["latency_p50_ms"] = percentile(latencies, 50)
    metrics["latency_p95_ms"] = percentile(latencies, 95)
    return metrics


def _raw_articles(corpus_dir: Path) -> dict[str, str]:
    from .corpus import corpus_files

    out = {}
    for path in corpus_files(corpus_dir):
        try:
            out[path.name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return out


def run_pipeline_config(label: str, settings: Settings, questions: list[EvalQuestion]) -> ConfigReport:
    """Evaluate one configuration of this product (same `ask` as the CLI)."""
    from .index import open_index
    from .pipeline import ask

    index = open_index(settings)
    ask(questions[0].question, settings, index=index)  # warm-up: first-query costs are not latency

    def answer_fn(question: str):
        answer = ask(question, settings, index=index)
        return answer, [(h.article_id, h.chunk.start, h.chunk.end) for h in answer.hits]

    articles = {a.id: a.text for a in index.articles.values()}
    results = evaluate_answers(questions, answer_fn, articles, _raw_articles(settings.corpus_dir))
    return ConfigReport(label, _settings_summary(settings), summarise(results), results)


def _settings_summary(settings: Settings) -> dict:
    return {"embedding_model": settings.embedding_model, "mode": settings.retrieval.mode,
            "top_k": settings.retrieval.top_k, "chunk_tokens": settings.chunking.max_tokens}


@dataclass
class _BaselineCitation:
    source: str
    quote: str
    date: str | None = None


@dataclass
class _BaselineAnswer:
    answer: str
    lead: str
    citations: list
    abstained: bool = False


def run_langchain_baseline(settings: Settings, questions: list[EvalQuestion], top_k: int = 5) -> ConfigReport:
    """The plain LangChain recipe: RecursiveCharacterTextSplitter + FAISS.from_documents, top passage as answer.

    Same embedder, raw files (no cleaning, no dates), no refusal: what a user would write in an afternoon.
    """
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from .langchain_adapter import EmbedderAdapter

    raw = _raw_articles(settings.corpus_dir)
    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50, add_start_index=True)
    docs = splitter.split_documents([Document(page_content=text, metadata={"source": name}) for name, text in raw.items()])
    store = FAISS.from_documents(docs, EmbedderAdapter(settings.embedding_model))

    def answer_fn(question: str):
        found = store.similarity_search(question, k=top_k)
        top = found[0]
        citation = _BaselineCitation(top.metadata["source"], top.page_content)
        hits = [(d.metadata["source"], d.metadata["start_index"], d.metadata["start_index"] + len(d.page_content)) for d in found]
        return _BaselineAnswer(top.page_content, top.page_content[:200], [citation]), hits

    results = evaluate_answers(questions, answer_fn, raw, raw)
    summary = {"embedding_model": settings.embedding_model, "mode": "langchain FAISS.from_documents",
               "top_k": top_k, "chunk_tokens": "500 chars"}
    return ConfigReport("baseline: LangChain recipe", summary, summarise(results), results)


# --- calibration -----------------------------------------------------------------

def best_threshold(evidence: list[float], answerable: list[bool], forced_refusal: list[bool]) -> tuple[float, float]:
    """The threshold with the most right decisions (answer the answerable, refuse the rest).

    Questions already refused for another reason (``forced_refusal``) count as
    refused whatever the threshold. Returns (threshold, accuracy); among equally
    good thresholds, the middle of the widest gap is taken.
    """
    values = sorted(set(evidence))
    candidates = [values[0] - 1e-6] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6]

    def accuracy(t: float) -> float:
        right = 0
        for e, a, f in zip(evidence, answerable, forced_refusal):
            refused = f or e < t
            right += refused != a
        return right / len(evidence)

    scored = [(accuracy(t), t) for t in candidates]
    best = max(a for a, _ in scored)
    ties = [t for a, t in scored if a == best]
    return ties[len(ties) // 2], best


def calibrate(settings: Settings, questions: list[EvalQuestion], folds: int = 5) -> dict:
    """Calibrate the dense and BM25 relevance thresholds of one model; report cross-validated accuracy."""
    from .index import open_index
    from .retrieval import search

    index = open_index(settings)
    out = {"questions": len(questions)}
    for kind, mode in (("dense", "dense"), ("bm25", "bm25")):
        retrieval = settings.with_retrieval(mode=mode, min_relevance=-1e9).retrieval  # judge every question
        evidence, answerable, forced = [], [], []
        for q in questions:
            result = search(index, q.question, retrieval)
            evidence.append(result.best_relevance)
            answerable.append(q.answerable)
            forced.append(bool(result.unknown_terms))
        threshold, accuracy = best_threshold(evidence, answerable, forced)
        # k-fold: calibrate on the other folds, judge the held-out one.
        held_out_right = 0
        for fold in range(folds):
            train = [i for i in range(len(questions)) if i % folds != fold]
            test = [i for i in range(len(questions)) if i % folds == fold]
            t, _ = best_threshold([evidence[i] for i in train], [answerable[i] for i in train], [forced[i] for i in train])
            held_out_right += sum(((forced[i] or evidence[i] < t) != answerable[i]) for i in test)
        out[kind] = round(threshold, 4)
        out[f"{kind}_accuracy"] = round(accuracy, 4)
        out[f"{kind}_cv_accuracy"] = round(held_out_right / len(questions), 4)
    return out


def save_calibration(model_id: str, calibration: dict) -> Path:
    from .retrieval import CALIBRATION_FILE, _calibration

    data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8")) if CALIBRATION_FILE.exists() else {}
    data[model_id] = calibration
    CALIBRATION_FILE.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _calibration.cache_clear()
    return CALIBRATION_FILE


# --- reports ---------------------------------------------------------------

_TABLE_COLUMNS = [
    ("article_hit@1", "art@1"), ("article_hit@3", "art@3"), ("article_mrr", "art MRR"),
    ("passage_hit@1", "pass@1"), ("passage_hit@3", "pass@3"), ("passage_hit@5", "pass@5"), ("passage_mrr", "pass MRR"),
    ("answer_correctness", "correct"), ("citation_in_gold", "cite gold"), ("quotes_verbatim", "verbatim"),
    ("date_correctness", "dates"), ("refusal_precision", "refus P"), ("refusal_recall", "refus R"),
    ("in_corpus_refusal_rate", "faux refus"), ("latency_p50_ms", "p50 ms"), ("latency_p95_ms", "p95 ms"),
]


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}" if value > 1.5 else f"{value:.2f}"
    return str(value)


def markdown_table(reports: list[ConfigReport]) -> str:
    header = "| configuration | " + " | ".join(short for _, short in _TABLE_COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(_TABLE_COLUMNS)
    rows = [f"| {r.label} | " + " | ".join(_fmt(r.metrics.get(key)) for key, _ in _TABLE_COLUMNS) + " |" for r in reports]
    return "\n".join([header, rule, *rows])


def failures_markdown(report: ConfigReport, limit: int = 20) -> str:
    lines = []
    for r in report.questions:
        if not r.correct:
            why = "refus à tort" if r.answerable and r.abstained else (
                "a répondu au lieu de refuser" if not r.answerable else f"faits manquants {r.missing_facts}")
            lines.append(f"- {r.id} « {r.question} » : {why} (source citée : {r.first_source})")
    return "\n".join(lines[:limit]) + (f"\n- … et {len(lines) - limit} autres" if len(lines) > limit else "")


def _display_path(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write_reports(reports: list[ConfigReport], out_dir: Path, questions_path: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "questions_file": _display_path(questions_path),
        "configurations": [
            {"label": r.label, "settings": r.settings, "metrics": r.metrics,
             "questions": [asdict(q) for q in r.questions]}
            for r in reports
        ],
    }
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    md_path = out_dir / "report.md"
    sections = [f"# Évaluation — {payload['created']}", "", f"Questions : `{questions_path.name}`", "",
                markdown_table(reports), "", "![chart](chart.png)", ""]
    for r in reports:
        failures = failures_markdown(r)
        if failures:
            sections += [f"## Échecs : {r.label}", "", failures, ""]
    md_path.write_text("\n".join(sections), encoding="utf-8")
    paths = {"json": json_path, "markdown": md_path}
    chart = _chart(reports, out_dir / "chart.png")
    if chart:
        paths["chart"] = chart
    return paths


def _chart(reports: list[ConfigReport], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    keys = [("passage_hit@1", "passage hit@1"), ("passage_mrr", "passage MRR"), ("article_hit@1", "article hit@1"),
            ("answer_correctness", "answer correctness"), ("refusal_recall", "refusal recall")]
    fig, ax = plt.subplots(figsize=(13, 4.8))
    width = 0.8 / max(1, len(reports))
    for i, r in enumerate(reports):
        values = [r.metrics.get(k) or 0.0 for k, _ in keys]
        ax.bar([x + i * width for x in range(len(keys))], values, width, label=r.label)
    ax.set_xticks([x + width * (len(reports) - 1) / 2 for x in range(len(keys))], [label for _, label in keys])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("Embedding models and retrieval modes on the eval questions")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- the command -------------------------------------------------------------------

def _label(settings: Settings) -> str:
    from .embeddings import resolve_model

    name = Path(resolve_model(settings.embedding_model).model_id).name
    return f"{name} · {settings.retrieval.mode}"


def run_eval_command(args, settings: Settings) -> int:
    from .embeddings import resolve_model
    from .index import open_index

    questions_path = Path(args.questions) if args.questions else DEFAULT_QUESTIONS
    if args.top_k:
        settings = settings.with_retrieval(top_k=args.top_k)
    index = open_index(settings)
    questions = load_questions(questions_path, set(index.articles))
    models = args.models or [settings.embedding_model]
    for m in models:
        resolve_model(m)  # unknown names fail before hours of work

    if args.calibrate:
        for m in models:
            model_settings = settings.evolve(embedding_model=m)
            calibration = calibrate(model_settings, questions)
            path = save_calibration(resolve_model(m).model_id, calibration)
            print(f"{resolve_model(m).model_id} : {json.dumps(calibration)} -> {path}")
        return 0

    modes = args.modes or [settings.retrieval.mode]
    reports = []
    for m in models:
        for mode in modes:
            config = settings.evolve(embedding_model=m).with_retrieval(mode=mode)
            print(f"… {_label(config)}", flush=True)
            reports.append(run_pipeline_config(_label(config), config, questions))
    if args.baseline:
        print("… baseline LangChain", flush=True)
        reports.append(run_langchain_baseline(settings, questions, top_k=settings.retrieval.top_k))
    out_dir = Path(args.out) if args.out else questions_path.parent / "reports" / time.strftime("%Y%m%d-%H%M%S")
    paths = write_reports(reports, out_dir, questions_path)
    print()
    print(markdown_table(reports))
    print()
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
