"""The asset form shared by the Add page and the Manage page's editor.

Widgets are keyed with a prefix ("add", "edit") so both can live in one session. The
postcode sits outside the form so it is checked as soon as it is entered.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_pages import _common
from assets.forms import FormCheck, check_asset
from assets.model import DAY_NAMES, DAYS, FREQUENCIES, Asset
from assets.taxonomy import ACCESSIBILITY, CATEGORIES, COSTS, FOR_WHOM, KINDS
from geo.maps import build_assets_map

SESSION_COLUMNS = ["day", "start", "end", "frequency", "week_of_month"]
TEXT_FIELDS = (
    "name",
    "description",
    "run_by",
    "run_by_number",
    "address",
    "town",
    "schedule_notes",
    "cost_note",
    "communities",
    "public_phone",
    "public_email",
    "website",
    "organiser_name",
    "organiser_phone",
    "organiser_email",
)


def initial_values(asset: Asset | None) -> dict:
    """Widget values for a new form (None) or for editing a record."""
    if asset is None:
        return {"kind": "group", "categories": [], "accessibility": [], "for_whom": [], "cost": "", "status": "published",
                "private_address": False, "by_arrangement": False, "last_verified": date.today(), "postcode": "",
                "latitude": "", "longitude": "", **dict.fromkeys(TEXT_FIELDS, "")}
    values = {name: getattr(asset, name) for name in TEXT_FIELDS}
    located_by_coordinates = asset.location_precision == "coordinates"
    values.update(
        kind=asset.kind,
        categories=list(asset.categories),
        accessibility=list(asset.accessibility),
        for_whom=list(asset.for_whom),
        cost=asset.cost,
        status=asset.status if asset.status != "archived" else "published",
        private_address=asset.private_address,
        by_arrangement=asset.by_arrangement,
        last_verified=asset.last_verified or date.today(),
        postcode=asset.postcode,
        latitude=f"{asset.lat:.6f}" if located_by_coordinates and asset.lat is not None else "",
        longitude=f"{asset.lon:.6f}" if located_by_coordinates and asset.lon is not None else "",
    )
    return values


def session_frame(asset: Asset | None) -> pd.DataFrame:
    rows = [
        {"day": s.day, "start": s.start, "end": s.end, "frequency": s.frequency,
         "week_of_month": str(s.nth) if s.nth else ""}
        for s in (asset.sessions if asset else ())
    ]
    return pd.DataFrame(rows, columns=SESSION_COLUMNS)


def load_into_state(prefix: str, asset: Asset | None) -> None:
    """Put a record's values (or blank ones) into the form's widgets."""
    for name, value in initial_values(asset).items():
        st.session_state[f"{prefix}_{name}"] = value
    st.session_state[f"{prefix}_sessions_df"] = session_frame(asset)
    st.session_state.pop(f"{prefix}_sessions", None)
    st.session_state.pop(f"{prefix}_check", None)


def _show_problems(check: FormCheck | None, *fields: str) -> None:
    if check is None:
        return
    for name in fields:
        for problem in check.problems_for(name):
            text = f"{problem.reason} — {problem.fix}" if problem.fix else problem.reason
            kind = st.error if problem.severity == "error" else st.warning
            kind(_common.escape_markdown((f"{problem.value!r}: " if problem.value else "") + text))


def form_values(prefix: str) -> tuple[dict, list[dict]]:
    """The form's current values, in the shape ``assets.forms.check_asset`` takes."""
    state = st.session_state
    values = {name: state.get(f"{prefix}_{name}", "") for name in TEXT_FIELDS}
    values.update(
        kind=state.get(f"{prefix}_kind", ""),
        categories=list(state.get(f"{prefix}_categories", [])),
        accessibility=list(state.get(f"{prefix}_accessibility", [])),
        for_whom=list(state.get(f"{prefix}_for_whom", [])),
        cost=state.get(f"{prefix}_cost", "") or "",
        status=state.get(f"{prefix}_status", "published"),
        private_address=bool(state.get(f"{prefix}_private_address", False)),
        by_arrangement=bool(state.get(f"{prefix}_by_arrangement", False)),
        last_verified=state.get(f"{prefix}_last_verified"),
        postcode=state.get(f"{prefix}_postcode", ""),
        latitude=state.get(f"{prefix}_latitude", ""),
        longitude=state.get(f"{prefix}_longitude", ""),
    )
    base = state.get(f"{prefix}_sessions_df", session_frame(None))
    edits = state.get(f"{prefix}_sessions")
    rows = _apply_editor_edits(base, edits)
    return values, rows


