"""The chat page: `python app.py` serves it on http://127.0.0.1:7860 (same as `rag serve`).

The page itself is built in rag/ui.py from the pipeline functions the CLI uses.

    python app.py --port 7861 --embedding-model minilm --index-dir /tmp/index
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rag.errors import RagError  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Page de questions-réponses sourcées (Gradio).")
    parser.add_argument("--host", default="127.0.0.1", help="adresse d'écoute (défaut : 127.0.0.1, cette machine seule)")
    parser.add_argument("--port", type=int, default=7860, help="port (défaut : 7860)")
    parser.add_argument("--share", action="store_true", help="lien public Gradio (désactivé par défaut)")
    parser.add_argument("--embedding-model", "-m", help="modèle d'embedding par défaut de la page (« e5 », « minilm »…)")
    parser.add_argument("--corpus", dest="corpus_dir", help="dossier des articles (défaut : corpus/ ou $RAG_CORPUS_DIR)")
    parser.add_argument("--index-dir", help="dossier des index (défaut : index/ ou $RAG_INDEX_DIR)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from rag.cli import settings_from_args
        from rag.ui import serve

        serve(settings_from_args(args), host=args.host, port=args.port, share=args.share)
    except RagError as exc:
        print(f"erreur : {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
