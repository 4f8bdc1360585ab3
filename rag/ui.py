"""The chat page (Gradio): ask the corpus, read the dated quotes and the passages they come from.

Everything here is presentation. Answers come from `rag.pipeline.ask`, the
start-up build and warm-up from `rag.pipeline.search_passages`, the model list
from `rag.models.list_models`. Domain errors (`RagError`) become a chat message
here and nowhere else.

Nothing about a user is kept in this module: the settings of a question travel
with its event (the values of the controls), and the history is the value of the
user's own Chatbot. Gradio's queue serves several users at once.

>>> from rag.settings import Settings
>>> serve(Settings(), port=7860)   # doctest: +SKIP
"""

# No `from __future__ import annotations`: gr.api reads the type hints of the
# API function at run time to describe the endpoint.

import html
import importlib.util
import logging
import os
import queue
import re
import sys
import threading
from collections.abc import Iterator

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .answer import Answer, Citation  # noqa: E402
from .errors import RagError, SettingsError  # noqa: E402
from .pipeline import ask, search_passages  # noqa: E402
from .progress import progress_bar  # noqa: E402
from .retrieval import Hit  # noqa: E402
from .settings import MAX_TOP_K, RETRIEVAL_MODES, Settings  # noqa: E402

log = logging.getLogger(__name__)

EXAMPLES = [
    "quand la France a-t-elle quitté le Mali ?",
    "Pourquoi la France et ses partenaires retirent-ils Barkhane et Takuba du Mali ?",
    "Combien de diplomates maliens la France a-t-elle décidé d'expulser ?",
    "Quels pays sont membres de l'Alliance des États du Sahel ?",
    "À quelle date Antonio Guterres s'est-il adressé au Conseil de sécurité ?",
]
MODE_LABELS = {"hybrid": "hybride (sens + mots)", "dense": "dense (sens)", "bm25": "BM25 (mots)"}
CONCURRENCY = 4  # questions answered at once; the others wait in Gradio's queue
QUEUE_SIZE = 64
_UI_TOP_K_MAX = 20  # the slider's end; the API accepts up to MAX_TOP_K
_SHOWN_QUESTION_CHARS = 400  # a pasted novel is not echoed whole in the chat
SEARCHING = "_Recherche dans les articles…_"
EMPTY_SOURCES = ('<div class="sources"><p class="empty">Les passages cités par la dernière réponse '
                 "apparaîtront ici, la citation surlignée.</p></div>")

_SOURCES_CSS = """
.sources { font-size: 0.95em; }
.sources h3 { margin: 0 0 0.6em 0; font-size: 1.1em; }
.sources .empty, .sources .note { color: var(--body-text-color-subdued); }
.sources .source { border: 1px solid var(--border-color-primary); border-radius: 8px;
                   padding: 0.6em 0.8em; margin: 0 0 0.8em 0; }
.sources .meta { font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 0.4em; }
.sources .meta code { font-size: 0.95em; }
.sources .passage { white-space: pre-wrap; line-height: 1.5; margin: 0; }
.sources mark { background: #ffe27a; color: #1f1f1f; padding: 0 0.1em; border-radius: 2px; }
.sources details summary { cursor: pointer; margin: 0.4em 0; }
"""


# --- text for the page -----------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#|~$])")


def md_escape(text: str) -> str:
    """Corpus or user text made inert for the Chatbot's Markdown (and HTML).

    >>> md_escape("<b>*x*</b>")
    '&lt;b&gt;\\\\*x\\\\*&lt;/b&gt;'
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def html_escape(text: str) -> str:
    """html.escape, plus the characters of the HTML component's template syntax."""
    return html.escape(text).replace("$", "&#36;").replace("{", "&#123;").replace("}", "&#125;")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def shown_question(question: str) -> str:
    question = question if isinstance(question, str) else ""
    if not question.strip():
        return "_(question vide)_"
    if len(question) > _SHOWN_QUESTION_CHARS:
        return md_escape(question[:_SHOWN_QUESTION_CHARS]) + f"… _({len(question)} caractères)_"
    return md_escape(question)


