"""The map scripts (Leaflet, Leaflet.markercluster) served by the app itself, never from a CDN.

folium points every map at public CDNs (jsdelivr, code.jquery.com, cdnjs, bootstrapcdn):
offline, or on a council network that blocks them, the map never draws. The two libraries our
maps need are pinned in ``package.json`` and installed by ``npm ci``; :func:`vendor_scripts`
copies them to ``static/vendor`` (run by ``python -m geo vendor``), which Streamlit serves at
``/app/static/vendor/...``. :func:`configure_map` then points one map at them:

- ``"served"``: ``<script src="/app/static/vendor/...">`` links, for the app;
- ``"inline"``: the file contents inside the HTML, for a self-contained file that works
  offline when saved or e-mailed (``st_folium`` cannot run inline scripts: use "served" there).

jQuery, Bootstrap, awesome-markers and Font Awesome are dropped: our maps use circle markers,
GeoJSON and Leaflet's own controls, none of which need them. (folium's ``Popup`` does use
jQuery; our popups are built in our own script instead.)
"""

from __future__ import annotations

import base64
import functools
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from jinja2 import Template

from geo.errors import MapScriptsMissing

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR_DIR = ROOT / "static" / "vendor"
STATIC_URL = "/app/static/vendor"

Mode = Literal["served", "inline"]
MODES: tuple[str, ...] = ("served", "inline")

SETUP_HINT = "run `npm ci` in the project folder, then `python -m geo vendor`"


@dataclass(frozen=True)
class _Package:
    name: str
    scripts: tuple[str, ...]
    stylesheets: tuple[str, ...]
    folders: tuple[str, ...] = ()


# Paths are relative to the package's dist/ folder; the vendored copy keeps that layout under
# static/vendor/<package>/, so leaflet.css still finds images/ beside it.
LEAFLET = _Package("leaflet", ("leaflet.js",), ("leaflet.css",), ("images",))
MARKERCLUSTER = _Package(
    "leaflet.markercluster",
    ("leaflet.markercluster.js",),
    ("MarkerCluster.css", "MarkerCluster.Default.css"),
)
PACKAGES = (LEAFLET, MARKERCLUSTER)


def _pinned_versions(root: Path) -> dict[str, str]:
    manifest = root / "package.json"
    if not manifest.is_file():
        return {}
    return dict(json.loads(manifest.read_text(encoding="utf-8")).get("dependencies", {}))


def _installed_version(package_dir: Path) -> str:
    manifest = package_dir / "package.json"
    if not manifest.is_file():
        return ""
    return str(json.loads(manifest.read_text(encoding="utf-8")).get("version", ""))


def vendor_scripts(node_modules: Path = NODE_MODULES, dest: Path = VENDOR_DIR) -> list[Path]:
    """Copy Leaflet and Leaflet.markercluster from ``node_modules`` into ``static/vendor``.

    Parameters
    ----------
    node_modules
        Where ``npm ci`` installed the packages pinned in ``package.json``.
    dest
        The folder Streamlit serves as ``/app/static/vendor``.

    Returns
    -------
    The files written.

    Raises
    ------
    MapScriptsMissing
        When a package is not installed, or its version differs from the pin in
        ``package.json`` (beside ``node_modules``): the message says to run ``npm ci``.
    """
    node_modules = Path(node_modules)
    dest = Path(dest)
    pins = _pinned_versions(node_modules.parent)
    written: list[Path] = []
    for package in PACKAGES:
        package_dir = node_modules / package.name
        dist = package_dir / "dist"
        missing = [
            name
            for name in (*package.scripts, *package.stylesheets, *package.folders)
            if not (dist / name).exists()
        ]
        if missing:
            msg = (
                f"map scripts missing: {', '.join(str(dist / name) for name in missing)} not found; "
                f"run `npm ci` in {node_modules.parent} to install {package.name}, then `python -m geo vendor`"
            )
            raise MapScriptsMissing(msg)
        pinned = pins.get(package.name)
        installed = _installed_version(package_dir)
        if pinned and installed != pinned:
            msg = (
                f"{package.name} {installed or '(unknown version)'} is installed in {node_modules} but "
                f"package.json pins {pinned}; run `npm ci` in {node_modules.parent}, then `python -m geo vendor`"
            )
            raise MapScriptsMissing(msg)
        target = dest / package.name
        target.mkdir(parents=True, exist_ok=True)
        for name in (*package.scripts, *package.stylesheets):
            written.append(Path(shutil.copy2(dist / name, target / name)))
        for folder in package.folders:
            shutil.copytree(dist / folder, target / folder, dirs_exist_ok=True)
            written.extend(sorted(path for path in (target / folder).rglob("*") if path.is_file()))
    return written


