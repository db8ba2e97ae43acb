"""The one escaping family for user text that reaches a map, an HTML page or a Streamlit page.

Every string a user typed (asset names, session times, boundary names from an uploaded
file...) passes through one of these before it is written into markup or script:

- :func:`escape_html` for text placed in HTML markup (or in a string Leaflet will set as
  ``innerHTML``, such as a GeoJSON tooltip or the attribution control);
- :func:`to_safe_json` for data embedded in an inline ``<script>``;
- :func:`escape_markdown` for text shown through ``st.markdown``.

Ten characters never appear literally from user input in the output: ``& < > " ' ` $ \\ { }``.
Besides the usual HTML metacharacters, the backtick, dollar and backslash are included because
the same text can end up inside a JavaScript template literal (folium builds several with
``${...}``) or a JavaScript string, where they would start an expression or an escape. The
braces are included because branca compiles each element's rendered script *again* as a Jinja
template (``MacroElement.render`` wraps it in ``Element(...)``): a name such as ``{{ 7*7 }}``
that reached a folium element unescaped would be evaluated on the server (template injection).
"""

from __future__ import annotations

import json
import re
from typing import Any

# One translate pass, so "&" produced by an earlier substitution is never escaped twice.
_HTML_TABLE = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#39;",
        "`": "&#96;",
        "$": "&#36;",
        "\\": "&#92;",
        "{": "&#123;",
        "}": "&#125;",
    }
)

# Escapes that json.dumps writes with a backslash shorthand (\" \\ \n ...) are rewritten as
# \uXXXX so that no quote or backslash of the user's text is left in the page. "\\\\" must be
# handled first: JSON escapes are read left to right in pairs, and str.replace scans the same way.
_JSON_SHORTHANDS = (
    ("\\\\", "\\u005c"),
    ('\\"', "\\u0022"),
    ("\\n", "\\u000a"),
    ("\\r", "\\u000d"),
    ("\\t", "\\u0009"),
    ("\\b", "\\u0008"),
    ("\\f", "\\u000c"),
)
# These can only occur inside JSON strings (the structural characters of JSON are [ ] { } : ,
# and the quotes json.dumps writes around strings). U+2028/2029 end a line in older JavaScript.
_JSON_PLAIN = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("'", "\\u0027"),
    ("`", "\\u0060"),
    ("$", "\\u0024"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)

_JINJA_OPENERS = re.compile(r"\{(?=[{%#])")

_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()#+-.!|<>$~:&\"'=^")
_MARKDOWN_TABLE = str.maketrans({char: "\\" + char for char in _MARKDOWN_SPECIAL})


def _as_text(text: object) -> str:
    return "" if text is None else str(text)


def escape_html(text: object) -> str:
    """Escape text for HTML markup; the browser shows exactly ``text``.

    ``& < > " ' ` $ \\ { }`` all become character references (``&#36;`` for ``$``, ``&#96;``
    for the backtick, ``&#92;`` for the backslash, ``&#123;``/``&#125;`` for braces), so the
    result is also inert inside a JavaScript template literal or string and in a Jinja
    template. ``None`` gives ``""``.
    """
    return _as_text(text).translate(_HTML_TABLE)


def to_safe_json(obj: Any) -> str:
    """Serialise ``obj`` as JSON that is safe to embed in an inline ``<script>`` block.

    The result is valid JSON and a valid JavaScript expression. Inside strings, each of
    ``< > & ' " ` $ \\`` (and U+2028/U+2029, and control characters) is written as a
    ``\\uXXXX`` escape, so the only literal double quotes are the ones delimiting strings and
    the only backslashes start a ``\\uXXXX`` escape. A ``{`` followed by ``{``, ``%`` or ``#``
    is escaped too, so no Jinja delimiter occurs (see the module notes); JSON's own braces are
    never followed by those. ``json.loads`` (or the JavaScript parser) gives back the exact input.

    Raises
    ------
    ValueError
        For NaN or infinite numbers, which JSON cannot carry.
    TypeError
        For values ``json`` cannot serialise.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # str.replace per character is many times faster than a regex callback on a multi-megabyte
    # payload, and the bench measures 100,000 assets.
    for old, new in _JSON_SHORTHANDS:
        if old in text:
            text = text.replace(old, new)
    for old, new in _JSON_PLAIN:
        if old in text:
            text = text.replace(old, new)
    # A structural "{" is always followed by '"' or "}", so this only touches string contents.
    return _JINJA_OPENERS.sub(r"\\u007b", text)


def escape_json_text(text: object) -> str:
    """One string as a JSON/JavaScript string literal (with its quotes), see :func:`to_safe_json`."""
    return to_safe_json(_as_text(text))


def escape_markdown(text: object) -> str:
    """Escape text for ``st.markdown`` so it shows literally.

    Every Markdown metacharacter, ``$`` (which Streamlit reads as LaTeX), ``:`` (emoji
    shortcodes and ``:red[...]`` colour directives) and the HTML characters get a backslash:
    CommonMark lets any ASCII punctuation be escaped that way. Line breaks are kept as hard
    breaks. Prefer ``st.text`` or ``st.write`` of a plain string where formatting is not needed.
    """
    lines = _as_text(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # Leading spaces would turn a line into a code block; a hard break keeps the lines apart.
    return "  \n".join(line.strip().translate(_MARKDOWN_TABLE) for line in lines)


# --------------------------------------------------------------------------- spreadsheets

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise_cell(value: object) -> object:
    """Make an exported cell inert in a spreadsheet: THE one formula-injection guard.

    Text starting with = + - @ tab CR or LF gets a leading apostrophe, so Excel,
    LibreOffice and Google Sheets show it as text instead of running it. Numbers (real
    numeric types, so a negative float stays a number), dates, booleans and None are
    returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """Undo :func:`neutralise_cell` on text read back from one of our own exports."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_TRIGGERS:
        return value[1:]
    return value
