"""Shared fixtures: real corpus, real models, temporary index folders.

Nothing a test does writes into the repository's index/ folder: an autouse
fixture points RAG_INDEX_DIR at a temporary directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
MALI_QUESTION = "quand la France a-t-elle quitté le Mali ?"
ARTICLE_2022 = "001_1eeb353eab19d8bf.txt"


@pytest.fixture(autouse=True)
def _isolated_index_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index-autouse"))
    monkeypatch.delenv("RAG_EMBEDDING_MODEL", raising=False)
    monkeypatch.delenv("RAG_CORPUS_DIR", raising=False)


@pytest.fixture(scope="session")
def shared_index_dir(tmp_path_factory) -> Path:
    """One index of the real corpus per session (read-only for tests)."""
    return tmp_path_factory.mktemp("index-shared")


@pytest.fixture(scope="session")
def settings(shared_index_dir) -> Settings:
    return Settings(corpus_dir=CORPUS, index_dir=shared_index_dir)


@pytest.fixture(scope="session")
def index(settings):
    from rag.index import open_index

    return open_index(settings)


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A private, writable copy of the five articles."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def private_settings(tmp_path, corpus_copy) -> Settings:
    return Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index")


def raw_article(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


@pytest.fixture
def prebuilt(private_settings, index, settings) -> Settings:
    """``private_settings`` with a copy of the session's index already in place.

    Saves a full embedding pass per test; the copy is checked by hash like any index.
    """
    from rag.index import index_root

    shutil.copytree(index_root(settings), index_root(private_settings))
    return private_settings
