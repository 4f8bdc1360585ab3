"""The chat page in a real browser (Chromium through Playwright): type, read the answer, see the sources.

Skipped only when /usr/bin/chromium is absent (CI installs it). Playwright's own
browser download is never used: the system Chromium is launched by path.
The screenshot is kept as a test artefact (in the test's tmp folder, and in
$RAG_TEST_ARTIFACTS when set).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

try:  # tests/ is on sys.path (pytest's default import mode, no __init__.py)
    from test_app import MALI, MALI_SOURCE, start_server, stop_server
except ImportError:  # tests/ became a package
    from tests.test_app import MALI, MALI_SOURCE, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ANSWER_TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (CI installs chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, index):
    # The session's index (conftest.py), already built: the start-up build is tested in test_app.py.
    server = start_server(tmp_path_factory.mktemp("browser-app"), index_dir=settings.index_dir)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _save_artefact(path: Path) -> None:
    target = os.environ.get("RAG_TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    print(f"\nscreenshot: {path}")


def test_the_page_answers_the_mali_question_with_date_quote_and_sources(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url)
    started = time.perf_counter()
    page.locator("#question textarea").fill(MALI)
    page.locator("#ask-button").click()

    sources = page.locator("#sources")
    sources.locator("mark").first.wait_for(timeout=ANSWER_TIMEOUT_MS)  # the last event of an answer
    print(f"\nanswer in the browser: {time.perf_counter() - started:.2f} s")
    reply = page.locator("#chat .message.bot").last.inner_text()  # Gradio's class for answers
    assert "2022" in reply
    quote = re.search(r"\[1\]\s*«\s*(.+?)\s*»", reply, re.S)  # the first quote, after the lead
    assert quote and "Barkhane et Takuba" in quote.group(1)
    assert "C'était un retrait attendu" in reply

    panel = sources.inner_text()
    assert MALI_SOURCE in panel and "2022-02" in panel and "score" in panel
    marked = " ".join(sources.locator("mark").first.inner_text().split())
    assert marked in " ".join(quote.group(1).split()) or " ".join(quote.group(1).split()) in marked
    assert "après neuf ans de présence" in panel  # the passage in full, not only the quote

    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    _save_artefact(shot)

    # An error is a message in the chat, and the page keeps answering.
    page.locator("#question textarea").fill("   ")
    page.locator("#ask-button").click()
    page.get_by_text("La question est vide").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.locator("#question textarea").fill("Depuis quand la France est-elle présente militairement au Mali ?")
    page.locator("#ask-button").click()
    page.wait_for_function("""() => {
        const bots = document.querySelectorAll('#chat .message.bot');
        return bots.length === 3 && bots[2].innerText.includes('depuis 2013');
    }""", timeout=ANSWER_TIMEOUT_MS)
    page.close()
