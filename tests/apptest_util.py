"""Helpers for AppTest page tests: a fresh app on a private database, signed in as a role."""

from __future__ import annotations

import uuid
from pathlib import Path

from streamlit.testing.v1 import AppTest

from assets import auth
from assets.model import SYSTEM_ACTOR
from assets.store import open_store
from settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
ENTRY = str(ROOT / "streamlit_app.py")


def signed_in_state(role: str, organisation_id: str | None = None, *, email: str | None = None) -> dict:
    """Session state of a visitor signed in as a new user with ``role``, made the way sign-in makes it.

    The user is added to the database named by the environment (``tmp_env``); a coordinator
    belongs to ``organisation_id`` or else the default organisation.
    """
    store = open_store(get_settings().database_url)
    if role == "coordinator" and not organisation_id:
        organisation_id = store.default_organisation(SYSTEM_ACTOR).id
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    user = store.add_user(SYSTEM_ACTOR, email, role.capitalize(), role, organisation_id)
    state: dict = {}
    auth.start_session(state, user)
    return state


def open_page(
    page: str | None = None,
    *,
    query: dict | None = None,
    state: dict | None = None,
    role: str | None = "administrator",
    organisation_id: str | None = None,
) -> AppTest:
    """Run the app's entry point on ``app_pages/<page>.py`` (the Map page when None).

    The visitor is signed in as a new user with ``role`` (an administrator unless told;
    None: not signed in, the public).
    """
    at = AppTest.from_file(ENTRY, default_timeout=180)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    session = signed_in_state(role, organisation_id) if role else {}
    for key, value in {**session, **(state or {})}.items():
        at.session_state[key] = value
    if page:
        at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    """The values of every element of one kind (error, warning, success, markdown, ...)."""
    return [str(element.value) for element in getattr(at, kind)]
