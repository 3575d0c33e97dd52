"""Telegram's HTML parse mode as the emulator applies it: entities in UTF-16 units, Telegram's errors."""

from __future__ import annotations

import html
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.emulator.tghtml import (
    EntityParseError,
    entities_to_html,
    finish_text,
    parse_html,
    utf16_len,
    utf16_slice,
)


def final(source: str) -> tuple[str, list[dict[str, Any]]]:
    return finish_text(*parse_html(source))


def test_all_supported_tags() -> None:
    text, entities = final(
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>"
        '<tg-spoiler>p</tg-spoiler><span class="tg-spoiler">q</span><code>c</code>'
        '<a href="https://example.org/x">a</a><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    assert text == "bsieunskdpqca👍"
    assert [e["type"] for e in entities] == [
        "bold",
        "bold",
        "italic",
        "italic",
        "underline",
        "underline",
        "strikethrough",
        "strikethrough",
        "strikethrough",
        "spoiler",
        "spoiler",
        "code",
        "text_link",
        "custom_emoji",
    ]
    assert entities[12]["url"] == "https://example.org/x"
    assert entities[13] == {"type": "custom_emoji", "offset": 13, "length": 2, "custom_emoji_id": "5368324170671202286"}


def test_offsets_are_utf16_code_units() -> None:
    text, entities = final("😀😀 <b>Tiếng Việt 🇻🇳</b>")
    assert text == "😀😀 Tiếng Việt 🇻🇳"
    assert entities == [{"type": "bold", "offset": 5, "length": 15}]
    assert utf16_slice(text, 5, 15) == "Tiếng Việt 🇻🇳"


def test_pre_code_blockquote_and_nesting() -> None:
    text, entities = final('<pre><code class="language-python">x = 1 < 2</code></pre>'.replace("< 2", "&lt; 2"))
    assert text == "x = 1 < 2"
    assert entities == [{"type": "pre", "offset": 0, "length": 9, "language": "python"}]
    assert final("<pre><code>y</code></pre>")[1] == [{"type": "pre", "offset": 0, "length": 1}]
    assert final("<code><b>z</b>w</code>")[1] == [{"type": "code", "offset": 0, "length": 2}]
    assert final("<blockquote expandable>q</blockquote><blockquote>r</blockquote>")[1] == [
        {"type": "expandable_blockquote", "offset": 0, "length": 1},
        {"type": "blockquote", "offset": 1, "length": 1},
    ]
    assert final("<b>a <i>b</i></b>")[1] == [
        {"type": "bold", "offset": 0, "length": 3},
        {"type": "italic", "offset": 2, "length": 1},
    ]


def test_character_references_and_attributes() -> None:
    assert final("&lt;&gt;&amp;&quot;&#65;&#x1F600;")[0] == '<>&"A😀'
    assert final("<a href='https://a.vn/?x=1&amp;y=2'>l</a>")[1][0]["url"] == "https://a.vn/?x=1&y=2"
    assert final("<a href=example.com>l</a>")[1][0]["url"] == "http://example.com/"
    assert final('<a href="tg://user?id=42">u</a>')[1][0]["type"] == "text_mention"
    assert final("<B>upper</B>")[1] == [{"type": "bold", "offset": 0, "length": 5}]


def test_trimming_and_detected_entities() -> None:
    text, entities = final("  \n<b> Số #12 </b> /done@qmsbot_sandbox_bot 12 https://t.me/qms?start=abc #iso @an_vpb\n")
    assert text.startswith("Số #12") and text.endswith("@an_vpb")
    kinds = [e["type"] for e in entities]
    assert kinds == ["bold", "bot_command", "url", "hashtag", "mention"]  # "#12" is no hashtag
    assert utf16_slice(text, entities[2]["offset"], entities[2]["length"]) == "https://t.me/qms?start=abc"


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("Đ < 3", 'Unsupported start tag "" at byte offset 3'),
        ("x <", "Unclosed start tag at byte offset 2"),
        ("<a href>x</a>", 'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b >x</b", "Unclosed end tag at byte offset 5"),
        ("Q&A", 'Bare "&" at byte offset 1'),
        ("&nbsp;", 'Bare "&" at byte offset 0'),
    ],
)
def test_errors_like_telegram(source: str, error: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(source)
    assert str(caught.value).startswith(error)


def test_bare_ampersand_allowed_when_not_strict() -> None:
    assert parse_html("Q&A &nbsp;", strict_ampersand=False) == ("Q&A &nbsp;", [])


@given(st.text())
def test_escaped_text_comes_back_unchanged(text: str) -> None:
    plain, entities = parse_html(html.escape(text))
    assert plain == text and entities == []
    if text:
        plain, entities = parse_html(f"<b>{html.escape(text, quote=False)}</b>")
        assert entities == [{"type": "bold", "offset": 0, "length": utf16_len(text)}]


_TAGS = st.sampled_from(["b", "i", "u", "s", "code", "tg-spoiler", None])
_KIND = {"b": "bold", "i": "italic", "u": "underline", "s": "strikethrough", "code": "code", "tg-spoiler": "spoiler"}


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), _TAGS), max_size=8))
def test_segments_map_to_entities(segments: list[tuple[str, str | None]]) -> None:
    source = "".join(f"<{t}>{html.escape(s)}</{t}>" if t else html.escape(s) for s, t in segments)
    plain, entities = parse_html(source)
    assert plain == "".join(s for s, _ in segments)
    expected = []
    offset = 0
    for segment, tag in segments:
        if tag:
            expected.append({"type": _KIND[tag], "offset": offset, "length": utf16_len(segment)})
        offset += utf16_len(segment)
    assert entities == expected
    for entity, (segment, _) in zip(entities, [x for x in segments if x[1]], strict=True):
        assert utf16_slice(plain, entity["offset"], entity["length"]) == segment


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), _TAGS), max_size=8))
def test_rendering_back_to_html_round_trips(segments: list[tuple[str, str | None]]) -> None:
    source = "".join(f"<{t}>{html.escape(s)}</{t}>" if t else html.escape(s) for s, t in segments)
    text, entities = finish_text(*parse_html(source), detect=False)
    assert finish_text(*parse_html(entities_to_html(text, entities)), detect=False) == (text, entities)
