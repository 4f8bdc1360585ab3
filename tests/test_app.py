"""The chat page served for real (`python app.py` in a subprocess) and asked through gradio_client.

One server per module, on a free port, with its index in a temporary folder (built
at start-up, which is itself under test).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from rag.dates import PartialDate, overlaps, parse_filter_bounds

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
MALI = "quand la France a-t-elle quitté le Mali ?"
MALI_SOURCE = "001_1eeb353eab19d8bf.txt"  # the 2022-02 article
STARTUP_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, process: subprocess.Popen, index_dir: Path, log_dir: Path, startup_s: float):
        self.url, self.process, self.index_dir, self.log_dir, self.startup_s = url, process, index_dir, log_dir, startup_s

    def log(self) -> str:
        return (self.log_dir / "stdout.txt").read_text() + (self.log_dir / "stderr.txt").read_text()


def start_server(tmp: Path, index_dir: Path | None = None) -> Server:
    """`python app.py` on a free port (a fresh index folder by default); returns once the page answers."""
    index_dir, port = index_dir or tmp / "index", free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "RAG_INDEX_DIR": str(index_dir),
           "PYTHONUNBUFFERED": "1"}
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SHARE", "RAG_EMBEDDING_MODEL"):
        env.pop(name, None)
    started = time.perf_counter()
    with open(tmp / "stdout.txt", "w") as out, open(tmp / "stderr.txt", "w") as err:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--corpus", str(CORPUS),
             "--index-dir", str(index_dir)],
            cwd=tmp, env=env, stdout=out, stderr=err)
    server = Server(f"http://127.0.0.1:{port}", process, index_dir, tmp, 0.0)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"app.py exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url + "/config", timeout=2).status_code == 200:
                server.startup_s = time.perf_counter() - started
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise AssertionError(f"app.py did not answer within {STARTUP_TIMEOUT_S} s:\n{server.log()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("app"))
    print(f"\napp start-up (index build included): {server.startup_s:.1f} s")
    yield server
    stop_server(server)


def client(server: Server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def ask(c, question: str, model: str = "e5", top_k: int = 5, mode: str = "hybrid", since: str = "",
        until: str = "") -> tuple[str, dict]:
    return c.predict(question, model, top_k, mode, since, until, api_name="/ask")


def squash(text: str) -> str:
    return " ".join(text.split())


# --- start-up --------------------------------------------------------------------

def test_startup_builds_the_index_in_the_temporary_folder_with_progress(server):
    log = server.log()
    assert "construction de l'index" in log  # the progress bar
    assert re.search(r"index \S+ : 5 articles, \d+ passages, \d+ encodés", log)
    assert any(server.index_dir.iterdir())
    assert "127.0.0.1" in log and "0.0.0.0" not in log
    assert "gradio.live" not in log  # no public link unless asked


# --- one question ------------------------------------------------------------------

def test_the_mali_question_is_answered_with_the_2022_quote(server):
    c = client(server)
    started = time.perf_counter()
    text, details = ask(c, MALI)
    print(f"\nanswer latency through gradio_client: {time.perf_counter() - started:.2f} s")
    assert "2022" in text
    assert details["question"] == MALI and not details["abstained"]
    quotes = [c for c in details["citations"] if c["source"] == MALI_SOURCE]
    assert quotes and quotes[0]["date"] == "2022-02"
    assert f"« {quotes[0]['quote']} »" in text
    assert squash(quotes[0]["quote"]) in squash((CORPUS / MALI_SOURCE).read_text(encoding="utf-8"))


def test_the_chat_streams_the_answer_and_fills_the_sources_panel(server):
    job = client(server).submit(MALI, [], "e5", 5, "hybrid", "", "", "", api_name="/chat")
    outputs = list(job)
    assert len(outputs) >= 3  # "searching", then the lead, then the quotes one by one
    _, history, sources = outputs[-1]
    assert [m["role"] for m in history] == ["user", "assistant"]
    reply = history[-1]["content"][0]["text"]
    assert "2022" in reply and "«" in reply and "C'était un retrait attendu" in reply
    assert MALI_SOURCE in sources and "<mark" in sources
    marked = re.findall(r"<mark[^>]*>(.*?)</mark>", sources, re.S)
    assert any("Barkhane et Takuba" in m for m in marked)


# --- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("question, changes, message", [
    ("   ", {}, "La question est vide"),
    ("a" * 100_000, {}, "La question fait 100000 caractères"),
    (MALI, {"model": "pas un modèle"}, "Modèle d'embedding inconnu"),
    (MALI, {"model": "EMPTY_FOLDER"}, "ne contient pas de modèle"),
    (MALI, {"since": "2022-13"}, "Date illisible"),
    (MALI, {"since": "2025", "until": "2022"}, "Inversez-les"),
    (MALI, {"top_k": 0}, "top-k doit être entre 1 et 100"),
    (MALI, {"mode": "magique"}, "Mode de recherche inconnu"),
], ids=["blank", "100k-chars", "unknown-model", "model-folder-without-model", "bad-date", "inverted-dates",
        "top-k-0", "bad-mode"])
def test_a_bad_input_is_a_message_and_the_app_keeps_answering(server, tmp_path, question, changes, message):
    if changes.get("model") == "EMPTY_FOLDER":
        changes = {**changes, "model": str(tmp_path)}
    c = client(server)
    text, details = ask(c, question, **changes)
    assert text.startswith("Erreur : ") and message in text
    assert details["error"] in text
    text, _ = ask(c, MALI)
    assert "2022" in text


def test_an_error_in_the_chat_is_a_chat_message(server):
    _, history, sources = client(server).predict("  ", [], "e5", 5, "hybrid", "", "", "", api_name="/chat")
    assert "La question est vide" in history[-1]["content"][0]["text"]
    assert "Pas de sources" in sources


# --- several users at once ---------------------------------------------------------

QUESTIONS = [
    MALI,
    "Pourquoi la France et ses partenaires retirent-ils Barkhane et Takuba du Mali ?",
    "Combien de diplomates maliens la France a-t-elle décidé d'expulser ?",
    "Quels pays sont membres de l'Alliance des États du Sahel ?",
    "À quelle date Antonio Guterres s'est-il adressé au Conseil de sécurité ?",
    "Qui a appelé à une plateforme de coopération entre les services de renseignement ?",
    "Depuis quand la France est-elle présente militairement au Mali ?",
]
RANGES = [("", ""), ("2025", ""), ("", "2022-12"), ("2022-01", "2022-03"), ("", "")]


def _requests(n: int = 20) -> list[dict]:
    modes = ["hybrid", "dense", "bm25"]
    return [{"question": f"{QUESTIONS[i % len(QUESTIONS)]}", "top_k": 1 + i % 6, "mode": modes[i % 3],
             "since": RANGES[i % len(RANGES)][0], "until": RANGES[i % len(RANGES)][1]} for i in range(n)]


def _check_reply(request: dict, text: str, details: dict) -> None:
    assert "error" not in details, details
    assert details["question"] == request["question"]
    used = details["settings"]
    assert (used["top_k"], used["mode"]) == (request["top_k"], request["mode"])
    assert (used["since"] or "", used["until"] or "") == (request["since"], request["until"])
    sources = details["sources"]
    assert 1 <= len(sources) <= request["top_k"]
    for hit in sources:  # the mode really used: a switched-off leg has no score
        assert (hit["dense_score"] is None) == (request["mode"] == "bm25")
        assert (hit["lexical_score"] is None) == (request["mode"] == "dense")
        if request["since"] or request["until"]:
            assert hit["date"] is not None  # the date filter leaves undated articles out
            assert overlaps(PartialDate.parse(hit["date"]), *parse_filter_bounds(request["since"] or None,
                                                                                 request["until"] or None))
    assert text == details["answer"]


def test_twenty_concurrent_users_each_get_their_own_answer(server):
    requests = _requests()
    sequential_client = client(server)
    expected = [ask(sequential_client, **r) for r in requests]  # one at a time: the reference
    for request, (text, details) in zip(requests, expected):
        _check_reply(request, text, details)

    barrier = threading.Barrier(len(requests) + 1, timeout=60)

    def one_user(request: dict):
        c = client(server)  # its own client, its own session
        barrier.wait()
        return ask(c, **request)

    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(one_user, r) for r in requests]
        barrier.wait()  # every client connected: the questions leave together
        started = time.perf_counter()
        replies = [f.result() for f in futures]
    print(f"\n{len(requests)} concurrent questions: {time.perf_counter() - started:.2f} s wall time")
    for request, (text, details), (expected_text, expected_details) in zip(requests, replies, expected):
        _check_reply(request, text, details)
        assert text == expected_text
        assert [h["id"] for h in details["sources"]] == [h["id"] for h in expected_details["sources"]]


def test_concurrent_chats_keep_their_own_history(server):
    def one_chat(i: int):
        question = QUESTIONS[i % len(QUESTIONS)]
        history = [{"role": role, "content": [{"type": "text", "text": f"{role} {i}"}]}
                   for role in ("user", "assistant")]
        c = client(server)
        _, new_history, _ = c.predict(question, history, "e5", 1 + i % 4, "hybrid", "", "", "", api_name="/chat")
        return i, question, new_history

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one_chat, range(8)))
    for i, question, history in results:
        texts = [m["content"][0]["text"] for m in history]
        assert texts[:2] == [f"user {i}", f"assistant {i}"]
        assert texts[2] == question
        assert len(history) == 4 and history[3]["role"] == "assistant"
        assert "Erreur" not in texts[3]


# --- pieces of the page, without a server ---------------------------------------------

def _hostile_answer():
    from rag.answer import Answer, Citation

    passage = "Avant. <script>alert(1)</script> a dit ${x} {{y}} *gras* [lien](javascript:x). Après."
    quote = "<script>alert(1)</script> a dit ${x} {{y}} *gras* [lien](javascript:x)."
    start = passage.index(quote)
    citation = Citation("evil_<b>.txt", "Titre <img src=x onerror=alert(1)>", None, quote, 0.5,
                        100 + start, 100 + start + len(quote), passage, 100)
    return Answer("q ?", "texte", "D'après les articles : <i>x</i>", False, [citation], "e5"), quote


def test_corpus_text_is_escaped_in_the_chat_and_the_sources_panel():
    from rag.ui import answer_markdown_parts, sources_html

    answer, quote = _hostile_answer()
    panel = sources_html(answer)
    assert "<script" not in panel and "<img" not in panel and "<b>" not in panel and "${" not in panel
    assert "{{" not in panel
    assert panel.count("<mark") == 1 and "&lt;script&gt;" in panel.split("<mark")[1]
    assert "date inconnue" in panel
    chat = "\n".join(answer_markdown_parts(answer))
    assert "<script" not in chat and "<img" not in chat and "<i>" not in chat
    assert "\\*gras\\*" in chat and "\\[lien\\]" in chat and "date inconnue" in chat


def test_the_defaults_serve_this_machine_only_without_a_public_link():
    import importlib.util
    import inspect

    from rag.ui import serve

    spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    args = app.parse_args([])
    assert (args.host, args.port, args.share) == ("127.0.0.1", 7860, False)
    defaults = {name: p.default for name, p in inspect.signature(serve).parameters.items()}
    assert (defaults["host"], defaults["port"], defaults["share"]) == ("127.0.0.1", 7860, False)
