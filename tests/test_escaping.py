"""The one escaping family: exact round trips, and no dangerous character left literally."""

from __future__ import annotations

import html
import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.escaping import escape_html, escape_json_text, escape_markdown, to_safe_json

DANGEROUS = "<>&'\"`$\\"
HTML_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#39|#96|#36|#92|#123|#125);")
JSON_ESCAPE = re.compile(r"\\u[0-9a-f]{4}")
# The machine is shared: no timing limits in unit tests.
NO_DEADLINE = settings(deadline=None)

# Text rich in the characters that matter, plus any other text.
hostile_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list(DANGEROUS + "{}%#/\n\r\t\u2028\u2029 ascript")), max_size=40),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | hostile_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(hostile_text, children, max_size=5),
    max_leaves=20,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tea & chat", "Tea &amp; chat"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("${alert(1)}", "&#36;&#123;alert(1)&#125;"),
        ("a`b", "a&#96;b"),
        ("c\\`d", "c&#92;&#96;d"),
        ("\"'><svg onload=alert(3)>", "&quot;&#39;&gt;&lt;svg onload=alert(3)&gt;"),
        ("{{ 7*7 }}", "&#123;&#123; 7*7 &#125;&#125;"),
        ("&amp;", "&amp;amp;"),
        (None, ""),
        (42, "42"),
    ],
)
def test_escape_html_examples(text, expected):
    assert escape_html(text) == expected


@NO_DEADLINE
@given(hostile_text)
def test_escape_html_round_trips_and_leaves_nothing_literal(text):
    escaped = escape_html(text)
    assert html.unescape(escaped) == text
    without_entities = HTML_ENTITY.sub("", escaped)
    for char in DANGEROUS + "{}":
        assert char not in without_entities


@NO_DEADLINE
@given(json_values)
def test_to_safe_json_round_trips_and_leaves_nothing_literal(value):
    text = to_safe_json(value)
    assert json.loads(text) == value
    bare = JSON_ESCAPE.sub("", text)
    for char in "<>&'`$\\\u2028\u2029":
        assert char not in bare
    for opener in ("{{", "{%", "{#"):
        assert opener not in text


@NO_DEADLINE
@given(hostile_text)
def test_escape_json_text_is_one_literal_with_only_its_own_quotes(text):
    literal = escape_json_text(text)
    assert literal[0] == literal[-1] == '"'
    assert '"' not in literal[1:-1]
    assert json.loads(literal) == text


def test_to_safe_json_keeps_structure_compact():
    assert to_safe_json({"a": [1, "x<y"], "b": None}) == '{"a":[1,"x\\u003cy"],"b":null}'
    assert to_safe_json('say "hi" \\ bye') == '"say \\u0022hi\\u0022 \\u005c bye"'
    assert to_safe_json("line\nbreak") == '"line\\u000abreak"'


@pytest.mark.parametrize("bad", [math.nan, math.inf, [1.0, -math.inf]])
def test_to_safe_json_refuses_nan(bad):
    with pytest.raises(ValueError, match="JSON compliant"):
        to_safe_json(bad)


def _render_markdown(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").renderInline(text)


@NO_DEADLINE
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        max_size=40,
    ).map(str.strip)
)
def test_escape_markdown_shows_the_text_literally(text):
    # CommonMark renders each backslash-escaped punctuation character as itself.
    rendered = _render_markdown(escape_markdown(text))
    assert "<" not in rendered.replace("&lt;", "")
    assert html.unescape(rendered) == text


@pytest.mark.parametrize(
    "text",
    [
        "**bold** _it_ `code`",
        "$x^2$ :red[alert] :smile:",
        "# heading",
        "1. item",
        "<b>tag</b>",
        "[a](javascript:x)",
    ],
)
def test_escape_markdown_neutralises_formatting(text):
    rendered = _render_markdown(escape_markdown(text))
    assert html.unescape(rendered) == text
    for tag in ("<strong>", "<em>", "<code>", "<a ", "<b>"):
        assert tag not in rendered


def test_escape_markdown_keeps_lines_apart():
    assert escape_markdown("one\ntwo") == "one  \ntwo"
