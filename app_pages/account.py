"""Sign in, your account, and the one-time set-up of the first administrator."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.util import find_spec

import streamlit as st

from app_pages import _common
from assets import auth
from assets.errors import RegisterError
from settings import get_settings

settings = get_settings()
store = _common.store()
who = _common.actor()


def _sso_providers() -> list[str | None]:
    """The providers named in secrets [auth]: None for a single unnamed one."""
    section = st.secrets["auth"]
    if "client_id" in section:
        return [None]
    return [name for name, value in section.items() if isinstance(value, Mapping)]


def _set_up() -> None:
    st.title("Set up the first administrator")
    st.write(
        "Nobody can manage this register yet. Create the first administrator account: it can then add "
        "organisations and other users. This page is open only until an administrator exists."
    )
    st.caption(
        f"Use a password of at least {auth.MIN_PASSWORD_LENGTH} characters. For unattended deployments set "
        "CAM_ADMIN_EMAIL and CAM_ADMIN_PASSWORD instead (see README)."
    )
    with st.form("setup_form"):
        email = st.text_input("Email", key="setup_email")
        name = st.text_input("Name", key="setup_name")
        password = st.text_input("Password", type="password", key="setup_password")
        confirm = st.text_input("Password again", type="password", key="setup_confirm")
        submitted = st.form_submit_button("Create the administrator", type="primary", key="setup_submit")
    if submitted:
        if password != confirm:
            st.error("The two passwords differ; type the same password twice.")
            return
        try:
            user = auth.create_first_administrator(store, email, name, password)
        except RegisterError as exc:
            _common.say("error", f"Not created: {exc}")
            return
        auth.start_session(st.session_state, user)
        st.rerun()


def _sign_in() -> None:
    st.title("Sign in")
    if not store.public_view():
        st.info("The register is open only to signed-in users.")
    with st.form("signin_form"):
        email = st.text_input("Email", key="signin_email")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary", key="signin_submit")
    if submitted:
        try:
            user = auth.sign_in(store, email, password)
        except RegisterError as exc:
            _common.say("error", f"Not signed in: {exc}")
        else:
            auth.start_session(st.session_state, user)
            st.rerun()
    st.caption(
        f"After {settings.session_timeout_minutes} minutes without activity you are signed out. "
        "Reloading the page in the browser also signs you out (it starts a new session)."
    )
    if _common.sso_configured():
        st.divider()
        if find_spec("authlib") is None:
            st.error("Single sign-on is configured but the Authlib package is not installed; ask the administrator.")
            return
        for provider in _sso_providers():
            label = "Sign in with single sign-on" + (f" ({provider})" if provider else "")
            if st.button(label, key=f"sso_{provider or 'default'}"):
                if provider:
                    st.login(provider)
                else:
                    st.login()


def _account() -> None:
    st.title("Your account")
    user = store.get_user(who, who.email)
    organisations = {o.id: o.name for o in store.list_organisations(who)}
    _common.show_record(
        None,
        fields=[
            ("Email", user.email),
            ("Name", user.name),
            ("Role", user.role),
            ("Organisation", organisations.get(user.organisation_id, "")),
            ("Last signed in", f"{user.last_seen:%d %b %Y %H:%M} UTC" if user.last_seen else ""),
        ],
    )
    st.button("Sign out", key="account_sign_out", on_click=_common.sign_out)
    st.subheader("Change your password")
    with st.form("password_form", clear_on_submit=True):
        current = st.text_input("Current password", type="password", key="password_current")
        new = st.text_input("New password", type="password", key="password_new")
        confirm = st.text_input("New password again", type="password", key="password_confirm")
        submitted = st.form_submit_button("Change the password", key="password_submit")
    if submitted:
        if new != confirm:
            st.error("The two new passwords differ; type the same password twice.")
        else:
            try:
                auth.change_password(store, who, current, new)
            except RegisterError as exc:
                _common.say("error", f"Not changed: {exc}")
            else:
                st.success("Password changed.")


if store.needs_first_administrator():
    _set_up()
elif who.role == "public":
    _sign_in()
else:
    _account()