def missing_vendor_files(dest: Path = VENDOR_DIR) -> list[Path]:
    """The vendored files a served map needs that are absent from ``dest`` (empty when ready)."""
    dest = Path(dest)
    return [
        dest / package.name / name
        for package in PACKAGES
        for name in (*package.scripts, *package.stylesheets)
        if not (dest / package.name / name).is_file()
    ]


def require_vendored(dest: Path = VENDOR_DIR) -> None:
    """Raise :class:`MapScriptsMissing` naming the set-up command when the map scripts are not vendored.

    Call this once at app start (or before showing a served map): a served map without the
    files draws nothing, and the browser shows no error to the user.
    """
    missing = missing_vendor_files(dest)
    if missing:
        msg = f"map scripts are not installed ({missing[0]} is missing); {SETUP_HINT}"
        raise MapScriptsMissing(msg)


def served_links(*, cluster: bool) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The (name, URL) script and stylesheet links of the served files, for ``default_js``/``default_css``.

    The URLs carry the package version so a browser cache never mixes two releases.
    """
    packages = (LEAFLET, MARKERCLUSTER) if cluster else (LEAFLET,)
    pins = _pinned_versions(ROOT)
    js: list[tuple[str, str]] = []
    css: list[tuple[str, str]] = []
    for package in packages:
        version = pins.get(package.name, "")
        suffix = f"?v={version}" if version else ""
        for name in package.scripts:
            js.append((f"{package.name}/{name}", f"{STATIC_URL}/{package.name}/{name}{suffix}"))
        for name in package.stylesheets:
            css.append((f"{package.name}/{name}", f"{STATIC_URL}/{package.name}/{name}{suffix}"))
    return js, css


def _source_dir(package: _Package, vendor_dir: Path, node_modules: Path) -> Path:
    # The vendored copy is what the app deploys; node_modules is the fallback on a developer's
    # machine that has run `npm ci` but not yet `python -m geo vendor`.
    for candidate in (vendor_dir / package.name, node_modules / package.name / "dist"):
        if all((candidate / name).is_file() for name in (*package.scripts, *package.stylesheets)):
            return candidate
    msg = (
        f"map scripts missing: {package.name} is neither in {vendor_dir} nor in {node_modules}; {SETUP_HINT}"
    )
    raise MapScriptsMissing(msg)


_CSS_URL = re.compile(r"url\((['\"]?)(images/[A-Za-z0-9_.-]+\.png)\1\)")
# Text that would end an inline <script>/<style> block early or open an HTML comment there.
_BLOCK_BREAKERS = re.compile(r"</(script|style)|<!--", re.IGNORECASE)


def _inline_css(path: Path) -> str:
    text = path.read_text(encoding="utf-8")

    def data_uri(match: re.Match[str]) -> str:
        image = path.parent / match.group(2)
        if not image.is_file():
            return match.group(0)
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{encoded})"

    return _CSS_URL.sub(data_uri, text)


@functools.lru_cache(maxsize=8)
def _inline_code(package: _Package, source: Path, stamp: tuple[float, ...]) -> tuple[str, str]:
    # ``stamp`` (the files' modification times) is part of the cache key so a re-vendored
    # release is picked up without restarting the app.
    del stamp
    scripts = "\n".join((source / name).read_text(encoding="utf-8") for name in package.scripts)
    styles = "\n".join(_inline_css(source / name) for name in package.stylesheets)
    for label, text in (("script", scripts), ("stylesheet", styles)):
        found = _BLOCK_BREAKERS.search(text)
        if found:
            msg = (
                f"cannot inline the {package.name} {label} from {source}: it contains {found.group(0)!r}, "
                "which would end the HTML block early; use mode='served'"
            )
            raise MapScriptsMissing(msg)
    return scripts, styles


def inline_code(
    *, cluster: bool, vendor_dir: Path = VENDOR_DIR, node_modules: Path = NODE_MODULES
) -> tuple[str, str]:
    """The JavaScript and CSS of the map libraries, for inlining into a self-contained HTML file.

    Leaflet's control images are embedded as ``data:`` URIs so the file needs nothing else.
    """
    packages = (LEAFLET, MARKERCLUSTER) if cluster else (LEAFLET,)
    scripts: list[str] = []
    styles: list[str] = []
    for package in packages:
        source = _source_dir(package, Path(vendor_dir), Path(node_modules))
        stamp = tuple((source / name).stat().st_mtime for name in (*package.scripts, *package.stylesheets))
        js, css = _inline_code(package, source, stamp)
        scripts.append(js)
        styles.append(css)
    return "\n".join(scripts), "\n".join(styles)


class _InlineLibraries(MacroElement):
    """The map libraries' code in the page header (mode "inline")."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        <script>{{ this.js }}</script>
        {% endmacro %}
        """
    )

    def __init__(self, js: str, css: str):
        super().__init__()
        self._name = "InlineLibraries"
        self.js = js
        self.css = css


class _ServedLibraries(JSCSSMixin, MacroElement):
    """Links to the vendored map libraries (mode "served"); ``st_folium`` collects these too."""

    _template = Template("")

    def __init__(self, js: list[tuple[str, str]], css: list[tuple[str, str]]):
        super().__init__()
        self._name = "ServedLibraries"
        # Instance attributes: this map only, folium's class-level defaults stay untouched.
        self.default_js = js
        self.default_css = css


def configure_map(
    m: folium.Map,
    mode: Mode = "served",
    *,
    cluster: bool = False,
    vendor_dir: Path = VENDOR_DIR,
    node_modules: Path = NODE_MODULES,
) -> folium.Map:
    """Point one map at the app's own Leaflet (and markercluster) instead of folium's CDNs.

    Call it right after creating the map, before adding layers, so the libraries load first.
    Only this map changes: folium's class-level defaults are left alone, because other maps in
    the same process (another page, another user) may be built in another mode.

    Parameters
    ----------
    m
        The map.
    mode
        "served" (links to ``/app/static/vendor/...``) or "inline" (code in the HTML).
    cluster
        Whether the map uses ``L.markerClusterGroup``.
    vendor_dir, node_modules
        Where the inline mode reads the files from (the vendored copy first).

    Returns
    -------
    The same map.
    """
    if mode not in MODES:
        msg = f"map mode {mode!r} is not one of {', '.join(MODES)}; use 'served' in the app, 'inline' for a saved file"
        raise ValueError(msg)
    # folium's Map lists jQuery, Bootstrap, awesome-markers and Font Awesome from CDNs.
    m.default_js = []
    m.default_css = []
    if mode == "served":
        js, css = served_links(cluster=cluster)
        m.add_child(_ServedLibraries(js, css), name="cam_libraries")
    else:
        code, styles = inline_code(cluster=cluster, vendor_dir=vendor_dir, node_modules=node_modules)
        m.add_child(_InlineLibraries(code, styles), name="cam_libraries")
    return m


_EXTERNAL = re.compile(
    r"<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)",
    re.IGNORECASE,
)


def external_resources(html: str) -> list[str]:
    """URLs of scripts and stylesheets that ``html`` loads from another host (empty when offline-safe)."""
    return _EXTERNAL.findall(html)


__all__ = [
    "MODES",
    "STATIC_URL",
    "VENDOR_DIR",
    "configure_map",
    "external_resources",
    "inline_code",
    "missing_vendor_files",
    "require_vendored",
    "served_links",
    "vendor_scripts",
]
