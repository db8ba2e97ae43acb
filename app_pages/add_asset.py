"""Add an asset: the grouped form, the postcode checked as it is entered, duplicates shown before saving."""

from __future__ import annotations

import streamlit as st

from app_pages import _asset_form, _common
from assets.errors import RegisterError
from assets.forms import check_asset, possible_duplicates, save_new

PREFIX = "add"

st.title("Add an asset")
st.write("A group, a venue or an activity. Start with where it meets: the ward and constituency appear "
         "as soon as you enter the postcode. Only a name, type, category and location are required.")


def submit() -> None:
    """Check everything; save when all is well (and any possible duplicate is confirmed)."""
    values, rows = _asset_form.form_values(PREFIX)
    check = check_asset(values, rows, gazetteer=_common.gazetteer(), geography=_common.geography())
    st.session_state[f"{PREFIX}_check"] = check
    st.session_state.pop(f"{PREFIX}_saved", None)
    if check.errors or check.asset is None:
        return
    who = _common.actor()
    duplicates = possible_duplicates(_common.store(), who, check.asset)
    confirmed = st.session_state.get(f"{PREFIX}_confirmed_duplicate")
    if duplicates and confirmed != duplicates[0].other_id:
        st.session_state[f"{PREFIX}_duplicate"] = duplicates[0]
        return
    try:
        saved = save_new(_common.store(), who, check.asset)
    except RegisterError as exc:
        st.session_state[f"{PREFIX}_save_error"] = str(exc)
        return
    st.session_state[f"{PREFIX}_saved"] = (saved.id, saved.name, saved.ward_name)
    st.session_state.pop(f"{PREFIX}_duplicate", None)
    st.session_state.pop(f"{PREFIX}_confirmed_duplicate", None)
    _asset_form.load_into_state(PREFIX, None)  # the form is ready for the next one


def confirm_duplicate() -> None:
    st.session_state[f"{PREFIX}_confirmed_duplicate"] = st.session_state[f"{PREFIX}_duplicate"].other_id
    submit()


if _common.require_role("add records", ("administrator", "coordinator")):
    saved = st.session_state.get(f"{PREFIX}_saved")
    if saved:
        asset_id, name, ward = saved
        _common.say("success", f"Saved '{name}'" + (f" in {ward} ward." if ward else "."))
        st.page_link("app_pages/manage.py", label="Open it in Manage records", query_params={"asset": asset_id})
    error = st.session_state.pop(f"{PREFIX}_save_error", None)
    if error:
        _common.say("error", error)

    _asset_form.location_preview(PREFIX)
    duplicate = st.session_state.get(f"{PREFIX}_duplicate")
    if duplicate is not None:
        _common.say(
            "warning",
            f"Possible duplicate: '{duplicate.other_name}' is {duplicate.distance_m:.0f} m away and "
            f"{duplicate.similarity:.0f}% similar in name. Check it before saving.",
        )
        st.page_link("app_pages/manage.py", label="Open the existing record", query_params={"asset": duplicate.other_id})
        st.button("It is a different one: save anyway", on_click=confirm_duplicate, key=f"{PREFIX}_save_anyway")
    check = st.session_state.get(f"{PREFIX}_check")
    if check is not None and check.errors:
        _common.say("error", f"Nothing saved: {len(check.errors)} problem(s) to fix, shown next to each field.")
    _asset_form.render_form(PREFIX, submit_label="Check and save", on_submit=submit)