def _citation_line(n: int, c: Citation) -> str:
    return (f"> **\\[{n}\\]** « {md_escape(_one_line(c.quote))} »  \n"
            f"> — _{md_escape(c.title)}_, {md_escape(c.date_display)} · {md_escape(c.source)}")


def answer_markdown_parts(answer: Answer) -> list[str]:
    """The chat reply in the order it is streamed: lead, each quote, then the notes."""
    head, sep, rest = answer.lead.partition(" : ")
    if answer.lead_fact and sep:  # "Fact : sentence (source)": the fact stands out
        parts = [f"**{md_escape(head)}** : {md_escape(rest)}"]
    else:
        parts = [md_escape(answer.lead)]
    parts += [_citation_line(n, c) for n, c in enumerate(answer.citations, start=1)]
    if answer.flagged:
        parts.append("_Retiré à la vérification : " + md_escape("; ".join(answer.flagged)) + "_")
    parts += [f"_({md_escape(note)})_" for note in answer.notes]
    return parts


def error_markdown(exc: Exception) -> str:
    return f"⚠️ **Erreur** : {md_escape(str(exc))}"


def _hit_for(answer: Answer, c: Citation) -> Hit | None:
    for hit in answer.hits:
        if hit.article_id == c.source and hit.chunk.start == c.passage_start:
            return hit
    return None


def _span_in_passage(c: Citation) -> tuple[int, int] | None:
    """Where the quote sits in its passage: [start-passage_start, end-passage_start), checked."""
    start, end = c.start - c.passage_start, c.end - c.passage_start
    if 0 <= start < end <= len(c.passage) and _one_line(c.passage[start:end]) == _one_line(c.quote):
        return start, end
    found = c.passage.find(c.quote)  # offsets disagree (should not happen): fall back to the text
    return (found, found + len(c.quote)) if found >= 0 else None


def highlighted_passage(passage: str, spans: list[tuple[int, int, int]]) -> str:
    """The passage, escaped, with each (start, end, n) span in <mark>.

    >>> highlighted_passage("a <b> c", [(2, 5, 1)])
    'a <mark data-citation="1">&lt;b&gt;</mark> c'
    """
    out, pos = [], 0
    for start, end, n in sorted(spans):
        if start < pos:
            continue  # overlapping quotes: the first one keeps the mark
        out.append(html_escape(passage[pos:start]))
        out.append(f'<mark data-citation="{n}">{html_escape(passage[start:end])}</mark>')
        pos = end
    out.append(html_escape(passage[pos:]))
    return "".join(out)


def _scores(score: float, hit: Hit | None) -> str:
    text = f"score {score:.4f}"
    if hit is not None:
        legs = []
        if hit.dense_score is not None:
            legs.append(f"dense {hit.dense_score:.3f}")
        if hit.lexical_score is not None:
            legs.append(f"BM25 {hit.lexical_score:.2f}")
        if legs:
            text += f" ({', '.join(legs)})"
        text = f"rang {hit.rank} · {text}"
    return text


def _source_block(numbers: list[int], title: str, source: str, date: str, scores: str, body: str) -> str:
    label = " ".join(f"[{n}]" for n in numbers)
    return (f'<div class="source">'
            f'<div class="meta">{html_escape(label)} <strong>{html_escape(title)}</strong> · '
            f'<code>{html_escape(source)}</code> · {html_escape(date)} · {html_escape(scores)}</div>'
            f'<p class="passage">{body}</p></div>')


