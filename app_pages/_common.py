"""What every page shares: the store, the acting user, the gazetteer, the area, the frame.

Not a page (the name starts with an underscore). Pages stay thin: they read widgets,
call one register or geography function through here, and render the result.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from assets.geography import AreaGeography, area_geography
from assets.model import SYSTEM_ACTOR, Actor
from assets.store import Store, open_store
from geo.errors import MapScriptsMissing
from geo.escaping import escape_markdown
from geo.gazetteer import Gazetteer, load_gazetteer
from geo.mapscripts import require_vendored
from settings import CODEPOINT_ATTRIBUTION, get_settings

INDEX_SPINNER = (
    "Building the postcode index from Code-Point Open (1.7 million GB postcodes). "
    "This happens once, on first use, and takes about ten seconds…"
)


@st.cache_resource(show_spinner=False)
def _open_store(url: str) -> Store:
    return open_store(url)


def store() -> Store:
    """The register's store for the configured DATABASE_URL."""
    return _open_store(get_settings().database_url)


@st.cache_resource(show_spinner=False)
def _load_gazetteer(zip_path: str) -> Gazetteer:
    return load_gazetteer(zip_path)


def gazetteer() -> Gazetteer:
    """The postcode gazetteer, built on first use behind an explaining spinner."""
    with st.spinner(INDEX_SPINNER):
        return _load_gazetteer(str(get_settings().codepoint_zip))


def actor() -> Actor:
    """The acting user: the signed-in user, else the configured local user."""
    signed_in = st.session_state.get("actor")
    if signed_in is not None:
        return signed_in
    return store().local_actor()


@st.cache_resource(show_spinner=False, max_entries=8)
def _area_geography(url: str, area_code: str, data_version: int, _gazetteer: Gazetteer) -> AreaGeography:
    # Boundaries are public, so one shared copy per data version is right for everyone.
    current = _open_store(url)
    return area_geography(current, SYSTEM_ACTOR, area_code, _gazetteer)


def geography() -> AreaGeography:
    """The configured area's wards (official or approximate) and other layers."""
    settings = get_settings()
    gaz = gazetteer()
    with st.spinner("Preparing the area's ward boundaries…"):
        return _area_geography(settings.database_url, settings.area_code, store().data_version(), gaz)


def map_scripts_ready() -> bool:
    """Say which command installs the map scripts when they are missing."""
    try:
        require_vendored()
    except MapScriptsMissing as exc:
        st.error(f"The map cannot be drawn: {exc}.")
        return False
    return True


def sidebar() -> None:
    settings = get_settings()
    with st.sidebar:
        st.caption(f"Area: {settings.area_code}")
        who = actor()
        st.caption(f"Acting as: {who.name or who.email} ({who.role})")


def footer() -> None:
    lines = [f"Postcodes: OS Code-Point Open. {CODEPOINT_ATTRIBUTION}."]
    try:
        lines.extend(geography().sources())
    except ValueError as exc:  # domain errors (geo/assets) are ValueError subclasses
        lines.append(f"Boundaries unavailable: {exc}")
    st.divider()
    for line in lines:
        st.caption(escape_markdown(line))


def say(kind: str, text: object) -> None:
    """Show a message that may contain user text (a value, a file or field name) literally."""
    getattr(st, kind)(escape_markdown(text))


@st.cache_data(show_spinner=False, max_entries=32)
def _assets_frame(url: str, data_version: int, _actor: Actor, role: str, organisation_id: str, statuses: tuple):
    # Keyed on role and organisation as well as the data version: what a user may see
    # depends on who they are (see STYLE.md on caching).
    return _open_store(url).assets_frame(_actor, statuses=statuses)


def assets_frame(statuses: tuple[str, ...] = ("published",)):
    """The asset frame of the records the acting user may see, cached per data version and role."""
    who = actor()
    current = store()
    return _assets_frame(
        get_settings().database_url, current.data_version(), who, who.role, who.organisation_id, statuses
    )


def show_record(row, *, fields: list[tuple[str, str]]) -> None:
    """Labelled fields of one record, every value shown literally."""
    for label, value in fields:
        if value is None or value == "" or value == ():
            continue
        st.markdown(f"**{label}:** {escape_markdown(value)}")


def require_role(what: str, roles: tuple[str, ...]) -> bool:
    """Whether the acting user's role may do ``what`` here; says so (and offers sign-in) when not.

    Pages use this to explain; the store enforces the same rule whatever the page shows.
    """
    who = actor()
    if who.role in roles:
        return True
    st.info(f"You need to be signed in as {' or '.join(roles)} to {what}.")
    if "account" in {p.stem for p in (Path(__file__).parent).glob("*.py")}:
        st.page_link("app_pages/account.py", label="Sign in")
    return False


def map_layers(geo: AreaGeography) -> dict:
    """The boundary layers a map of the area draws: its wards, and its constituencies when loaded."""
    layers = {"ward": geo.ward_layer}
    if len(geo.constituencies):
        layers["constituency"] = geo.constituencies
    return layers
