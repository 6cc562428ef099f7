"""End to end in headless Chromium: type a prompt, generate, see the piano roll and the audio,
download the MIDI; open a MIDI file, drag across bars of its piano roll, regenerate them for
chosen tracks, continue it; find melodies for a prompt, pick one and generate around it, or let
the server pick a phrase per section of a form; ask for a form and chords and see the piece's
sections.
Skipped, with the reason shown, where Chromium or playwright is missing.

Set TUNESMITH_SCREENSHOT=path to also save a screenshot of the page after the generation.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def _browser_page(**options: object) -> Iterator[object]:
    """A page of a headless Chromium (1366 x 900), closed afterwards; skips the test where
    playwright or Chromium is missing. bypass_csp lets the test's own wait expressions run;
    the page itself needs no eval."""
    sync_playwright = _playwright()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1366, "height": 900}, bypass_csp=True, **options)
        finally:
            browser.close()


def _open(page: Any, url: str) -> None:
    """Load the page and wait until its key list is filled (the page has read /api/options)."""
    page.goto(url)
    page.wait_for_function("document.querySelectorAll('#key option').length > 1")


def _generate(page: Any) -> dict[str, Any]:
    """Press Generate and return the JSON body the page posted to /api/generate."""
    with page.expect_request(lambda r: r.url.endswith("/api/generate")) as sent:
        page.click("#generate")
    return dict(sent.value.post_data_json)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(debug_checkpoint) -> Iterator[str]:  # type: ignore[no-untyped-def]
    import uvicorn

    config = ServerConfig(sample_rate=22050, decoder="numpy")  # no engine conversion in tests
    app = create_app(checkpoint=debug_checkpoint, config=config)
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
    with _browser_page(accept_downloads=True) as page:
        outside: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(server_url)
                or r.url.startswith("data:") else outside.append(r.url))
        _open(page, server_url)
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


def _keyboard_submit_shows_error(page) -> None:  # type: ignore[no-untyped-def]
    """Enter in the prompt submits; a server-side refusal shows its message."""
    page.fill("#instruments", "piano, kazoo-phone")
    page.focus("#prompt")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert "instrument 'kazoo-phone' is unknown" in page.inner_text("#error")
    page.fill("#instruments", "piano")  # the page sends the lead field: a lead not asked is refused
    page.fill("#lead", "trumpet")
    page.click("#generate")
    page.wait_for_function("document.getElementById('error').textContent.includes('lead Trumpet')")
    assert "lead Trumpet is not among the instruments (Piano)" in page.inner_text("#error")
    page.fill("#instruments", "")
    page.fill("#lead", "")


NEW_ROLL = ("([old, n]) => document.querySelectorAll('#history li').length === n"
            " && document.getElementById('roll').getAttribute('src') !== old"
            " && document.getElementById('roll').complete"
            " && document.getElementById('roll').naturalWidth > 0")


def test_regenerate_bars_and_continue_in_the_browser(server_url: str, tmp_path: Path) -> None:
    from conftest import make_score

    q = 480
    bass = [(i * q, q, 36 + (i % 2) * 7, 90) for i in range(16)]
    piano = [(b * 4 * q, 4 * q, p, 70) for b in range(4) for p in (60, 64, 67)]
    sketch = tmp_path / "sketch.mid"
    make_score([(0, False, piano), (33, False, bass)]).dump_midi(str(sketch))
    with _browser_page() as page:
        page.goto(server_url)
        page.set_input_files("#upload", str(sketch))
        page.wait_for_function(NEW_ROLL, arg=["", 1], timeout=60_000)
        assert "Uploaded: sketch.mid" in page.inner_text("#result-prompt")
        assert page.locator("#edit-tracks input").count() == 2
        _drag_bars(page, 2, 3)
        assert page.input_value("#edit-bars") == "2-3"
        assert page.locator("#selection").is_visible()
        page.uncheck("#edit-tracks input[value='0']")  # regenerate the bass only
        page.fill("#edit-density", "4")
        page.check("input[name=durations][value=quarter]")
        old = page.get_attribute("#roll", "src")
        page.click("#regenerate")
        page.wait_for_function(NEW_ROLL, arg=[old, 2], timeout=60_000)
        assert page.locator("#error").is_hidden()
        assert "Bars 2-3 regenerated: Electric Bass" in page.inner_text("#result-prompt")
        assert page.input_value("#edit-bars") == ""  # a new piece: pick again
        page.select_option("#continue-bars", "2")
        old = page.get_attribute("#roll", "src")
        page.click("#continue")
        page.wait_for_function(NEW_ROLL, arg=[old, 3], timeout=60_000)
        assert "Continued by 2 bars" in page.inner_text("#result-prompt")
        assert page.evaluate("state.current.report.bar_lines.length") == 7  # 6 bars now
        page.fill("#edit-bars", "9-12")  # past the end: the server's one-line message
        page.click("#regenerate")
        page.wait_for_selector("#error:not([hidden])")
        assert "outside the piece: it has bars 1-6" in page.inner_text("#error")
        page.locator("#history li").nth(2).locator("button").click()  # back to the upload
        assert "Uploaded: sketch.mid" in page.inner_text("#result-prompt")


def _drag_bars(page, first: int, last: int) -> None:  # type: ignore[no-untyped-def]
    """Press in the middle of bar `first` on the piano roll and release in bar `last`."""
    lines = page.evaluate("state.current.report.bar_lines")
    page.locator("#roll").scroll_into_view_if_needed()  # mouse positions are in the viewport
    box = page.locator("#roll").bounding_box()
    y = box["y"] + box["height"] / 2

    def x(bar: int) -> float:
        return box["x"] + box["width"] * (lines[bar - 1] + lines[bar]) / 2

    page.mouse.move(x(first), y)
    page.mouse.down()
    page.mouse.move(x(last), y, steps=5)
    page.mouse.up()


def test_start_from_a_found_melody_in_the_browser(server_url: str, tmp_path: Path) -> None:
    from conftest import make_score

    with _browser_page() as page:
        page.goto(server_url)
        page.fill("#prompt", "a cheerful pop melody")
        page.fill("#instruments", "flute, bass")
        page.click("#find-melodies")
        page.wait_for_selector("#melody-hits li img", timeout=60_000)
        hits = page.locator("#melody-hits li")
        assert hits.count() == 5 and "pop909/" in hits.first.inner_text()
        page.wait_for_function("[...document.querySelectorAll('#melody-hits img')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        assert hits.first.locator("a").get_attribute("href").endswith("/midi")
        hits.first.locator("input[type=radio]").focus()  # by keyboard: Space, then the next one
        page.keyboard.press("Space")
        page.keyboard.press("ArrowDown")
        assert page.locator("#melody-hits input:checked").count() == 1
        assert hits.nth(1).locator("input").is_checked()
        chosen = page.inner_text("#melody-chosen")
        picked = re.search(r"pop909/\S+ bars \d+-\d+", chosen)
        assert picked and picked.group() in hits.nth(1).inner_text()
        assert page.locator("#melody-clear").is_visible()
        page.click("#generate")
        page.wait_for_function(NEW_ROLL, arg=["", 1], timeout=60_000)
        assert page.locator("#error").is_hidden()
        assert page.inner_text("#result-prompt").startswith("Melody: pop909/")
        assert "melody: pop909/" in page.inner_text("#notes")
        page.click("#melody-clear")
        assert page.inner_text("#melody-chosen").startswith("No melody")
        assert page.locator("#melody-hits input:checked").count() == 0
        # the user's own file, with a track that is not a pitched one: the server's message
        tune = tmp_path / "tune.mid"
        make_score([(73, False, [(i * 480, 480, 60 + i, 80) for i in range(8)]),
                    (0, True, [(i * 480, 120, 36, 100) for i in range(8)])]).dump_midi(str(tune))
        page.set_input_files("#melody-file", str(tune))
        page.wait_for_function("document.getElementById('melody-chosen').textContent"
                               ".includes('tune.mid')")
        page.fill("#melody-track", "2")
        page.click("#generate")
        page.wait_for_selector("#error:not([hidden])")
        assert "melody track 2 is not a pitched track: allowed 1" in page.inner_text("#error")


def test_a_phrase_per_section_in_the_browser(server_url: str, tmp_path: Path) -> None:
    """"Let tunesmith pick a phrase per section" sends melody {"retrieved": true} with the Form;
    the piece's sections are listed. A file of one's own goes without a Form: the server says so."""
    from conftest import make_score

    with _browser_page() as page:
        _open(page, server_url)
        page.fill("#prompt", "a cheerful pop melody")
        page.fill("#instruments", "flute, bass")
        page.fill("#bars", "8")
        page.fill("#form", "AABA")
        page.check("#melody-retrieved")
        assert "picked by tunesmith" in page.inner_text("#melody-chosen")
        assert page.locator("#melody-clear").is_visible()
        body = _generate(page)
        assert body["melody"] == {"retrieved": True} and body["form"] == "AABA"
        page.wait_for_function(NEW_ROLL, arg=["", 1], timeout=90_000)
        assert page.locator("#error").is_hidden()
        assert page.inner_text("#result-prompt").startswith("Melody: a phrase per section")
        sections = page.locator("#plan-sections li").all_inner_texts()
        assert sections == ["A bars 1–2", "A' 3–4", "B 5–6", "A' 7–8"]
        assert "melody: " in page.inner_text("#notes")
        page.click("#melody-clear")
        assert not page.is_checked("#melody-retrieved")
        assert page.inner_text("#melody-chosen").startswith("No melody")
        page.check("#melody-retrieved")  # a file picked next replaces it
        tune = tmp_path / "tune.mid"
        make_score([(73, False, [(i * 480, 480, 60 + i, 80) for i in range(8)])]).dump_midi(str(tune))
        page.set_input_files("#melody-file", str(tune))
        page.wait_for_function("document.getElementById('melody-chosen').textContent"
                               ".includes('tune.mid')")
        assert not page.is_checked("#melody-retrieved")
        page.click("#generate")
        page.wait_for_selector("#error:not([hidden])")
        assert "form 'AABA' does not go with a given melody" in page.inner_text("#error")
        assert page.locator("#history li").count() == 1


def test_form_and_chords_in_the_browser(server_url: str) -> None:
    """Form and Chords go with the request; the piece's sections are listed under the piano
    roll (the plan's note is not repeated) and a click on one picks its bars for editing."""
    with _browser_page() as page:
        _open(page, server_url)
        page.fill("#prompt", "a calm piano piece")
        page.fill("#bars", "8")
        page.fill("#form", "AABA")
        page.fill("#chords", "Am F C G")
        body = _generate(page)
        assert body["form"] == "AABA" and body["chords"] == "Am F C G"
        assert body["order"] == "trackwise" and body["drums"] == "groove"  # the defaults, stated
        assert body["feel"] == "straight"
        page.wait_for_function(NEW_ROLL, arg=["", 1], timeout=60_000)
        assert page.locator("#error").is_hidden()
        assert page.locator("#plan").is_visible()
        sections = page.locator("#plan-sections li").all_inner_texts()
        assert sections == ["A bars 1–2", "A' 3–4", "B 5–6", "A' 7–8"]
        assert "plan:" not in page.inner_text("#notes")
        chords = page.locator("#attr-table tbody tr", has_text="Chords").locator("td").first
        assert chords.inner_text() == "Am F C G"
        page.locator("#plan-sections button").nth(2).click()  # B
        assert page.input_value("#edit-bars") == "5-6"
        assert page.locator("#selection").is_visible()
        page.fill("#form", "")  # empty: not sent, and a piece under 8 bars has no plan
        page.fill("#chords", "")
        page.fill("#bars", "6")
        page.select_option("#order", "interleaved")
        page.select_option("#drums", "model")
        page.select_option("#feel", "human")
        body = _generate(page)
        assert "form" not in body and "chords" not in body
        assert body["order"] == "interleaved" and body["drums"] == "model" and body["feel"] == "human"
        page.wait_for_function(NEW_ROLL, arg=[page.get_attribute("#roll", "src"), 2], timeout=60_000)
        assert page.locator("#plan").is_hidden()


def test_a_bad_form_or_chord_shows_the_servers_message(server_url: str) -> None:
    """The server's one-line refusal is shown in the error area; what was typed stays."""
    with _browser_page() as page:
        page.goto(server_url)
        page.fill("#prompt", "a calm piano piece")
        page.fill("#bars", "4")
        refusals = (("#form", "AAXZ1", "form 'AAXZ1' is invalid: write letters such as AABA"),
                    ("#form", "AABA", "4 bars cannot hold 4 sections of at least 2 bars"),  # 4 x 2 bars > 4
                    ("#chords", "Am H7 C", "chord 'H7' is not a chord"))
        for field, value, needle in refusals:
            page.fill("#form", "")
            page.fill(field, value)
            page.click("#generate")
            page.wait_for_function("n => document.getElementById('error').textContent.includes(n)", arg=needle)
            assert needle in page.inner_text("#error")
            assert page.input_value(field) == value
        assert page.input_value("#prompt") == "a calm piano piece"
        assert page.locator("#history li").count() == 0
