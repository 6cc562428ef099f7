"""End to end in headless Chromium: type a prompt, generate, see the piano roll and the audio,
download the MIDI. Skipped, with the reason shown, where Chromium or playwright is missing.

Set TUNESMITH_SCREENSHOT=path to also save a screenshot of the page after the generation.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from symusic import Score

from tunesmith.server import ServerConfig, create_app

CHROMIUM = os.environ.get("TUNESMITH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.browser


def _playwright():  # type: ignore[no-untyped-def]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright): browser test skipped")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium): "
                    "browser test skipped")
    return sync_playwright


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(debug_checkpoint) -> Iterator[str]:  # type: ignore[no-untyped-def]
    import uvicorn

    app = create_app(checkpoint=debug_checkpoint, config=ServerConfig(sample_rate=22050))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > end or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_generate_in_the_browser(server_url: str, tmp_path: Path) -> None:
    sync_playwright = _playwright()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp lets the test's own wait expressions run; the page itself needs no eval.
            page = browser.new_page(viewport={"width": 1366, "height": 900},
                                    accept_downloads=True, bypass_csp=True)
            outside: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(server_url)
                    or r.url.startswith("data:") else outside.append(r.url))
            page.goto(server_url)
            page.wait_for_function("document.querySelectorAll('#key option').length > 1")
            page.fill("#prompt", "a calm piano piece")
            page.fill("#bars", "2")
            page.click("#generate")
            page.wait_for_function(
                "document.getElementById('roll').complete"
                " && document.getElementById('roll').naturalWidth > 0", timeout=60_000)
            page.wait_for_function("document.getElementById('player').readyState >= 1")
            assert page.locator("#error").is_hidden()
            assert page.locator("#attr-table tbody tr").count() >= 3
            assert page.locator("#history li").count() == 1
            with page.expect_download() as info:
                page.click("#midi-link")
            saved = tmp_path / "piece.mid"
            info.value.save_as(saved)
            assert Score(str(saved)).note_num() > 0
            _keyboard_submit_shows_error(page)
            if shot := os.environ.get("TUNESMITH_SCREENSHOT"):
                page.locator("#error").evaluate("e => e.hidden = true")
                page.screenshot(path=shot, full_page=True)
            assert outside == []  # the page fetched nothing from outside
        finally:
            browser.close()


def _keyboard_submit_shows_error(page) -> None:  # type: ignore[no-untyped-def]
    """Enter in the prompt submits; a server-side refusal shows its message."""
    page.fill("#instruments", "piano, kazoo-phone")
    page.focus("#prompt")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert "instrument 'kazoo-phone' is unknown" in page.inner_text("#error")
    page.fill("#instruments", "")