def _apply_editor_edits(base: pd.DataFrame, edits) -> list[dict]:
    rows = base.to_dict("records")
    if not edits:
        return rows
    for index, change in (edits.get("edited_rows") or {}).items():
        rows[int(index)].update(change)
    rows.extend(edits.get("added_rows") or [])
    deleted = set(edits.get("deleted_rows") or [])
    return [row for i, row in enumerate(rows) if i not in deleted]


def ensure_state(prefix: str) -> None:
    """Blank values for a form seen for the first time in this session."""
    if f"{prefix}_sessions_df" not in st.session_state:
        load_into_state(prefix, None)


def location_preview(prefix: str) -> FormCheck | None:
    """Check the postcode (or coordinates) as soon as it is entered; show ward, constituency and a map."""
    ensure_state(prefix)
    st.subheader("Where it meets")
    postcode = st.text_input(
        "Postcode",
        key=f"{prefix}_postcode",
        help="The postcode where it meets. We find the ward and constituency from it.",
    )
    with st.expander("No postcode? Give coordinates instead"):
        cols = st.columns(2)
        cols[0].text_input("Latitude", key=f"{prefix}_latitude", help="For example 52.4796")
        cols[1].text_input("Longitude", key=f"{prefix}_longitude", help="For example -1.9026")
    latitude, longitude = st.session_state.get(f"{prefix}_latitude", ""), st.session_state.get(f"{prefix}_longitude", "")
    if not (postcode.strip() or (latitude.strip() and longitude.strip())):
        return None
    location = {"name": "x", "kind": "group", "categories": ["social_friendship"], "postcode": postcode,
                "latitude": latitude, "longitude": longitude}
    check = check_asset(location, [], gazetteer=_common.gazetteer(), geography=_common.geography())
    problems = [p for p in check.problems if p.field in ("postcode", "latitude", "longitude", "easting")]
    if check.asset is not None:
        asset = check.asset
        where = f"Ward: {asset.ward_name or 'none (outside the area)'}"
        if asset.constituency_name:
            where += f" · Constituency: {asset.constituency_name}"
        st.success(_common.escape_markdown(f"{asset.postcode} — {where}"))
        if _common.map_scripts_ready():
            frame = pd.DataFrame([{"asset_id": "preview", "name": "Here", "lat": asset.lat, "lon": asset.lon}])
            fmap = build_assets_map(frame, layers={"ward": _common.geography().ward_layer}, tiles=_common.get_settings().tiles)
            st_folium(fmap, key=f"{prefix}_minimap", height=240, use_container_width=True, returned_objects=[])
    for problem in problems:
        (st.error if problem.severity == "error" else st.warning)(_common.escape_markdown(f"{problem.reason} — {problem.fix}"))
    return check


