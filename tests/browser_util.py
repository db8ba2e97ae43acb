"""Helpers for real-browser checks: the app as a subprocess, Debian's Chromium through Playwright.

Used by ``tests/test_browser.py``, ``bench/bench_first_map.py`` and ``tools/screenshot.py``.
The app runs exactly as a user starts it (``streamlit run streamlit_app.py``) on a free
127.0.0.1 port, with its own database, and ``CAM_TILES=none`` so that no map tile is
fetched from the internet. Chromium is the system one (``/usr/bin/chromium``): never run
``playwright install``, which downloads a browser.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / "streamlit_app.py"
CHROMIUM = "/usr/bin/chromium"
# No sandbox (containers run as root), software rendering, and none of Chromium's own
# background traffic (updates, sync, safe browsing lists), so that every request a test
# sees comes from the app's pages.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})
# The st_folium component's iframe; after a rerun two can exist briefly, so take the last.
MAP_IFRAME = 'iframe[title="streamlit_folium.st_folium"]'
# Drawn asset markers: circle markers and cluster icons live in Leaflet's marker pane
# (ward outlines are paths too, but in the overlay pane).
MARKERS_DRAWN = (
    "() => !!(window.map && document.querySelector("
    "'.leaflet-marker-pane path.leaflet-interactive, .leaflet-marker-pane .marker-cluster'))"
)


def is_local(url: str) -> bool:
    """Whether a request URL stays on this machine (loopback, or data:/blob:/about:)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") in LOCAL_HOSTS


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for the app and its command lines: a private database, no map tiles.

    The gazetteer cache (``CAM_CACHE_DIR``) is left as configured, so a warm cache is reused.
    """
    env = dict(os.environ)
    env.update(
        {
            "CAM_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{Path(data_dir) / 'browser.db'}",
            "CAM_TILES": "none",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def run_cli(module: str, *args: str, env: Mapping[str, str], timeout: float = 600) -> str:
    """Run ``python -m <module> <args>`` (e.g. ``assets import file.csv``) and return its output.

    Raises
    ------
    RuntimeError
        The command failed; the message holds its exit status and error output.
    """
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        msg = f"`python -m {module} {' '.join(args)}` exited {done.returncode}: {done.stderr.strip()[-2000:]}"
        raise RuntimeError(msg)
    return done.stdout


@dataclass
class AppServer:
    """A running ``streamlit run streamlit_app.py``; stop it with :meth:`stop` (or ``with``)."""

    url: str
    process: subprocess.Popen
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    def log(self) -> str:
        """Everything the server has printed so far ("" once stopped)."""
        if self._log.closed:
            return ""
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 15) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it does not exit in ``timeout`` seconds); drop its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if not self._log.closed:
            self._log.close()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_app(env: Mapping[str, str], *, port: int | None = None, timeout: float = 120) -> AppServer:
    """Start the app on 127.0.0.1 and wait until its health check answers.

    Parameters
    ----------
    env
        The environment (see :func:`app_env`).
    port
        The port; a free one when None.
    timeout
        Seconds to wait for the server.

    Raises
    ------
    RuntimeError
        The server exited or did not answer in time; the message holds its log.
    """
    port = port or free_port()
    log_path = Path(tempfile.mkstemp(prefix="cam-app-", suffix=".log")[1])
    log = log_path.open("wb")
    command = [
        sys.executable, "-m", "streamlit", "run", str(ENTRY),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        # Others edit the tree while tests run: no watcher, so no "source changed" reruns.
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}", process, log_path, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_text = server.log()
            server.stop()
            msg = f"the app exited with status {process.returncode} before answering:\n{log_text[-3000:]}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    log_text = server.log()
    server.stop()
    msg = f"the app did not answer on {server.url} within {timeout:.0f} s:\n{log_text[-3000:]}"
    raise RuntimeError(msg)


def launch_chromium(playwright: Any, executable_path: str = CHROMIUM, args: Sequence[str] = ()) -> Any:
    """Debian's headless Chromium through Playwright (never a downloaded browser)."""
    return playwright.chromium.launch(
        executable_path=executable_path, headless=True, args=[*CHROMIUM_ARGS, *args]
    )


class RequestLog:
    """Every URL a page asks for: documents, scripts, images, XHR, iframes, web sockets."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def attach(self, context: Any) -> Any:
        """Record the requests of a Playwright ``BrowserContext``: all its pages and their frames."""

        def watch(page: Any) -> None:
            # Web sockets are announced per page, not per context.
            page.on("websocket", lambda socket_: self.urls.append(socket_.url))

        context.on("request", lambda request: self.urls.append(request.url))
        context.on("page", watch)
        for page in context.pages:
            watch(page)
        return context

    def off_machine(self) -> list[str]:
        """The recorded URLs that leave this machine, each once, in order."""
        return list(dict.fromkeys(url for url in self.urls if not is_local(url)))


def map_frame(page: Any, timeout_ms: float = 120_000, *, ready: str = MARKERS_DRAWN, arg: Any = None) -> Any:
    """The Playwright ``Frame`` of the last st_folium map on the page, once ``ready`` holds in it.

    Parameters
    ----------
    page
        A Playwright page showing the app.
    timeout_ms
        How long to wait, in milliseconds.
    ready
        A JavaScript function evaluated in the map's frame (with ``arg``); by default
        "asset markers or cluster icons are drawn".
    """
    deadline = time.monotonic() + timeout_ms / 1000
    page.wait_for_selector(MAP_IFRAME, state="attached", timeout=timeout_ms)
    while True:
        remaining_ms = max(deadline - time.monotonic(), 0.5) * 1000
        handle = page.locator(MAP_IFRAME).last.element_handle(timeout=remaining_ms)
        frame = handle.content_frame() if handle is not None else None
        if frame is not None:
            try:
                # Short waits, so that an iframe replaced by a rerun is given up for the new one.
                frame.wait_for_function(ready, arg=arg, timeout=min(remaining_ms, 5_000), polling="raf")
                return frame
            except _frame_gone_errors():
                pass
        if time.monotonic() > deadline:
            msg = f"the map (the last st_folium iframe) was not ready within {timeout_ms / 1000:.0f} s: {ready}"
            raise TimeoutError(msg)
        time.sleep(0.1)


def _frame_gone_errors() -> type[BaseException]:
    # Playwright's TimeoutError is a subclass of its Error (a detached frame raises Error).
    from playwright.sync_api import Error

    return Error
