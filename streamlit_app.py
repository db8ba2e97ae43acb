"""Entry point: page config, the acting user, shared sidebar, then the pages.

Every module under ``app_pages/`` whose name does not start with an underscore is a
page, registered for every visitor; a page the visitor may not use says so itself.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import _common

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"
# A local file: a Material icon here would make the browser fetch it from a font CDN.
FAVICON = Path(__file__).resolve().parent / "static" / "favicon.png"

# Title, icon and order of the known pages; any other page module is still registered.
PAGE_INFO: dict[str, tuple[str, str]] = {
    "area_map": ("Map", ":material/map:"),
    "find_nearby": ("Find nearby", ":material/near_me:"),
    "coverage": ("Coverage", ":material/analytics:"),
    "add_asset": ("Add an asset", ":material/add_location_alt:"),
    "upload": ("Upload a spreadsheet", ":material/upload_file:"),
    "manage": ("Manage records", ":material/table_view:"),
    "review": ("Review", ":material/fact_check:"),
    "boundaries": ("Boundaries", ":material/layers:"),
    "users": ("Users and organisations", ":material/group:"),
    "account": ("Sign in", ":material/login:"),
}


def page_modules() -> list[str]:
    """Names of the page modules, known ones first in their set order."""
    found = sorted(p.stem for p in PAGES_DIR.glob("*.py") if not p.stem.startswith("_"))
    order = {name: i for i, name in enumerate(PAGE_INFO)}
    return sorted(found, key=lambda name: (order.get(name, len(order)), name))


def build_pages() -> list[st.Page]:
    pages = []
    for name in page_modules():
        title, icon = PAGE_INFO.get(name, (name.replace("_", " ").capitalize(), ":material/article:"))
        pages.append(
            st.Page(PAGES_DIR / f"{name}.py", title=title, icon=icon, url_path=name, default=name == "area_map")
        )
    return pages


st.set_page_config(page_title="Community asset map", page_icon=str(FAVICON), layout="wide")
navigation = st.navigation(build_pages())
_common.sidebar()
# Sign-in hook: with the public view off, a visitor who is not signed in sees a prompt instead.
if _common.gate(navigation.url_path):
    navigation.run()
_common.footer()
