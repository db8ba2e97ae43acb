"""Map page: the area's wards and constituencies, and the published assets, with filters and a list."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_pages import _common
from assets.errors import RegisterError
from assets.taxonomy import ACCESSIBILITY, CATEGORIES, KINDS, labels
from geo.maps import assets_at, build_assets_map
from geo.nearby import filter_assets
from settings import CODEPOINT_ATTRIBUTION_SHORT, get_settings

REPORT_REASONS = {"no_longer_running": "No longer running", "details_wrong": "Details wrong",
                  "wrong_place": "Wrong place", "other": "Other"}

settings = get_settings()
geography = _common.geography()
st.title(f"Community assets in {geography.area_name}")
if geography.wards_approximate:
    st.warning(
        "Ward boundaries are approximate: no official ward file is loaded, so wards are derived "
        "from postcode points. An administrator can load the official file on the Boundaries page."
    )

frame = _common.assets_frame()
wards = geography.wards.sort_values("name")
ward_names = dict(zip(wards["code"], wards["name"], strict=True))

with st.expander("Filters", expanded=False):
    cols = st.columns(5)
    chosen_categories = cols[0].multiselect(
        "Category", list(CATEGORIES), format_func=CATEGORIES.get, key="map_categories"
    )
    chosen_kinds = cols[1].multiselect("Kind", list(KINDS), format_func=KINDS.get, key="map_kinds")
    months = cols[2].selectbox(
        "Verified within",
        [None, 3, 6, 12, 24],
        format_func=lambda m: "any time" if m is None else f"{m} months",
        key="map_verified",
    )
    organisations = sorted(o for o in frame.get("organisation", pd.Series(dtype=str)).dropna().unique() if o)
    chosen_orgs = cols[3].multiselect("Organisation", organisations, key="map_orgs")
    chosen_wards = cols[4].multiselect("Ward", list(ward_names), format_func=ward_names.get, key="map_wards")

shown = filter_assets(
    frame,
    categories=tuple(chosen_categories),
    kinds=tuple(chosen_kinds),
    verified_within_months=months,
    organisations=tuple(chosen_orgs),
    wards=tuple(chosen_wards),
    today=date.today(),
)
st.caption(f"{len(shown)} of {len(frame)} published assets shown. Gazetteer: {geography.gazetteer_version}.")
if not len(frame):
    st.info("No published records yet. Coordinators can add one, or upload the spreadsheet they already keep.")
    cols = st.columns(4)
    cols[0].page_link("app_pages/add_asset.py", label="Add an asset")
    cols[1].page_link("app_pages/upload.py", label="Upload a spreadsheet")

map_col, list_col = st.columns([3, 2])
with map_col:
    if _common.map_scripts_ready():
        fmap = build_assets_map(
            shown,
            layers=_common.map_layers(geography),
            tiles=settings.tiles,
            attribution=CODEPOINT_ATTRIBUTION_SHORT,
            category_labels=CATEGORIES,
            access_labels=ACCESSIBILITY,
            kind_labels=KINDS,
        )
        state = st_folium(
            fmap, key="area_map", height=620, use_container_width=True, returned_objects=["last_object_clicked"]
        )
        clicked = (state or {}).get("last_object_clicked")
        if clicked and len(shown):
            found = assets_at(shown, clicked["lat"], clicked["lng"])
            if found:
                st.session_state["map_selected"] = found

with list_col:
    st.subheader("List")
    table = pd.DataFrame(
        {
            "Name": shown["name"],
            "Kind": shown["kind"].map(KINDS),
            "Categories": [labels(c, CATEGORIES) for c in shown["categories"]],
            "Ward": shown["ward_name"],
            "Last verified": shown["last_verified"],
            "Needs re-checking": shown["stale"],
        }
    )
    picked = st.dataframe(
        table, hide_index=True, width="stretch", height=420, on_select="rerun", selection_mode="single-row",
        key="map_list",
    )
    rows = picked.selection.rows if picked is not None else []
    if rows:
        st.session_state["map_selected"] = [shown["asset_id"].iloc[rows[0]]]

selected = [a for a in st.session_state.get("map_selected", []) if a in set(shown["asset_id"])]
for asset_id in selected[:5]:
    row = shown[shown["asset_id"] == asset_id].iloc[0]
    with st.container(border=True):
        st.subheader(_common.escape_markdown(row["name"]))
        _common.show_record(
            row,
            fields=[
                ("Kind", KINDS.get(row["kind"], row["kind"])),
                ("Categories", labels(row["categories"], CATEGORIES)),
                ("About", row.get("description", "")),
                ("When", row.get("sessions_text", "")),
                ("Cost", row.get("cost_text", "")),
                ("Access", labels(row.get("accessibility", ()), ACCESSIBILITY)),
                ("Where", ", ".join(p for p in (row.get("address", ""), row.get("town", ""), row.get("postcode", "")) if p)),
                ("Ward", row.get("ward_name", "")),
                ("Phone", row.get("public_phone", "")),
                ("Email", row.get("public_email", "")),
                ("Website", row.get("website", "")),
                ("Last verified", str(row.get("last_verified") or "never")),
            ],
        )
        if row.get("private_address"):
            st.caption("Meets at a private address: shown at postcode-sector level. Contact the organiser.")
        if row.get("stale"):
            st.warning("Not verified for over a year: check it is still running.")
        if _common.actor().role != "public":
            with st.popover("Report a problem"):
                with st.form(f"report_{asset_id}", border=False):
                    reason = st.selectbox("What is wrong", list(REPORT_REASONS), format_func=REPORT_REASONS.get,
                                          key=f"report_reason_{asset_id}")
                    note = st.text_area("Details", key=f"report_note_{asset_id}")
                    if st.form_submit_button("Send to the organisation that keeps this record"):
                        try:
                            _common.store().report_problem(_common.actor(), asset_id, reason, note.strip())
                        except RegisterError as exc:
                            _common.say("error", str(exc))
                        else:
                            st.success("Thank you: the report is on their review page.")