def sources_html(answer: Answer) -> str:
    """The sources panel: each cited passage in full with its quotes marked, then the other hits."""
    groups: dict[tuple[str, int], list[tuple[int, Citation]]] = {}
    for n, c in enumerate(answer.citations, start=1):
        groups.setdefault((c.source, c.passage_start), []).append((n, c))
    blocks = ['<div class="sources"><h3>Sources de la dernière réponse</h3>']
    if not groups:
        blocks.append('<p class="note">Aucune citation : rien d\'assez pertinent dans les articles.</p>')
    cited_hits = set()
    for cites in groups.values():
        first = cites[0][1]
        hit = _hit_for(answer, first)
        if hit is not None:
            cited_hits.add(hit.rank)
        spans = [(*span, n) for n, c in cites if (span := _span_in_passage(c))]
        blocks.append(_source_block([n for n, _ in cites], first.title, first.source, first.date_display,
                                    _scores(first.score, hit), highlighted_passage(first.passage, spans)))
    others = [h for h in answer.hits if h.rank not in cited_hits]
    if others:
        from .dates import display_date

        blocks.append(f"<details><summary>Autres passages retrouvés ({len(others)})</summary>")
        blocks += [_source_block([], h.chunk.title, h.article_id, display_date(h.chunk.date),
                                 _scores(h.score, h), html_escape(h.chunk.text)) for h in others]
        blocks.append("</details>")
    blocks.append("</div>")
    return "".join(blocks)


def error_sources_html(error: Exception | str) -> str:
    return f'<div class="sources"><p class="note">Pas de sources : {html_escape(str(error))}</p></div>'


# --- settings of one question ----------------------------------------------

def _as_top_k(value) -> int:
    try:
        top_k = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"top-k doit être un nombre entier entre 1 et {MAX_TOP_K} (reçu : {value!r}).") from None
    if not top_k.is_integer():
        raise SettingsError(f"top-k doit être un nombre entier entre 1 et {MAX_TOP_K} (reçu : {value!r}).")
    return int(top_k)


def _text(value) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def request_settings(base: Settings, model: str | None, top_k, mode: str | None, since: str | None,
                     until: str | None, llm: str | None = None) -> Settings:
    """``base`` with the choices of one question applied (validated: SettingsError if wrong).

    >>> request_settings(Settings(), "minilm", 3, "dense", "2022", "").retrieval.top_k
    3
    """
    settings = base.evolve(embedding_model=_text(model) or base.embedding_model)
    settings = settings.with_retrieval(top_k=_as_top_k(top_k), mode=_text(mode) or base.retrieval.mode,
                                       since=_text(since), until=_text(until))
    if llm is not None:
        settings = settings.evolve(llm=_text(llm))
    return settings


def llm_available() -> bool:
    """The LLM control is shown only when the LLM feature is installed."""
    try:
        return importlib.util.find_spec("rag.llm") is not None
    except (ImportError, ValueError):
        return False


def model_choices(settings: Settings) -> list[tuple[str, str]]:
    """(label, model id) for the models that have an index here or can be built offline."""
    from .index import index_root
    from .models import list_models

    choices = []
    for row in list_models(settings):
        if not (row["indexes"] or row["offline"]):
            continue
        try:
            ready = index_root(settings.evolve(embedding_model=row["model_id"])).name in {
                i["name"] for i in row["indexes"]}
        except RagError:
            ready = False
        state = "index prêt" if ready else "index construit à la première question"
        choices.append((f"{row['model_id']} ({state})", row["model_id"]))
    return choices


def _model_id(name: str) -> str:
    from .embeddings import resolve_model

    try:
        return resolve_model(name).model_id
    except RagError:
        return name


# --- answering ---------------------------------------------------------------

def ask_streaming(question: str, settings: Settings) -> Iterator[tuple]:
    """Yield ("progress", done, total) while an index is built, then ("answer", Answer).

    `ask` runs in its own thread so that the build progress reaches the page.
    """
    events: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            events.put(("answer", ask(question, settings, progress=lambda d, t: events.put(("progress", d, t)))))
        except Exception as exc:  # handed to the caller's thread, raised there
            events.put(("error", exc))

    threading.Thread(target=work, name="rag-ask", daemon=True).start()
    while True:
        event = events.get()
        if event[0] == "error":
            raise event[1]
        yield event
        if event[0] == "answer":
            return


