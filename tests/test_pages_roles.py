"""Every page for every role (AppTest): registered for all, content or a sign-in prompt by role;
the administrators' Users and organisations page."""

from __future__ import annotations

import pytest
from apptest_util import ROOT, open_page, signed_in_state, texts

from assets import auth
from assets.model import SYSTEM_ACTOR
from assets.store import open_store
from settings import get_settings

PAGES = sorted(p.stem for p in (ROOT / "app_pages").glob("*.py") if not p.stem.startswith("_"))
# Pages whose content needs one of these roles; every other page is for everyone.
RESTRICTED = {
    "add_asset": ("coordinator", "administrator"),
    "upload": ("coordinator", "administrator"),
    "manage": ("coordinator", "administrator"),
    "review": ("coordinator", "administrator"),
    "users": ("administrator",),
}
ROLES = ("public", "commissioner", "practitioner", "coordinator", "administrator")
PROMPT_WORDS = ("Sign in as", "You are signed in as")


@pytest.fixture()
def register(tmp_env):
    """A fresh register with an administrator, so the one-time set-up notice is not shown."""
    store = open_store(get_settings().database_url)
    store.add_user(SYSTEM_ACTOR, "boss@example.org", "Boss", "administrator")
    return store


def _prompts(at) -> list[str]:
    """The sign-in prompts shown instead of a page's content (_common.require_role)."""
    return [text for text in texts(at, "info") + texts(at, "warning") if text.startswith(PROMPT_WORDS)]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_is_registered_and_shows_content_or_a_sign_in_prompt(register, role):
    state = signed_in_state(role) if role != "public" else {}
    for page in PAGES:
        # Switching to a page that is not registered for this visitor would fail here.
        at = open_page(page, role=None, state=state)
        allowed = role in RESTRICTED.get(page, ROLES)
        prompts = _prompts(at)
        if allowed:
            assert not prompts, (page, role, prompts)
        else:
            assert prompts, (page, role)
            if role == "public":
                assert any("Sign in as" in text for text in prompts)
            else:
                assert any(f"({role})" in text.replace("\\", "") for text in prompts)


def test_administrator_manages_users_organisations_and_the_public_view(register):
    at = open_page("users")
    at.text_input(key="orgs_add_name").input("Moseley Network")
    at.button(key="orgs_add_submit").click()
    at.run()
    assert any("Added the organisation Moseley Network" in t.replace("\\", "") for t in texts(at, "success"))
    org = next(o for o in register.list_organisations(SYSTEM_ACTOR) if o.name == "Moseley Network")

    # A coordinator without an organisation is refused, with the reason.
    at.text_input(key="users_add_email").input("cy@example.org")
    at.text_input(key="users_add_name").input("Cy")
    at.selectbox(key="users_add_role").select("coordinator")
    at.button(key="users_add_submit").click()
    at.run()
    assert any("without an organisation" in t.replace("\\", "") for t in texts(at, "error"))
    at.selectbox(key="users_add_org").select(org.id)
    at.text_input(key="users_add_password").input("a fine long passphrase")
    at.button(key="users_add_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    user = register.get_user(SYSTEM_ACTOR, "cy@example.org")
    assert (user.role, user.organisation_id) == ("coordinator", org.id)
    assert auth.sign_in(register, "cy@example.org", "a fine long passphrase", sleep=lambda s: None).id == user.id

    at.selectbox(key="users_pick").select("cy@example.org")
    at.run()
    at.checkbox(key=f"users_edit_disabled_{user.id}").check()
    at.button(key="users_edit_submit").click()
    at.run()
    assert register.get_user(SYSTEM_ACTOR, "cy@example.org").disabled

    assert register.public_view() is True
    at.toggle(key="users_public_view").set_value(False)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert register.public_view() is False
    assert open_page(None, role=None).title[0].value == "Sign in to see the register"


def test_users_page_refuses_a_coordinator_even_when_opened_directly(register):
    at = open_page("users", role="coordinator")
    assert not at.dataframe and not at.get("text_input")
    assert register.list_users(SYSTEM_ACTOR)[0].email == "boss@example.org"
