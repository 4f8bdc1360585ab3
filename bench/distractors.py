"""A large real corpus: the five articles among thousands of French distractors.

The distractors are French documentation shipped by Debian packages (man pages
rendered with `man -l`, HTML manuals through trafilatura), cut at paragraph
boundaries into articles of at most DISTRACTOR_CHARS characters, written as
.txt files with no date line into a temporary corpus folder next to a copy of
the five articles. Measured: indexing time and peak memory (fresh process),
the unchanged and one-edited-article re-index at that size, warm and cold
query latency, and the eval (eval/questions.jsonl) with and without the
distractors.

This script installs nothing: without the Debian packages it says which to
install and exits with status 1.

    python -m bench.distractors            # 2000 distractor articles (about 30 min)
    python -m bench.distractors --quick    # 300
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import (
    CORPUS_DIR,
    QUESTION,
    QUESTIONS_FILE,
    REPO,
    interleaved,
    load_questions,
    stage,
    summary_ms,
    write_result,
)
from bench.latency import rag_command

DISTRACTOR_CHARS = 2500
MIN_CHARS = 300
# Debian package -> the files it ships that become distractors.
SOURCES = {
    "manpages-fr": "/usr/share/man/fr/man*/*.gz",
    "debian-reference-fr": "/usr/share/debian-reference/*.fr.html",
    "debian-faq-fr": "/usr/share/doc/debian/FAQ/fr/*.html",
    "developers-reference-fr": "/usr/share/developers-reference/fr/*.html",
    "maint-guide-fr": "/usr/share/doc/maint-guide-fr/html/*.html",
    "aptitude-doc-fr": "/usr/share/doc/aptitude/html/fr/*.html",
    "gimp-help-fr": "/usr/share/gimp/2.0/help/fr/**/*.html",
}
TOOLS = {"man": "man-db", "col": "bsdextrautils"}


def missing_packages() -> list[str]:
    missing = [pkg for pkg, pattern in SOURCES.items() if not glob.glob(pattern, recursive=True)]
    missing += [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    return missing


def man_to_text(path: str) -> tuple[str, str]:
    """(title, text) of a man page: rendered wide so paragraphs stay on one line."""
    env = {**os.environ, "MANWIDTH": "2000", "MAN_KEEP_FORMATTING": "", "LANG": "C.UTF-8"}
    proc = subprocess.run(["man", "-l", "-E", "UTF-8", "--nh", "--nj", path], capture_output=True, env=env, check=False)
    text = subprocess.run(["col", "-bx"], input=proc.stdout, capture_output=True, check=False).stdout.decode("utf-8", "replace")
    # Drop the running header and footer ("TEST(1)   Commandes …   TEST(1)").
    lines = [line.strip() for line in text.splitlines()
             if not re.match(r"^\S+\(\d\w*\)\s{3,}.*\S+\(\d\w*\)$", line.strip())]
    name = Path(path).name.removesuffix(".gz")
    title = f"Page de manuel {name}"
    filled = [line for line in lines if line]
    for i, line in enumerate(filled[:-1]):
        if line in ("NOM", "NAME"):
            title = filled[i + 1]
            break
    return title, re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(path: str) -> tuple[str, str]:
    import trafilatura

    raw = Path(path).read_text(encoding="utf-8", errors="replace")
    text = trafilatura.extract(raw, include_comments=False, include_tables=False) or ""
    match = re.search(r"<title>(.*?)</title>", raw, re.DOTALL | re.IGNORECASE)
    title = re.sub(r"\s+", " ", match.group(1)).strip() if match else Path(path).stem
    return title, text


def split_article(title: str, text: str, limit: int = DISTRACTOR_CHARS) -> list[str]:
    """Pieces of at most ``limit`` characters cut between paragraphs, each led by the title."""
    paragraphs = []
    for para in (p.strip() for p in re.split(r"\n\s*\n", text)):
        while len(para) > limit:  # an overlong paragraph is cut after a sentence
            cut = para.rfind(". ", 0, limit)
            cut = cut + 1 if cut > limit // 2 else limit
            paragraphs.append(para[:cut].strip())
            para = para[cut:].strip()
        if para:
            paragraphs.append(para)
    pieces, current = [], ""
    for para in paragraphs:
        if current and len(current) + len(para) + 2 > limit:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current:
        pieces.append(current)
    return [f"{title}\n\n{p}" for p in pieces if len(p) >= MIN_CHARS]


def make_corpus(folder: Path, n_articles: int, seed: int = 0) -> dict:
    """Copy the five articles and write ``n_articles`` distractors; returns what was written."""
    folder.mkdir(parents=True)
    for path in CORPUS_DIR.iterdir():
        if path.is_file():
            shutil.copy2(path, folder / path.name)
    pieces: list[tuple[str, str]] = []  # (source package, text)
    per_source = {}
    for pkg, pattern in SOURCES.items():
        files = sorted(glob.glob(pattern, recursive=True))
        count = 0
        convert = man_to_text if pattern.endswith(".gz") else html_to_text
        with ThreadPoolExecutor(4) as pool:  # man and col are subprocesses: overlap them
            converted = list(pool.map(convert, files))
        for title, text in converted:
            for piece in split_article(title, text):
                pieces.append((pkg, piece))
                count += 1
        per_source[pkg] = {"files": len(files), "pieces": count}
    random.Random(seed).shuffle(pieces)
    chosen = pieces[:n_articles]
    for i, (pkg, text) in enumerate(chosen):
        (folder / f"zz_{pkg}_{i:05d}.txt").write_text(text + "\n", encoding="utf-8")
    sizes = [len(t) for _, t in chosen]
    return {"pieces_available": len(pieces), "distractors": len(chosen), "per_source": per_source,
            "chars_total": sum(sizes), "chars_mean": sum(sizes) / max(1, len(sizes)),
            "chosen_per_source": {pkg: sum(1 for p, _ in chosen if p == pkg) for pkg in SOURCES}}


_CHILD_BUILD = """
import json, resource, sys, time
from pathlib import Path
from rag.index import build_index
from rag.settings import Settings
t = time.perf_counter()
report = build_index(Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])), rebuild=True)
print(json.dumps({"seconds": time.perf_counter() - t, "articles": report.articles, "chunks": report.chunks,
                  "chunks_embedded": report.chunks_embedded, "path": str(report.path),
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build_in_child(corpus: Path, index_dir: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD_BUILD, str(corpus), str(index_dir)], capture_output=True,
                          text=True, cwd=REPO, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    manifest = json.loads((Path(result["path"]) / "manifest.json").read_text(encoding="utf-8"))
    result["faiss_index_type"] = manifest.get("faiss_index_type")
    result["index_bytes"] = sum(f["bytes"] for f in manifest["files"].values())
    return result


def _normalise(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))


def simple_eval(settings, questions: list[dict]) -> dict:
    """Answer correctness and gold-article hit@1 as eval/README.md defines them."""
    from rag.index import open_index
    from rag.pipeline import ask

    index = open_index(settings)
    rows = []
    for q in questions:
        answer = ask(q["question"], settings, index=index)
        text = _normalise(answer.answer)
        if q["answerable"]:
            correct = not answer.abstained and all(any(_normalise(a) in text for a in group)
                                                   for group in q["expected_facts"])
            first = answer.citations[0].source if answer.citations else (answer.hits[0].article_id if answer.hits else None)
            rows.append({"answerable": True, "correct": correct, "hit1": first in q["gold_articles"],
                         "distractor_first": bool(first and first.startswith("zz_"))})
        else:
            rows.append({"answerable": False, "correct": answer.abstained})
    ans = [r for r in rows if r["answerable"]]
    return {"method": "bench.distractors.simple_eval", "questions": len(rows),
            "answer_correctness": sum(r["correct"] for r in ans) / len(ans),
            "article_hit@1": sum(r["hit1"] for r in ans) / len(ans),
            "refusal_correct_on_unanswerable": (sum(r["correct"] for r in rows if not r["answerable"])
                                                / max(1, len(rows) - len(ans))),
            "overall_accuracy": sum(r["correct"] for r in rows) / len(rows),
            "distractor_cited_first": sum(r["distractor_first"] for r in ans)}


def run_eval(settings) -> dict:
    """The project's eval runner when it is there (rag.evaluation), else the simple scoring above."""
    try:
        from rag.evaluation import load_questions as load_eval_questions
        from rag.evaluation import run_pipeline_config
    except ImportError:
        return simple_eval(settings, load_questions())
    report = run_pipeline_config("bench", settings, load_eval_questions(QUESTIONS_FILE))
    keep = ("answer_correctness", "article_hit@1", "article_hit@5", "passage_hit@1", "passage_hit@5", "article_mrr",
            "overall_accuracy", "refusal_accuracy", "citation_in_gold", "latency_p50_ms", "latency_p95_ms")
    out = {"method": "rag.evaluation.run_pipeline_config", **{k: report.metrics.get(k) for k in keep}}
    out["distractor_cited_first"] = sum(1 for r in report.questions if r.answerable and (r.first_source or "").startswith("zz_"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 distractors, fewer rounds")
    parser.add_argument("--articles", type=int, help="number of distractor articles (default 2000)")
    parser.add_argument("--keep", type=Path, help="keep the corpus and index in this folder instead of a temporary one")
    args = parser.parse_args(argv)
    missing = missing_packages()
    if missing:
        print("Paquets Debian manquants pour ce banc d'essai : " + " ".join(missing), file=sys.stderr)
        print(f"Installez-les : apt-get update && apt-get install -y {' '.join(missing)}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    n_articles = args.articles or (300 if args.quick else 2000)
    rounds, cold_runs, edits = (20, 3, 2) if args.quick else (100, 7, 4)
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="rag-bench-distractors-"))
    from rag.embeddings import load_embedder
    from rag.index import build_index, open_index
    from rag.pipeline import ask
    from rag.settings import Settings

    try:
        corpus = tmp / "corpus"
        with stage(f"write {n_articles} distractor articles"):
            written = make_corpus(corpus, n_articles)
        small = Settings(corpus_dir=CORPUS_DIR, index_dir=tmp / "index-small")
        large = Settings(corpus_dir=corpus, index_dir=tmp / "index-large")
        with stage("full build with distractors (fresh process)"):
            built = build_in_child(corpus, large.index_dir)
        built["chunks_per_s"] = built["chunks_embedded"] / built["seconds"]
        embedder = load_embedder(large.embedding_model)
        build_index(small, embedder=embedder)
        with stage("unchanged and edited re-index at this size"):
            same = [build_index(large, embedder=embedder) for _ in range(5)]
            target = corpus / "001_1eeb353eab19d8bf.txt"
            original = target.read_text(encoding="utf-8")
            edit_reports = []
            for i in range(edits):
                target.write_text(original + ("\n\nParagraphe ajouté pour la mesure." if i % 2 == 0 else ""),
                                  encoding="utf-8")
                edit_reports.append(build_index(large, embedder=embedder))
            target.write_text(original, encoding="utf-8")
            build_index(large, embedder=embedder)
        reindex = {"unchanged": summary_ms([r.seconds for r in same]),
                   "unchanged_chunks_embedded": max(r.chunks_embedded for r in same),
                   "edited": summary_ms([r.seconds for r in edit_reports]),
                   "edited_chunks_embedded": [r.chunks_embedded for r in edit_reports]}
        with stage("eval with and without distractors"):
            evals = {"five_articles": run_eval(small), "with_distractors": run_eval(large)}
        idx_small, idx_large = open_index(small), open_index(large)
        questions = [q["question"] for q in load_questions()]
        sides = {"ask_five_articles": lambda i: ask(questions[i % len(questions)], small, index=idx_small),
                 "ask_with_distractors": lambda i: ask(questions[i % len(questions)], large, index=idx_large),
                 "ask_with_distractors_via_open_index": lambda i: ask(questions[i % len(questions)], large)}
        with stage(f"warm latency, {rounds} interleaved rounds"):
            times = interleaved(sides, rounds)
        from rag.index import index_root, load_index_dir

        root_large = index_root(large)
        with stage("load_index_dir with distractors, with and without the SHA-256 check"):
            loads = interleaved({"verify": lambda i: load_index_dir(root_large, verify=True),
                                 "no_verify": lambda i: load_index_dir(root_large, verify=False)},
                                2 if args.quick else 7, warmup=1)
        breakdown: dict[str, list[float]] = {}
        for q in questions[:30]:
            for k, v in ask(q, large, index=idx_large).timings_ms.items():
                breakdown.setdefault(k, []).append(v)
        cold: dict[str, list[float]] = {"five_articles": [], "with_distractors": []}
        with stage(f"cold `rag ask`, {cold_runs} alternating runs"):
            for r in range(cold_runs + 1):
                pair = [("five_articles", small), ("with_distractors", large)]
                for name, s in (pair if r % 2 == 0 else pair[::-1]):
                    env = {**os.environ, "RAG_INDEX_DIR": str(s.index_dir), "RAG_CORPUS_DIR": str(s.corpus_dir)}
                    t = time.perf_counter()
                    subprocess.run(rag_command() + ["ask", QUESTION], capture_output=True, cwd=REPO, env=env,
                                   check=True)
                    if r:
                        cold[name].append(time.perf_counter() - t)
        import numpy as np

        data = {
            "quick": args.quick, "corpus": written, "build": built, "reindex": reindex, "eval": evals,
            "correctness_drop_points": 100 * (evals["five_articles"]["answer_correctness"]
                                             - evals["with_distractors"]["answer_correctness"]),
            "warm": {k: summary_ms(v) for k, v in times.items()},
            "ask_breakdown_with_distractors_p50_ms": {k: float(np.median(v)) for k, v in breakdown.items()},
            "cold": {k: summary_ms(v) for k, v in cold.items()},
            "load_index_dir_with_distractors": {k: summary_ms(v) for k, v in loads.items()},
            "index_chunks": {"five_articles": len(idx_small.chunks), "with_distractors": len(idx_large.chunks)},
        }
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"corpus: {written['distractors']} distractors + 5 articles, {data['index_chunks']['with_distractors']} chunks")
    print(f"build: {built['seconds']:.0f} s, {built['chunks_per_s']:.1f} chunks/s, peak {built['maxrss_mib']:.0f} MiB, "
          f"index {built['index_bytes'] / 2**20:.1f} MiB ({built['faiss_index_type']})")
    print(f"re-index unchanged p50 {reindex['unchanged']['p50_ms']:.0f} ms; one edited article p50 "
          f"{reindex['edited']['p50_ms']:.0f} ms, embedded {reindex['edited_chunks_embedded']}")
    for name, ev in evals.items():
        print(f"eval {name}: correctness {ev['answer_correctness']:.3f}, article hit@1 {ev['article_hit@1']:.3f}")
    print(f"correctness drop: {data['correctness_drop_points']:.1f} points")
    for name, s in data["warm"].items():
        print(f"warm {name}: p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms")
    for name, s in data["cold"].items():
        print(f"cold {name}: p50 {s['p50_ms']:.0f} ms")
    write_result("distractors", ["python", "-m", "bench.distractors"] + (argv if argv is not None else sys.argv[1:]),
                 data, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
