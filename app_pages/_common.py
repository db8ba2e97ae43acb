"""What every page shares: the store, the acting user, the gazetteer, the area, the frame.

Not a page (the name starts with an underscore). Pages stay thin: they read widgets,
call one register or geography function through here, and render the result.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from assets import auth, permissions
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
    opened = open_store(url)
    # Unattended deployments name their first administrator in the settings (once per process).
    auth.ensure_administrator_from_settings(opened)
    return opened


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


def sso_configured() -> bool:
    """Whether single sign-on is set up (an [auth] section in .streamlit/secrets.toml)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all (Streamlit's error is a subclass)
        return False


def _sso_identity() -> auth.SsoIdentity | None:
    if not sso_configured() or not st.user.get("is_logged_in"):
        return None
    return auth.SsoIdentity(email=str(st.user.get("email") or ""), email_verified=st.user.get("email_verified"))


def actor() -> Actor:
    """The acting user: the signed-in user (password or single sign-on), else the public.

    Read again on every call (see :func:`assets.auth.current_actor`): a disabled account or
    a changed role takes effect at the next click, and idle sessions end.
    """
    who = auth.current_actor(store(), st.session_state, sso=_sso_identity())
    if st.session_state.pop(auth.SSO_LOGOUT_KEY, False) and sso_configured():
        st.logout()  # the provider's cookie would sign the idle visitor straight back in
    return who


def sign_out() -> None:
    """End the visitor's session (and the single sign-on one, when there is one)."""
    auth.end_session(st.session_state)
    if _sso_identity() is not None:
        st.logout()


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
        if who.role == "public":
            st.caption("Not signed in.")
            st.page_link("app_pages/account.py", label="Sign in", icon=":material/login:")
        else:
            st.caption(escape_markdown(f"Signed in as {who.name or who.email} ({who.role})"))
            st.button("Sign out", key="sidebar_sign_out", on_click=sign_out)


def gate(url_path: str) -> bool:
    """Whether the visitor may open the page at ``url_path`` now; when not, says why instead.

    Every page shows the one-time set-up notice while no administrator exists. While the
    public view is off, a visitor who has not signed in sees only the Sign in page.
    """
    current = store()
    is_account = url_path == "account"
    notice = st.session_state.pop(auth.NOTICE_KEY, None)
    if notice:
        say("info", notice)
    if current.needs_first_administrator() and not is_account:
        st.warning("No administrator exists yet. Create the first one on the one-time set-up page.")
        st.page_link("app_pages/account.py", label="Set up the first administrator", icon=":material/key:")
    if is_account or actor().role != "public" or current.public_view():
        return True
    st.title("Sign in to see the register")
    st.info(permissions.PUBLIC_VIEW_OFF.capitalize() + ".")
    st.page_link("app_pages/account.py", label="Sign in", icon=":material/login:")
    return False


@st.cache_resource(show_spinner=False, max_entries=2)
def _housekeeping(url: str, day: str) -> int:
    # Once a day per process: personal data must not outlive its purpose even when
    # nobody remembers to run `python -m assets retention`.
    return _open_store(url).erase_expired_contacts(SYSTEM_ACTOR)


def footer() -> None:
    _housekeeping(get_settings().database_url, date.today().isoformat())
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

    Pages use this to explain and show a sign-in prompt instead of their content; the store
    enforces the same rule (:mod:`assets.permissions`) whatever the page shows.
    """
    who = actor()
    if who.role in roles or who.role == "administrator":
        return True
    needed = " or ".join(dict.fromkeys((*roles, "administrator")))
    if who.role == "public":
        st.info(f"Sign in as {needed} to {what}.")
        st.page_link("app_pages/account.py", label="Sign in", icon=":material/login:")
    else:
        st.warning(
            escape_markdown(
                f"You are signed in as {who.email} ({who.role}); to {what} you need to be {needed}. "
                "Ask an administrator if you need this, or sign in with another account."
            )
        )
        st.page_link("app_pages/account.py", label="Your account", icon=":material/person:")
    return False


def map_layers(geo: AreaGeography) -> dict:
    """The boundary layers a map of the area draws: its wards, and its constituencies when loaded."""
    layers = {"ward": geo.ward_layer}
    if len(geo.constituencies):
        layers["constituency"] = geo.constituencies
    return layers