def unexpected_message(exc: Exception) -> str:
    log.exception("erreur inattendue dans la page")
    return (f"Erreur inattendue : {type(exc).__name__}: {exc}. La page reste utilisable ; "
            "signalez l'erreur si elle se reproduit.")


def build_demo(settings: Settings) -> gr.Blocks:
    """The page, ready to `launch()`: chat, sources panel, controls, and the "ask" API endpoint.

    >>> build_demo(Settings()).launch()   # doctest: +SKIP
    """
    base = settings
    default_model = _model_id(base.embedding_model)
    choices = model_choices(base)
    if default_model not in {value for _, value in choices}:
        choices.insert(0, (default_model, default_model))
    show_llm = llm_available()

    def respond(message, history, model, top_k, mode, since, until, llm):
        history = list(history or []) + [{"role": "user", "content": shown_question(message)}]

        def reply(text: str) -> list[dict]:
            return history + [{"role": "assistant", "content": text}]

        yield "", reply(SEARCHING), gr.skip()
        try:
            question_settings = request_settings(base, model, top_k, mode, since, until, llm if show_llm else None)
            answer = None
            for event in ask_streaming(message, question_settings):
                if event[0] == "progress":
                    _, done, total = event
                    status = f"_Construction de l'index pour ce modèle : {done}/{total} passages encodés…_"
                    yield "", reply(status), gr.skip()
                else:
                    answer = event[1]
        except RagError as exc:
            yield "", reply(error_markdown(exc)), error_sources_html(exc)
            return
        except Exception as exc:  # a bug must not take the page down
            message = unexpected_message(exc)
            yield "", reply(f"⚠️ {md_escape(message)}"), error_sources_html(message)
            return
        parts = answer_markdown_parts(answer)
        for i in range(1, len(parts)):
            yield "", reply("\n\n".join(parts[:i])), gr.skip()
        yield "", reply("\n\n".join(parts)), sources_html(answer)

    def ask_api(question: str, model: str = default_model, top_k: int = base.retrieval.top_k,
                mode: str = base.retrieval.mode, since: str = "", until: str = "") -> tuple[str, dict]:
        """Answer one question with explicit settings; returns (answer text, details).

        model: embedding model ("e5", "minilm", an id from `rag models`); top_k: passages kept (1-100);
        mode: hybrid, dense or bm25; since/until: YYYY, YYYY-MM or YYYY-MM-DD, or "".
        The details hold the question, the settings used, the citations and the retrieved passages;
        on a bad input the text is the error message and the details hold {"error": message}.
        """
        try:
            question_settings = request_settings(base, model, top_k, mode, since, until)
            answer = ask(question, question_settings)
        except RagError as exc:
            return f"Erreur : {exc}", {"error": str(exc), "question": _one_line(str(question or ""))[:200]}
        except Exception as exc:  # a bug must not take the page down
            message = unexpected_message(exc)
            return message, {"error": message}
        retrieval = question_settings.retrieval
        details = answer.to_dict()
        details["settings"] = {"embedding_model": answer.embedding_model, "top_k": retrieval.top_k,
                               "mode": retrieval.mode, "since": retrieval.since, "until": retrieval.until,
                               "llm": question_settings.llm}
        details["sources"] = [hit.to_dict() for hit in answer.hits]
        return answer.answer, details

    with gr.Blocks(title="Sahel — questions sourcées", analytics_enabled=False) as demo:
        gr.Markdown("## Questions sur le Sahel\nRéponses tirées des articles du corpus : chaque réponse cite "
                    "ses passages mot pour mot, avec le titre et la date de l'article.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                # Grows with the answer up to max_height, so a whole answer shows without scrolling.
                chatbot = gr.Chatbot(label="Conversation", height=None, min_height=420, max_height=760,
                                     latex_delimiters=[], elem_id="chat", feedback_options=None,
                                     buttons=["copy", "copy_all"],
                                     placeholder="Posez une question sur les articles.")
                with gr.Row():
                    question = gr.Textbox(show_label=False, placeholder="Votre question…", scale=5,
                                          lines=1, max_lines=4, elem_id="question", autofocus=True)
                    send = gr.Button("Demander", variant="primary", scale=1, min_width=100, elem_id="ask-button")
                gr.Examples(EXAMPLES, inputs=[question], label="Exemples de questions")
                with gr.Accordion("Réglages de la recherche", open=True):
                    with gr.Row():
                        model = gr.Dropdown(choices, value=default_model, label="Modèle d'embedding",
                                            allow_custom_value=True, scale=3, elem_id="model",
                                            info="Un autre modèle construit son propre index à la première question.")
                        mode = gr.Radio([(MODE_LABELS[m], m) for m in RETRIEVAL_MODES], value=base.retrieval.mode,
                                        label="Recherche", scale=2, elem_id="mode")
                    with gr.Row():
                        top_k = gr.Slider(1, max(_UI_TOP_K_MAX, base.retrieval.top_k), value=base.retrieval.top_k,
                                          step=1, label="Passages retenus (top-k)", elem_id="top-k")
                        since = gr.Textbox(base.retrieval.since or "", label="Depuis",
                                           placeholder="AAAA, AAAA-MM ou AAAA-MM-JJ", elem_id="since")
                        until = gr.Textbox(base.retrieval.until or "", label="Jusqu'à",
                                           placeholder="AAAA, AAAA-MM ou AAAA-MM-JJ", elem_id="until")
                    llm = gr.Textbox(base.llm or "", label="Modèle de langage (vide : réponse extractive)",
                                     placeholder="ollama:mistral ou openai:http://127.0.0.1:8080/v1#modele",
                                     visible=show_llm, elem_id="llm")
                gr.ClearButton([question, chatbot], value="Effacer la conversation", size="sm", variant="secondary")
            with gr.Column(scale=2):
                sources = gr.HTML(EMPTY_SOURCES, css_template=_SOURCES_CSS, js_on_load=None, elem_id="sources")

        gr.on([question.submit, send.click], respond,
              inputs=[question, chatbot, model, top_k, mode, since, until, llm],
              outputs=[question, chatbot, sources], api_name="chat", api_visibility="undocumented",
              show_progress="minimal", concurrency_id="pipeline", concurrency_limit=CONCURRENCY)
        gr.api(ask_api, api_name="ask", concurrency_id="pipeline", concurrency_limit=CONCURRENCY)
        # A page opened later sees the indexes built since start-up.
        demo.load(lambda: gr.update(choices=model_choices(base)), outputs=[model], api_visibility="private",
                  queue=False)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


# --- start-up ------------------------------------------------------------------

def prepare(settings: Settings) -> None:
    """Build the index if it is missing (progress on stderr) and load the models, before serving."""
    update, close = progress_bar("construction de l'index")

    def report(build) -> None:
        close()  # the bar is done; the summary goes on its own line
        if build.written:
            print(f"index {build.name} : {build.articles} articles, {build.chunks} passages, "
                  f"{build.chunks_embedded} encodés en {build.seconds:.1f} s", file=sys.stderr, flush=True)

    print(f"préparation de l'index ({settings.embedding_model}, corpus {settings.corpus_dir})…",
          file=sys.stderr, flush=True)
    try:
        search_passages(EXAMPLES[0], settings, progress=update, on_build=report)
    finally:
        close()


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> None:
    """Prepare the index, then serve the page until interrupted (no public link unless ``share``).

    >>> serve(Settings(index_dir="/tmp/idx"), port=7861)   # doctest: +SKIP
    """
    prepare(settings)
    demo = build_demo(settings)
    demo.launch(server_name=host, server_port=port, share=share, show_error=False, ssr_mode=False)
