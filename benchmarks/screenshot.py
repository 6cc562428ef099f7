"""Screenshot of the web page after a generation, for the README (docs/screenshot.png).

Starts the server on a free loopback port (the shipped default model, --model PATH, or --debug
for a tiny random checkpoint), drives headless Chromium through playwright (Debian's
/usr/bin/chromium, never a downloaded browser): type a prompt, Generate, wait for the piano
roll and the audio; then drag across two bars of the piano roll, Regenerate them (all tracks)
and drag across them again, so the picture shows the edit panel, the picked bars and two
pieces in the history; save a full-page screenshot.

    python benchmarks/screenshot.py [--model PATH | --debug] [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from serve import debug_checkpoint, free_port, start_server

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PROMPT = "A calm piano ballad in C major at 70 bpm with strings"


def _drag(page, first: int, last: int) -> None:  # type: ignore[no-untyped-def]
    """Drag on the piano roll from the middle of bar `first` to that of bar `last`."""
    lines = page.evaluate("state.current.report.bar_lines")
    page.locator("#roll").scroll_into_view_if_needed()  # mouse positions are in the viewport
    box = page.locator("#roll").bounding_box()
    y = box["y"] + box["height"] / 2
    xs = [box["x"] + box["width"] * (lines[b - 1] + lines[b]) / 2 for b in (first, last)]
    page.mouse.move(xs[0], y)
    page.mouse.down()
    page.mouse.move(xs[1], y, steps=5)
    page.mouse.up()


def shoot(base: str, out: Path, prompt: str, bars: int, chromium: str, edit: bool = True) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, bypass_csp=True)
            page.goto(base)
            page.wait_for_function("document.querySelectorAll('#key option').length > 1")
            page.fill("#prompt", prompt)
            page.fill("#bars", str(bars))
            page.click("#generate")
            page.wait_for_function("document.getElementById('roll').naturalWidth > 0",
                                   timeout=600_000)
            page.wait_for_function("document.getElementById('player').readyState >= 1")
            if edit:
                _drag(page, bars // 2 + 1, bars // 2 + 2)
                old = page.get_attribute("#roll", "src")
                page.click("#regenerate")
                page.wait_for_function(
                    "old => document.getElementById('roll').getAttribute('src') !== old"
                    " && document.getElementById('roll').naturalWidth > 0", arg=old,
                    timeout=600_000)
                _drag(page, bars // 2 + 1, bars // 2 + 2)
            page.evaluate("document.activeElement.blur()")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, help="checkpoint folder (default: shipped model)")
    which.add_argument("--debug", action="store_true", help="use a tiny random checkpoint")
    ap.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    ap.add_argument("--prompt", default=PROMPT)
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--no-edit", action="store_true", help="skip regenerating two bars")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunesmith-shot-") as tmp:
        model = debug_checkpoint(Path(tmp) / "debug_model") if args.debug else args.model
        port = free_port()
        proc = start_server(model, port, Path(tmp) / "server.log")
        try:
            shoot(f"http://127.0.0.1:{port}", args.out, args.prompt, args.bars, args.chromium,
                  edit=not args.no_edit)
        finally:
            proc.terminate()
            proc.wait(15)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
