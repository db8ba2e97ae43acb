"""Users and organisations (administrators): accounts, roles, organisations and the public view switch."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common
from assets import auth
from assets.errors import RegisterError

ROLE_CHOICES = ("coordinator", "practitioner", "commissioner", "administrator")
ROLE_HELP = {
    "administrator": "everything; manages users and organisations",
    "coordinator": "adds, edits, publishes and archives their organisation's records",
    "practitioner": "reads published records with organisers' contacts; Find nearby",
    "commissioner": "reads published records' public fields, coverage and exports",
}

st.title("Users and organisations")

if _common.require_role("manage users and organisations", ("administrator",)):
    who = _common.actor()
    store = _common.store()
    flash = st.session_state.pop("users_flash", None)
    if flash:
        _common.say("success", flash)

    def _done(message: str) -> None:
        st.session_state["users_flash"] = message
        st.rerun()

    organisations = store.list_organisations(who)
    org_names = {o.id: o.name for o in organisations}
    org_choices = [None, *org_names]

    def _switch_public_view() -> None:
        # A callback, so only a click on the switch writes (not a stale toggle state on a rerun).
        wanted = bool(st.session_state["users_public_view"])
        store.set_app_setting(who, "public_view", wanted)
        st.session_state["users_flash"] = "The public view is now " + ("on." if wanted else "off: visitors must sign in.")

    st.subheader("Public view")
    st.session_state["users_public_view"] = store.public_view()
    st.toggle(
        "Anyone may see the published register without signing in (map, list, Find nearby, coverage)",
        key="users_public_view",
        on_change=_switch_public_view,
        help="Turned off, every page asks visitors to sign in. Organisers' contacts are never public.",
    )

    st.subheader("Users")
    users = store.list_users(who)
    st.dataframe(
        pd.DataFrame(
            {
                "Email": [u.email for u in users],
                "Name": [u.name for u in users],
                "Role": [u.role for u in users],
                "Organisation": [org_names.get(u.organisation_id, "") for u in users],
                "Disabled": [u.disabled for u in users],
                "Password set": [bool(u.password_hash) for u in users],
                "Locked until": [u.locked_until for u in users],
                "Last signed in": [u.last_seen for u in users],
            }
        ),
        hide_index=True,
        width="stretch",
        key="users_table",
    )

    with st.expander("Add a user", expanded=not users):
        with st.form("users_add_form", clear_on_submit=False):
            email = st.text_input("Email", key="users_add_email")
            name = st.text_input("Name", key="users_add_name")
            role = st.selectbox(
                "Role", ROLE_CHOICES, key="users_add_role", format_func=lambda r: f"{r}: {ROLE_HELP[r]}"
            )
            organisation = st.selectbox(
                "Organisation (a coordinator needs one)",
                org_choices,
                format_func=lambda o: "(none)" if o is None else org_names[o],
                key="users_add_org",
            )
            password = st.text_input(
                "First password (optional: without one the user signs in with single sign-on only)",
                type="password",
                key="users_add_password",
            )
            submitted = st.form_submit_button("Add the user", key="users_add_submit")
        if submitted:
            try:
                password_hash = auth.hash_password(password, email) if password else None
                added = store.add_user(who, email, name, role, organisation, password_hash=password_hash)
            except RegisterError as exc:
                _common.say("error", f"Not added: {exc}")
            else:
                _done(f"Added {added.email} as {added.role}.")

    if users:
        with st.expander("Change a user", expanded=False):
            emails = [u.email for u in users]
            picked = st.selectbox("User", emails, key="users_pick")
            user = next(u for u in users if u.email == picked)
            with st.form("users_edit_form"):
                new_role = st.selectbox("Role", ROLE_CHOICES, index=ROLE_CHOICES.index(user.role)
                                        if user.role in ROLE_CHOICES else 0, key=f"users_edit_role_{user.id}")
                new_org = st.selectbox(
                    "Organisation",
                    org_choices,
                    index=org_choices.index(user.organisation_id) if user.organisation_id in org_choices else 0,
                    format_func=lambda o: "(none)" if o is None else org_names[o],
                    key=f"users_edit_org_{user.id}",
                )
                disabled = st.checkbox("Disabled (cannot sign in)", value=user.disabled,
                                       key=f"users_edit_disabled_{user.id}")
                saved = st.form_submit_button("Save", key="users_edit_submit")
            if saved:
                try:
                    store.update_user(who, user.email, role=new_role, organisation_id=new_org or "",
                                      disabled=disabled)
                except RegisterError as exc:
                    _common.say("error", f"Not changed: {exc}")
                else:
                    _done(f"Saved {user.email}.")
            with st.form("users_password_form", clear_on_submit=True):
                new_password = st.text_input("Set a new password", type="password", key="users_reset_password")
                reset = st.form_submit_button("Set the password", key="users_reset_submit")
            if reset:
                try:
                    auth.set_password(store, who, user.email, new_password)
                except RegisterError as exc:
                    _common.say("error", f"Not set: {exc}")
                else:
                    _done(f"New password set for {user.email}; tell them through a safe channel.")

    st.subheader("Organisations")
    st.dataframe(
        pd.DataFrame(
            {
                "Name": [o.name for o in organisations],
                "Charity or company number": [o.identifier for o in organisations],
                "About": [o.description for o in organisations],
            }
        ),
        hide_index=True,
        width="stretch",
        key="orgs_table",
    )
    with st.form("orgs_add_form"):
        org_name = st.text_input("Name", key="orgs_add_name")
        identifier = st.text_input("Charity or company number (optional)", key="orgs_add_identifier")
        description = st.text_input("About (optional)", key="orgs_add_description")
        added_org = st.form_submit_button("Add the organisation", key="orgs_add_submit")
    if added_org:
        try:
            made = store.add_organisation(who, org_name, description=description, identifier=identifier)
        except RegisterError as exc:
            _common.say("error", f"Not added: {exc}")
        else:
            _done(f"Added the organisation {made.name}.")