def render_form(prefix: str, *, submit_label: str, on_submit) -> None:
    """The grouped form. ``on_submit`` runs as the submit button's callback."""
    check: FormCheck | None = st.session_state.get(f"{prefix}_check")
    ensure_state(prefix)
    with st.form(f"{prefix}_form", clear_on_submit=False, border=True):
        st.subheader("What it is")
        st.text_input("Name", key=f"{prefix}_name", help="What people call it, e.g. 'Moseley Knit and Natter'.")
        _show_problems(check, "name")
        cols = st.columns(2)
        cols[0].selectbox("Type", list(KINDS), format_func=KINDS.get, key=f"{prefix}_kind",
                          help="A group of people, a venue (a place), or an activity that runs at a venue.")
        cols[1].multiselect("Categories", list(CATEGORIES), format_func=CATEGORIES.get, key=f"{prefix}_categories",
                            help="Choose at least one. The first one sets the colour on the map.")
        _show_problems(check, "kind", "categories")
        st.text_area("Description", key=f"{prefix}_description", help="A sentence or two a person would want to know.")
        cols = st.columns(2)
        cols[0].text_input("Run by", key=f"{prefix}_run_by", help="The organisation or person running it.")
        cols[1].text_input("Charity or company number", key=f"{prefix}_run_by_number", help="If it has one.")

        st.subheader("Address")
        st.text_area("Address", key=f"{prefix}_address", help="Building and street. The postcode is above the form.")
        st.text_input("Town or city", key=f"{prefix}_town")
        st.checkbox("Meets at a private address (someone's home)", key=f"{prefix}_private_address",
                    help="Then the map shows only the postcode sector, never the address.")
        _show_problems(check, "address", "postcode", "latitude", "longitude")

        st.subheader("When")
        st.caption("One row per regular session. Monthly sessions: give the week of the month (1–4, or -1 for last).")
        st.data_editor(
            st.session_state[f"{prefix}_sessions_df"],
            key=f"{prefix}_sessions",
            num_rows="dynamic",
            width="stretch",
            column_config={
                "day": st.column_config.SelectboxColumn("Day", options=list(DAYS), help=", ".join(f"{d} {n}" for d, n in DAY_NAMES.items())),
                "start": st.column_config.TextColumn("Start (HH:MM)"),
                "end": st.column_config.TextColumn("End (HH:MM)"),
                "frequency": st.column_config.SelectboxColumn("How often", options=list(FREQUENCIES)),
                "week_of_month": st.column_config.SelectboxColumn("Week of month", options=["", "1", "2", "3", "4", "-1"]),
            },
        )
        cols = st.columns(2)
        cols[0].checkbox("By arrangement", key=f"{prefix}_by_arrangement", help="No fixed times: people get in touch first.")
        cols[1].text_input("Notes on timing", key=f"{prefix}_schedule_notes", help="e.g. 'not in August'")
        _show_problems(check, "sessions", "schedule_notes")

        st.subheader("Cost and access")
        cols = st.columns(2)
        cols[0].selectbox("Cost", ["", *COSTS], format_func=lambda c: COSTS.get(c, "Not known"), key=f"{prefix}_cost")
        cols[1].text_input("Cost note", key=f"{prefix}_cost_note", help="e.g. '£2 for tea and cake'")
        st.multiselect("Accessibility", list(ACCESSIBILITY), format_func=ACCESSIBILITY.get, key=f"{prefix}_accessibility")
        _show_problems(check, "cost", "accessibility")

        st.subheader("Contacts")
        cols = st.columns(3)
        cols[0].text_input("Public phone", key=f"{prefix}_public_phone")
        cols[1].text_input("Public email", key=f"{prefix}_public_email")
        cols[2].text_input("Website", key=f"{prefix}_website")
        _show_problems(check, "public_phone", "public_email", "website")
        st.caption("Organiser's details are personal data: shown to practitioners and your organisation only, never public.")
        cols = st.columns(3)
        cols[0].text_input("Organiser name", key=f"{prefix}_organiser_name")
        cols[1].text_input("Organiser phone", key=f"{prefix}_organiser_phone")
        cols[2].text_input("Organiser email", key=f"{prefix}_organiser_email")
        _show_problems(check, "organiser_phone", "organiser_email")

        st.subheader("Who it is for")
        st.multiselect("Who it is for", list(FOR_WHOM), format_func=FOR_WHOM.get, key=f"{prefix}_for_whom")
        st.text_input("Communities", key=f"{prefix}_communities", help="e.g. 'Punjabi speakers', 'Deaf community'")
        _show_problems(check, "for_whom", "communities")

        cols = st.columns(2)
        cols[0].selectbox("Status", ["published", "draft"], key=f"{prefix}_status",
                          help="Drafts are visible only to your organisation.")
        cols[1].date_input("Last verified", key=f"{prefix}_last_verified", max_value=date.today(), format="DD/MM/YYYY")
        _show_problems(check, "status", "last_verified")
        st.form_submit_button(submit_label, type="primary", on_click=on_submit, key=f"{prefix}_submit")
