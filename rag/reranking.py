"""Optional reranking of the fused candidates by a sentence-transformers CrossEncoder.

Off by default (no offline cross-encoder ships here); for users who can download one,
e.g. ``--rerank cross-encoder/mmarco-mMiniLMv2-L12-H384-v1`` (multilingual).
"""

from __future__ import annotations

import threading

from .errors import UnknownModelError

_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


def load_cross_encoder(name: str):
    """The CrossEncoder ``name``, loaded once per process; a clear error when it cannot be."""
    with _LOCK:
        if name not in _MODELS:
            try:
                from sentence_transformers import CrossEncoder
            except ImportError:
                raise UnknownModelError("Le reranking demande sentence-transformers : pip install sentence-transformers.") from None
            try:
                _MODELS[name] = CrossEncoder(name, device="cpu")
            except Exception as exc:  # hub errors, missing files: all "cannot load"
                raise UnknownModelError(
                    f"Impossible de charger le reranker {name!r} ({type(exc).__name__}: {str(exc)[:160]}). "
                    "Vérifiez le nom et votre connexion, ou retirez --rerank."
                ) from None
        return _MODELS[name]
