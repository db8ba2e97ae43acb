"""Helpers for AppTest page tests: a fresh app on a private database."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
ENTRY = str(ROOT / "streamlit_app.py")


def open_page(page: str | None = None, *, query: dict | None = None, state: dict | None = None) -> AppTest:
    """Run the app's entry point on ``app_pages/<page>.py`` (the Map page when None)."""
    at = AppTest.from_file(ENTRY, default_timeout=180)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    if page:
        at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    """The values of every element of one kind (error, warning, success, markdown, ...)."""
    return [str(element.value) for element in getattr(at, kind)]
