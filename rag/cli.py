"""The `rag` command. Errors from the pipeline become one French line and a non-zero exit here."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

from .errors import RagError
from .progress import progress_bar
from .settings import DEFAULT_EMBEDDING_MODEL, MAX_TOP_K, RETRIEVAL_MODES, ChunkingSettings, RetrievalSettings, Settings

EXIT_USAGE = 2
EXIT_FAILURES = 1


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors in the same style as ours
        self.print_usage(sys.stderr)
        print(f"erreur : {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", dest="corpus_dir", help="dossier des articles (défaut : corpus/ ou $RAG_CORPUS_DIR)")
    parser.add_argument("--index-dir", help="dossier des index (défaut : index/ ou $RAG_INDEX_DIR)")
    parser.add_argument("--embedding-model", "-m",
                        help=f"modèle d'embedding (défaut : {DEFAULT_EMBEDDING_MODEL}, ou $RAG_EMBEDDING_MODEL) ; "
                             "« e5 », « minilm », un id Hugging Face ou un dossier")
    parser.add_argument("--chunk-tokens", type=int, help=f"jetons par passage (défaut : {ChunkingSettings.max_tokens})")
    parser.add_argument("--overlap", type=int, help=f"phrases de recouvrement (défaut : {ChunkingSettings.overlap_sentences})")


def _retrieval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top-k", "-k", type=int, help=f"passages retenus, 1 à {MAX_TOP_K} (défaut : {RetrievalSettings.top_k})")
    parser.add_argument("--mode", choices=RETRIEVAL_MODES, help="recherche hybride (défaut), dense ou bm25")
    parser.add_argument("--since", help="articles datés à partir de AAAA, AAAA-MM ou AAAA-MM-JJ")
    parser.add_argument("--until", help="articles datés jusqu'à AAAA, AAAA-MM ou AAAA-MM-JJ")
    parser.add_argument("--mmr", type=float, metavar="LAMBDA", help="diversification MMR (0 à 1)")
    parser.add_argument("--rerank", metavar="MODEL", help="reranker CrossEncoder sentence-transformers")
    parser.add_argument("--min-relevance", type=float, help="seuil de pertinence (défaut : calibré par modèle)")
    parser.add_argument("--json", action="store_true", help="une ligne JSON par question")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="rag", description="Questions-réponses sourcées sur un corpus d'articles en français.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    p = sub.add_parser("index", help="construire ou mettre à jour l'index (incrémental)")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="tout ré-encoder")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("search", help="lister les passages les plus proches d'une question")
    _common(p)
    _retrieval(p)
    p.add_argument("question", nargs="+", help="la question ; « - » lit une question par ligne sur l'entrée standard")

    p = sub.add_parser("ask", help="répondre à une question avec des citations datées")
    _common(p)
    _retrieval(p)
    p.add_argument("--llm", help="modèle de langage LangChain, ex. ollama:mistral ou openai:http://127.0.0.1:8080/v1#modele")
    p.add_argument("question", nargs="+", help="la question ; « - » lit une question par ligne sur l'entrée standard")

    p = sub.add_parser("models", help="lister les modèles d'embedding utilisables et leurs index")
    p.add_argument("--index-dir")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("eval", help="évaluer une ou plusieurs configurations sur le jeu de questions")
    _common(p)
    p.add_argument("--questions", help="fichier de questions JSON Lines (défaut : eval/questions.jsonl)")
    p.add_argument("--models", nargs="+", help="plusieurs modèles d'embedding à comparer")
    p.add_argument("--modes", nargs="+", choices=RETRIEVAL_MODES, help="modes de recherche à comparer")
    p.add_argument("--baseline", action="store_true", help="ajouter la recette LangChain simple comme référence")
    p.add_argument("--top-k", "-k", type=int)
    p.add_argument("--out", help="dossier des rapports (défaut : eval/reports)")
    p.add_argument("--calibrate", action="store_true", help="calibrer et enregistrer les seuils de pertinence")

    p = sub.add_parser("serve", help="lancer la page de chat (Gradio)")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="lien public Gradio (désactivé par défaut)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    base = Settings()
    changes = {}
    if getattr(args, "corpus_dir", None):
        changes["corpus_dir"] = args.corpus_dir
    if getattr(args, "index_dir", None):
        changes["index_dir"] = args.index_dir
    if getattr(args, "embedding_model", None):
        changes["embedding_model"] = args.embedding_model
    if getattr(args, "llm", None):
        changes["llm"] = args.llm
    chunking = {}
    if getattr(args, "chunk_tokens", None) is not None:
        chunking["max_tokens"] = args.chunk_tokens
    if getattr(args, "overlap", None) is not None:
        chunking["overlap_sentences"] = args.overlap
    retrieval = {}
    for arg, name in (("top_k", "top_k"), ("mode", "mode"), ("since", "since"), ("until", "until"),
                      ("mmr", "mmr_lambda"), ("rerank", "reranker"), ("min_relevance", "min_relevance")):
        value = getattr(args, arg, None)
        if value is not None:
            retrieval[name] = value
    settings = base.evolve(**changes)
    if chunking:
        settings = settings.with_chunking(**chunking)
    if retrieval:
        settings = settings.with_retrieval(**retrieval)
    # Resolve names now: an unknown model or LLM spec fails before anything is built.
    from .embeddings import resolve_model

    resolve_model(settings.embedding_model)
    if settings.llm:
        from .llm import parse_llm_spec

        parse_llm_spec(settings.llm)
    return settings


def _questions(args: argparse.Namespace) -> list[str]:
    if args.question == ["-"]:
        # Bytes decoded leniently: a bad line becomes one clear error, not a crash of the batch.
        text = sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape")
        return [line for line in text.splitlines() if line.strip()]
    if len(args.question) > 2 and all(" " not in q for q in args.question):
        # `rag ask quand la France a-t-elle quitté le Mali ?` without quotes: one question, not seven.
        return [" ".join(args.question)]
    return args.question


def _warn_skipped(report) -> None:
    for name, why in report.skipped_files:
        print(f"attention : fichier ignoré : {name} ({why})", file=sys.stderr)


def _report_build(report) -> None:
    _warn_skipped(report)
    if report.written:
        print(f"index {report.name} : {report.articles} articles, {report.chunks} passages, "
              f"{report.chunks_embedded} encodés en {report.seconds:.1f} s", file=sys.stderr)


def cmd_index(args) -> int:
    from .index import build_index

    settings = settings_from_args(args)
    update, close = progress_bar()
    try:
        report = build_index(settings, rebuild=args.rebuild, progress=update)
    finally:
        close()
    _warn_skipped(report)
    if args.json:
        print(json.dumps({
            "name": report.name, "path": str(report.path), "articles": report.articles, "chunks": report.chunks,
            "chunks_embedded": report.chunks_embedded, "added": report.articles_added,
            "changed": report.articles_changed, "removed": report.articles_removed,
            "skipped": [{"file": f, "reason": r} for f, r in report.skipped_files],
            "seconds": round(report.seconds, 3), "written": report.written,
        }, ensure_ascii=False))
    else:
        state = "à jour, rien à ré-encoder" if not report.written else "écrit"
        print(f"index {report.name} ({state}) : {report.articles} articles, {report.chunks} passages, "
              f"{report.chunks_embedded} passages encodés ; ajoutés {len(report.articles_added)}, "
              f"modifiés {len(report.articles_changed)}, supprimés {len(report.articles_removed)} "
              f"({report.seconds:.2f} s)")
    return 0


def _run_per_question(args, run: Callable[[str], dict], show: Callable[[dict], None]) -> int:
    """Run each question; in --json mode a failing question becomes an error line, not a stop."""
    failures = 0
    questions = _questions(args)
    if not questions:
        raise RagError("Aucune question lue sur l'entrée standard. Donnez une question par ligne.")
    for question in questions:
        try:
            record = run(question)
        except RagError as exc:
            if not args.json or len(questions) == 1:
                raise
            failures += 1
            shown = question[:200].encode("utf-8", "replace").decode("utf-8")  # undecodable bytes become "?"
            print(json.dumps({"question": shown, "error": str(exc)}, ensure_ascii=False))
            continue
        show(record)
    return EXIT_FAILURES if failures else 0


def cmd_search(args) -> int:
    from .dates import display_date
    from .pipeline import filter_notes, search_passages

    settings = settings_from_args(args)
    update, close = progress_bar()

    def run(question: str) -> dict:
        try:
            result = search_passages(question, settings, progress=update, on_build=_report_build)
        finally:
            close()
        return {"question": question, "relevant": result.relevant, "best_relevance": round(result.best_relevance, 4),
                "threshold": result.threshold, "undated_excluded": result.undated_excluded,
                "notes": filter_notes(result), "hits": [h.to_dict() for h in result.hits],
                "embedding_model": settings.embedding_model,
                "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()}}

    def show(record: dict) -> None:
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
            return
        print(f"Question : {record['question']}")
        if not record["relevant"]:
            print(f"(aucun passage ne dépasse le seuil de pertinence {record['threshold']:.3f} ; "
                  f"meilleur : {record['best_relevance']:.3f})")
        for h in record["hits"]:
            print(f"\n#{h['rank']}  score {h['score']:.4f}  (dense {h['dense_score']}, bm25 {h['lexical_score']})")
            print(f"    {h['title']} — {h['source']} — {display_date(h['date'])}")
            print("    " + " ".join(h["text"].split()))
        for note in record["notes"]:
            print(f"({note})")

    return _run_per_question(args, run, show)


def cmd_ask(args) -> int:
    from .pipeline import ask

    settings = settings_from_args(args)
    update, close = progress_bar()
    printed = []

    def run(question: str) -> dict:
        try:
            if settings.llm and not args.json:
                return _stream_to_stderr(question, settings, update)
            answer = ask(question, settings, progress=update, on_build=_report_build)
        finally:
            close()
        return answer.to_dict()

    def show(record: dict) -> None:
        if args.json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
            return
        if printed:
            print()
        print(record["answer"], flush=True)
        printed.append(True)

    return _run_per_question(args, run, show)


def _stream_to_stderr(question: str, settings: Settings, update) -> dict:
    """LLM mode: the unverified draft streams to stderr; only the verified answer goes to stdout."""
    from .pipeline import ask_stream

    shown = 0
    answer = None
    for item in ask_stream(question, settings, progress=update):
        if isinstance(item, str):
            if shown == 0:
                print("brouillon (non vérifié) : ", end="", file=sys.stderr)
            print(item[shown:], end="", file=sys.stderr, flush=True)
            shown = len(item)
        else:
            answer = item
    if shown:
        print("\n", file=sys.stderr)
    return answer.to_dict()


def cmd_models(args) -> int:
    from .models import list_models

    settings = Settings() if not args.index_dir else Settings(index_dir=args.index_dir)
    rows = list_models(settings)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{'modèle':45} {'moteur':22} {'hors ligne':10} {'dim':>5} {'taille':>9}  index")
    for r in rows:
        size = f"{r['size_mb']:.0f} Mo" if r["size_mb"] else "?"
        indexes = ", ".join(f"{i['name']} ({i['chunks']} passages)" for i in r["indexes"]) or "aucun"
        print(f"{r['model_id']:45} {r['backend']:22} {'oui' if r['offline'] else 'non':10} {r['dimension'] or '?':>5} {size:>9}  {indexes}")
    print("\nTout autre modèle sentence-transformers (id Hugging Face ou dossier) s'utilise en ligne avec --embedding-model.")
    return 0


def cmd_eval(args) -> int:
    from .evaluation import run_eval_command

    return run_eval_command(args, settings_from_args(args))


def cmd_serve(args) -> int:
    from .ui import serve

    settings = settings_from_args(args)
    serve(settings, host=args.host, port=args.port, share=args.share)
    return 0


COMMANDS = {"index": cmd_index, "search": cmd_search, "ask": cmd_ask, "models": cmd_models,
            "eval": cmd_eval, "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except RagError as exc:
        print(f"erreur : {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrompu.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"erreur : {exc.strerror or exc} ({exc.filename or ''}). Vérifiez le chemin et les droits.", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug: say so plainly; the traceback is one variable away
        if os.environ.get("RAG_DEBUG"):
            raise
        print(f"erreur inattendue : {type(exc).__name__}: {exc}. Relancez avec RAG_DEBUG=1 pour la trace "
              "et signalez-la.", file=sys.stderr)
        return EXIT_FAILURES


if __name__ == "__main__":
    sys.exit(main())
