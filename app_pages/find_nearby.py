"""Find nearby: community options near a person's home that fit them, on a map, as a list and as a sheet to leave with them."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_pages import _common
from assets.model import DAY_NAMES, DAYS
from assets.nearby_service import build_index, search_nearby
from assets.permissions import allows
from assets.taxonomy import ACCESSIBILITY, CATEGORIES, FOR_WHOM, KINDS
from geo.errors import GeoError
from geo.maps import build_assets_map
from geo.nearby import NearbyQuery
from geo.options_sheet import options_sheet_html, options_sheet_pdf
from settings import CODEPOINT_ATTRIBUTION, CODEPOINT_ATTRIBUTION_SHORT, get_settings

RADII = {400: "400 m (about 5 minutes' walk)", 800: "800 m (about 10 minutes)", 1609: "1 mile (about 25 minutes)",
         3219: "2 miles", 5000: "5 km"}
TIMES = {None: "any time", "morning": "morning (before 12)", "afternoon": "afternoon (12–5pm)", "evening": "evening (from 5pm)"}

settings = get_settings()
geography = _common.geography()
st.title("Find community options nearby")
st.caption("The postcode you type is used for this search only: it is never stored or logged.")


@st.cache_resource(show_spinner=False, max_entries=8)
def _index(url: str, data_version: int, role: str, organisation_id: str, _actor):
    # Keyed on who is asking: practitioners see organisers' contacts, the public does not.
    return build_index(_common.store(), _actor)


def index():
    who = _common.actor()
    return _index(settings.database_url, _common.store().data_version(), who.role, who.organisation_id, who)


with st.form("nearby_form", border=True):
    cols = st.columns([3, 2])
    text = cols[0].text_input("Postcode, sector or outward code", key="nearby_query", placeholder="e.g. B13 9AA, B13 9 or B13",
                              help="A full postcode, or only its first part for a wider search.")
    radius = cols[1].selectbox("Within", list(RADII), index=2, format_func=RADII.get, key="nearby_radius")
    cols = st.columns(3)
    categories = cols[0].multiselect("What", list(CATEGORIES), format_func=CATEGORIES.get, key="nearby_categories")
    day = cols[1].selectbox("Day", [None, *DAYS], format_func=lambda d: "any day" if d is None else DAY_NAMES[d], key="nearby_day")
    time = cols[2].selectbox("Time of day", list(TIMES), format_func=TIMES.get, key="nearby_time")
    cols = st.columns(3)
    free_only = cols[0].checkbox("Free only", key="nearby_free")
    step_free = cols[1].checkbox("Step-free access", key="nearby_step_free")
    for_whom = cols[2].multiselect("Who it is for", list(FOR_WHOM), format_func=FOR_WHOM.get, key="nearby_for_whom")
    submitted = st.form_submit_button("Search", type="primary", key="nearby_submit")

if submitted:
    st.session_state["nearby_point"] = None
    st.session_state["nearby_run"] = True
point = st.session_state.get("nearby_point")

result = None
if st.session_state.get("nearby_run") and (text.strip() or point):
    query = NearbyQuery(radius_m=float(radius), categories=tuple(categories), day=day, time=time,
                        free_only=free_only, step_free=step_free, for_whom=tuple(for_whom))
    signature = (text.strip().upper(), point, query)
    try:
        result = search_nearby(
            _common.store(), _common.actor(), _common.gazetteer(), geography, query,
            text=None if point else text, point=point, index=index(),
            # A search counts once as unmet demand, however often the page reruns.
            record_unmet=st.session_state.get("nearby_last") != signature and allows(_common.actor(), "record_demand"),
        )
        st.session_state["nearby_last"] = signature
    except GeoError as exc:
        _common.say("error", str(exc))

if result is not None:
    st.subheader(_common.escape_markdown(f"{result.found} options {result.description}"))
    if not result.found:
        st.info("Nothing found. Try a wider radius or fewer filters. (This search is counted, anonymously, to show where more is needed.)")
frame = result.frame if result is not None else pd.DataFrame(columns=["asset_id", "name", "lat", "lon"])

map_col, list_col = st.columns([3, 2])
with map_col:
    st.caption("Or click the map to search around that point.")
    if _common.map_scripts_ready():
        fmap = build_assets_map(
            frame, layers=_common.map_layers(geography), tiles=settings.tiles,
            center=(result.centre_lat, result.centre_lon) if result is not None else None,
            radius_circle=float(radius) if result is not None else None,
            attribution=CODEPOINT_ATTRIBUTION_SHORT, category_labels=CATEGORIES,
            access_labels=ACCESSIBILITY, kind_labels=KINDS,
        )
        state = st_folium(fmap, key="nearby_map", height=560, returned_objects=["last_clicked"])
        clicked = (state or {}).get("last_clicked")
        if clicked and (clicked["lat"], clicked["lng"]) != st.session_state.get("nearby_clicked"):
            st.session_state["nearby_clicked"] = (clicked["lat"], clicked["lng"])
            st.session_state["nearby_point"] = (clicked["lat"], clicked["lng"])
            st.session_state["nearby_run"] = True
            st.rerun()
with list_col:
    if result is not None and result.found:
        listing = pd.DataFrame(
            {
                "Name": frame["name"],
                "Distance (m)": frame["distance_m"],
                "Walk (min)": frame["walk_minutes"],
                "Next dates": [", ".join(f"{d:%a %d %b}" for d in dates) for dates in frame["next_dates"]],
                "When": frame["sessions_text"],
                "Cost": frame["cost_text"],
                "Needs re-checking": frame["stale"],
            }
        )
        st.dataframe(listing, hide_index=True, width="stretch", height=560, key="nearby_list")

if result is not None and result.found:
    sheet_args = dict(title="Community options near you", centre_label=result.centre_label, radius_m=float(radius),
                      today=date.today(), attribution=CODEPOINT_ATTRIBUTION, category_labels=CATEGORIES,
                      kind_labels=KINDS, access_labels=ACCESSIBILITY, for_whom_labels=FOR_WHOM)
    st.subheader("A sheet to leave with the person")
    st.caption("Large plain type, with the next three dates of each option. Open the HTML file and print it, or save the PDF.")
    cols = st.columns(2)
    cols[0].download_button("Download the sheet (HTML, printable)", options_sheet_html(frame, **sheet_args),
                            file_name="community_options.html", mime="text/html", key="nearby_sheet_html")
    cols[1].download_button("Download the sheet (PDF)", options_sheet_pdf(frame, **sheet_args),
                            file_name="community_options.pdf", mime="application/pdf", key="nearby_sheet_pdf")
    if "organiser_name" in frame.columns and frame["organiser_name"].astype(str).str.len().any():
        with st.expander("Organisers' contacts (for practitioners; not on the sheet)"):
            st.dataframe(frame[["name", "organiser_name", "organiser_phone", "organiser_email"]], hide_index=True)
