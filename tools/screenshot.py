"""Screenshot a page of the running app in headless Chromium, and list requests that leave the machine.

Usage (from the project folder, with the app running)::

    .venv/bin/python tools/screenshot.py http://127.0.0.1:8501/find_nearby out.png --wait 2000

Uses Debian's Chromium (``/usr/bin/chromium``) through Playwright with the same flags as the
browser tests; never run ``playwright install``. Waits for the page's script run to finish
(and for a map, when the page has one, to draw), then ``--wait`` milliseconds more, and saves
a full-page PNG. Every request URL that does not stay on this machine is printed; the exit
status is 1 when there is any, 2 when the page could not be captured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser_util import (  # noqa: E402  (one place for the Chromium set-up)
    CHROMIUM,
    MAP_IFRAME,
    RequestLog,
    launch_chromium,
    map_frame,
)

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
MAP_READY = "() => !!(window.map && document.querySelector('.leaflet-container'))"
CONTENT_HEIGHT = """() => Math.max(document.documentElement.scrollHeight,
    ...Array.from(document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppScrollToBottomContainer"]'),
                  (node) => node.scrollHeight + node.getBoundingClientRect().top))"""
MAX_HEIGHT = 16_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python tools/screenshot.py", description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the page, e.g. http://127.0.0.1:8501/coverage")
    parser.add_argument("output", help="the PNG file to write")
    parser.add_argument("--wait", type=int, default=1000, metavar="MS", help="extra milliseconds before the shot")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--timeout", type=int, default=120, metavar="S", help="seconds to wait for the page")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"the Chromium binary (default {CHROMIUM})")
    return parser


def capture(url: str, output: Path, *, wait_ms: int, width: int, height: int, timeout_s: int, chromium: str) -> list[str]:
    """Save a full-page screenshot of ``url``; returns the off-machine request URLs seen."""
    from playwright.sync_api import sync_playwright

    log = RequestLog()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            log.attach(context)
            page = context.new_page()
            page.set_default_timeout(timeout_s * 1000)
            page.goto(url)
            page.wait_for_selector(IDLE, state="attached")
            if page.locator(MAP_IFRAME).count():
                map_frame(page, timeout_s * 1000, ready=MAP_READY)
            # Streamlit scrolls an inner container, not the document: grow the window to the
            # content's height so that the shot holds the whole page.
            tall = page.evaluate(CONTENT_HEIGHT)
            if tall > height:
                page.set_viewport_size({"width": width, "height": min(tall, MAX_HEIGHT)})
            page.wait_for_timeout(wait_ms)
            page.screenshot(path=str(output), full_page=True)
        finally:
            browser.close()
    return log.off_machine()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"error: no Chromium at {args.chromium}; install Debian's chromium or pass --chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import Error as PlaywrightError

    try:
        off_machine = capture(
            args.url, Path(args.output), wait_ms=args.wait, width=args.width, height=args.height,
            timeout_s=args.timeout, chromium=args.chromium,
        )  # fmt: skip
    except (PlaywrightError, TimeoutError) as exc:
        print(f"error: could not capture {args.url}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    if off_machine:
        print(f"{len(off_machine)} request(s) left the machine:")
        for url in off_machine:
            print(f"  {url}")
        return 1
    print("no request left the machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
