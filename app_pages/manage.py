"""Manage records: the organisation's register as a filterable table; open one to edit, see its history, archive or restore."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import streamlit as st

from app_pages import _asset_form, _common
from assets import oruk
from assets.errors import RegisterError, StaleVersion
from assets.exports import write_csv
from assets.forms import check_asset, save_edit
from assets.model import STATUSES
from assets.taxonomy import CATEGORIES, KINDS, labels
from geo.nearby import filter_assets

PREFIX = "edit"


@st.cache_data(show_spinner=False, max_entries=8)
def oruk_feed(version: int, role: str, organisation_id: str) -> bytes:
    """The published register as an Open Referral UK feed (public fields only), keyed by who asks."""
    store = _common.store()
    assets = store.list_assets(_common.actor(), statuses=("published",))
    return oruk.feed_json(oruk.export_services(assets, store.list_organisations(_common.actor())))

ALL_STATUSES = tuple(STATUSES)

st.title("Manage records")

if _common.require_role("manage records", ("administrator", "coordinator")):
    who = _common.actor()
    store = _common.store()
    frame = _common.assets_frame(ALL_STATUSES)
    if who.role == "coordinator":
        frame = frame[frame["organisation_id"] == who.organisation_id]

    with st.expander("Filters", expanded=True):
        cols = st.columns([3, 2, 2, 3, 2, 2])
        text = cols[0].text_input("Search", key="manage_search", help="Part of a name, postcode or description")
        cats = cols[1].multiselect("Category", list(CATEGORIES), format_func=CATEGORIES.get, key="manage_categories")
        kinds = cols[2].multiselect("Kind", list(KINDS), format_func=KINDS.get, key="manage_kinds")
        statuses = cols[3].multiselect("Status", ALL_STATUSES, default=["draft", "published"], key="manage_statuses")
        ward_names = dict(zip(frame["ward_code"], frame["ward_name"], strict=False))
        wards = cols[4].multiselect("Ward", sorted(c for c in ward_names if c), format_func=ward_names.get, key="manage_wards")
        months = cols[5].selectbox("Verified within", [None, 3, 6, 12, 24], key="manage_verified",
                                   format_func=lambda m: "any time" if m is None else f"{m} months")
    shown = filter_assets(frame, categories=tuple(cats), kinds=tuple(kinds), verified_within_months=months,
                          wards=tuple(wards), today=date.today())
    if statuses:
        shown = shown[shown["status"].isin(statuses)]
    if text.strip():
        needle = text.strip().casefold()
        haystack = (shown["name"] + " " + shown["postcode"] + " " + shown["description"]).str.casefold()
        shown = shown[haystack.str.contains(needle, regex=False)]

    st.caption(f"{len(shown)} of {len(frame)} records. Click a row to open it.")
    table = pd.DataFrame(
        {
            "Name": shown["name"],
            "Kind": shown["kind"].map(KINDS),
            "Categories": [labels(c, CATEGORIES) for c in shown["categories"]],
            "Status": shown["status"],
            "Ward": shown["ward_name"],
            "Postcode": shown["postcode"],
            "Last verified": shown["last_verified"],
            "Needs re-checking": shown["stale"],
        }
    )
    picked = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                          key="manage_table")
    if picked is not None and picked.selection.rows:
        st.query_params["asset"] = shown["asset_id"].iloc[picked.selection.rows[0]]
    st.download_button("Download the published register (Open Referral UK JSON)", oruk_feed(store.data_version(), who.role, who.organisation_id),
                       file_name="open_referral_uk_services.json", mime="application/json", key="manage_oruk",
                       help="Every published record as an Open Referral UK (HSDS 3.0 UK profile) service list.")

    asset_id = st.query_params.get("asset")
    if asset_id:
        try:
            record = store.get_asset(who, asset_id)
        except RegisterError as exc:
            _common.say("error", str(exc))
            st.stop()
        if st.session_state.get(f"{PREFIX}_id") != (record.id, record.version) and not st.session_state.get(f"{PREFIX}_stale"):
            _asset_form.load_into_state(PREFIX, record)
            st.session_state[f"{PREFIX}_id"] = (record.id, record.version)
            st.session_state[f"{PREFIX}_original"] = record

        st.divider()
        st.header(_common.escape_markdown(record.name))
        st.caption(f"Status: {record.status} · version {record.version} · last verified {record.last_verified or 'never'}")

        def save() -> None:
            original = st.session_state[f"{PREFIX}_original"]
            values, rows = _asset_form.form_values(PREFIX)
            check = check_asset(values, rows, gazetteer=_common.gazetteer(), geography=_common.geography())
            st.session_state[f"{PREFIX}_check"] = check
            if check.asset is None or check.errors:
                return
            try:
                saved = save_edit(_common.store(), _common.actor(), original, check.asset)
            except StaleVersion as exc:
                st.session_state[f"{PREFIX}_stale"] = str(exc)
                return
            except RegisterError as exc:
                st.session_state[f"{PREFIX}_error"] = str(exc)
                return
            st.session_state[f"{PREFIX}_saved"] = saved.version
            st.session_state[f"{PREFIX}_id"] = (saved.id, saved.version)
            st.session_state[f"{PREFIX}_original"] = saved

        def reload() -> None:
            st.session_state.pop(f"{PREFIX}_stale", None)
            st.session_state.pop(f"{PREFIX}_id", None)

        stale = st.session_state.get(f"{PREFIX}_stale")
        if stale:
            _common.say("error", f"Not saved: {stale}")
            st.button("Reload the record", on_click=reload, key=f"{PREFIX}_reload")
        if st.session_state.pop(f"{PREFIX}_saved", None):
            st.success("Saved.")
        error = st.session_state.pop(f"{PREFIX}_error", None)
        if error:
            _common.say("error", error)

        edit_tab, history_tab, status_tab = st.tabs(["Edit", "History", "Archive or restore"])
        with edit_tab:
            _asset_form.location_preview(PREFIX)
            _asset_form.render_form(PREFIX, submit_label="Save changes", on_submit=save)
        with history_tab:
            entries = store.history(who, record.id)
            history = pd.DataFrame(entries)
            if len(history):
                st.dataframe(history.rename(columns=str.capitalize).astype(str), hide_index=True, width="stretch",
                             key="manage_history")
                buffer = io.StringIO()
                write_csv(entries, buffer)
                st.download_button("Download the history (CSV)", buffer.getvalue().encode("utf-8-sig"),
                                   file_name=f"history_{record.id}.csv", mime="text/csv", key="manage_history_csv")
        with status_tab:
            try:
                if record.status == "archived":
                    if st.button("Restore this record", key="manage_restore"):
                        store.restore_asset(who, record.id, record.version)
                        st.rerun()
                elif st.button("Archive this record", key="manage_archive",
                               help="Archived records leave the map and searches but are kept with their history."):
                    store.archive_asset(who, record.id, record.version)
                    st.rerun()
            except RegisterError as exc:
                _common.say("error", str(exc))
