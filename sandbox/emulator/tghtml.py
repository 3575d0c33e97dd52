"""Telegram's HTML parse mode, as the Bot API server applies it.

The parser follows the algorithm of TDLib's ``parse_html`` (the library behind the Bot API server): the
same tags, the same attribute rules, the same error texts with byte offsets into the UTF-8 input, and
entity offsets and lengths in UTF-16 code units. One deliberate difference, on by default: a bare ``&``
that does not start one of the supported character references is an error here (Telegram shows it
verbatim), because it almost always means the bot forgot to escape user text.

After parsing, :func:`finish_text` does what Telegram does to every message text: it trims surrounding
white space, drops entities nested where Telegram forbids them, and detects URLs, mentions, hashtags and
bot commands.
"""

from __future__ import annotations

import re
from typing import Any

Entity = dict[str, Any]

_SPACE = frozenset(b" \t\r\n\v\f\0")
_SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
}
_SIMPLE_TYPES = frozenset(_SIMPLE.values())
# Entities that cannot contain others (their nested entities are dropped).
_ATOMIC = frozenset({"code", "pre"})
# Entities that auto-detection must not overlap.
_NON_FORMATTING = frozenset(
    {
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "url",
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "email",
    }
)


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML. ``str(error)`` is Telegram's explanation."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of ``text`` that an entity (offset, length in UTF-16 code units) covers."""
    data = text.encode("utf-16-le")
    return data[2 * offset : 2 * (offset + length)].decode("utf-16-le", errors="replace")


def _decode_entity(data: bytes, pos: int) -> tuple[int, int]:
    """(code point, position after the reference) for a character reference at ``pos``, or (0, pos)."""
    size = len(data)

    def at(i: int) -> int:
        return data[i] if i < size else 0

    end = pos + 1
    value = 0
    if at(pos + 1) == ord("#"):
        end += 1
        if at(pos + 2) in (ord("x"), ord("X")):
            end += 1
            while chr(at(end)) in "0123456789abcdefABCDEF" and at(end):
                value = value * 16 + int(chr(at(end)), 16)
                end += 1
                if value >= 0x10FFFF:
                    return 0, pos
        else:
            while ord("0") <= at(end) <= ord("9"):
                value = value * 10 + at(end) - ord("0")
                end += 1
                if value >= 0x10FFFF:
                    return 0, pos
        if value == 0 or end - pos >= 10 or 0xD800 <= value <= 0xDFFF:
            return 0, pos
    else:
        while chr(at(end)).isascii() and chr(at(end)).isalpha():
            end += 1
        name = data[pos + 1 : end]
        named = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}.get(name)
        if named is None:
            return 0, pos
        value = ord(named)
    if at(end) == ord(";"):
        end += 1
    return value, end


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[Entity]]:
    """Parse Telegram HTML into (plain text, entities); raise :class:`EntityParseError` like Telegram."""
    data = text.encode("utf-8")
    size = len(data)

    def at(i: int) -> int:
        return data[i] if i < size else 0

    out = bytearray()
    entities: list[Entity] = []
    stack: list[tuple[str, str, int, int]] = []  # tag, argument, utf16 offset, byte position in out
    u16 = 0
    i = 0
    while i < size:
        c = data[i]
        if c == ord("&"):
            value, end = _decode_entity(data, i)
            if value:
                ch = chr(value)
                out += ch.encode("utf-8")
                u16 += 2 if value > 0xFFFF else 1
                i = end
                continue
            if strict_ampersand:
                raise EntityParseError(
                    f'Bare "&" at byte offset {i}: escape it as "&amp;" (the emulator is stricter than '
                    "Telegram here, which would show it verbatim)"
                )
        if c != ord("<"):
            out.append(c)
            if c & 0xC0 != 0x80:  # first byte of a UTF-8 character
                u16 += 2 if c >= 0xF0 else 1
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != ord("/"):
            while at(i) not in _SPACE and at(i) != ord(">"):
                i += 1
            if at(i) == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = data[begin + 1 : i].decode("utf-8", errors="replace").lower()
            if tag not in _SUPPORTED_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != ord(">"):
                while at(i) and at(i) in _SPACE:
                    i += 1
                if at(i) == ord(">"):
                    break
                attr_begin = i
                while at(i) not in _SPACE and at(i) not in (ord("="), ord(">")):
                    i += 1
                attr = data[attr_begin:i].decode("utf-8", errors="replace")
                if not attr:
                    raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
                while at(i) and at(i) in _SPACE:
                    i += 1
                if at(i) != ord("="):
                    if tag == "blockquote" and attr == "expandable":
                        argument = "1"
                        continue
                    raise EntityParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {begin}'
                    )
                i += 1
                while at(i) and at(i) in _SPACE:
                    i += 1
                if at(i) == 0:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                value_bytes = bytearray()
                if at(i) not in (ord("'"), ord('"')):
                    token_begin = i
                    while chr(at(i)).isascii() and (chr(at(i)).isalnum() or at(i) in b".-") and at(i):
                        i += 1
                    value_bytes += data[token_begin:i].lower()
                    if at(i) not in _SPACE and at(i) != ord(">"):
                        raise EntityParseError(f"Unexpected end of name token at byte offset {token_begin}")
                else:
                    quote = at(i)
                    i += 1
                    while at(i) != quote and at(i) != 0:
                        if at(i) == ord("&"):
                            value, end = _decode_entity(data, i)
                            if value:
                                value_bytes += chr(value).encode("utf-8")
                                i = end
                                continue
                        value_bytes.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                if at(i) == 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                attr_value = value_bytes.decode("utf-8", errors="replace")
                if tag == "a" and attr == "href":
                    argument = attr_value
                elif tag == "code" and attr == "class" and attr_value.startswith("language-"):
                    argument = attr_value[len("language-") :]
                elif tag == "span" and attr == "class" and attr_value.startswith("tg-"):
                    argument = attr_value[len("tg-") :]
                elif tag == "tg-emoji" and attr == "emoji-id":
                    argument = attr_value
                elif tag == "blockquote" and attr == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            stack.append((tag, argument, u16, len(out)))
            i += 1  # skip '>'
            continue

        # an end tag
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        while at(i) not in _SPACE and at(i) != ord(">"):
            i += 1
        end_name = data[begin + 2 : i].decode("utf-8", errors="replace").lower()
        while at(i) and at(i) in _SPACE:
            i += 1
        if at(i) != ord(">"):
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        i += 1
        tag, argument, start, start_pos = stack.pop()
        if end_name and end_name != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", found "</{end_name}>"'
            )
        length = u16 - start
        if length <= 0:
            continue
        _close_entity(entities, tag, argument, start, length, out[start_pos:].decode("utf-8", "replace"))
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    return out.decode("utf-8"), entities


def _close_entity(entities: list[Entity], tag: str, argument: str, offset: int, length: int, inner: str) -> None:
    if tag in _SIMPLE or (tag == "span" and argument == "spoiler"):
        entities.append({"type": _SIMPLE.get(tag, "spoiler"), "offset": offset, "length": length})
    elif tag == "tg-emoji":
        if not argument.isdigit():
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append({"type": "custom_emoji", "offset": offset, "length": length, "custom_emoji_id": argument})
    elif tag == "a":
        url = argument or inner
        user_match = re.fullmatch(r"tg://user\?id=(\d+)", url)
        if user_match:
            entities.append(
                {
                    "type": "text_mention",
                    "offset": offset,
                    "length": length,
                    "user": {"id": int(user_match.group(1)), "is_bot": False, "first_name": ""},
                }
            )
            return
        normalized = normalize_url(url)
        if normalized is not None:
            entities.append({"type": "text_link", "offset": offset, "length": length, "url": normalized})
    elif tag == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "code"
            and last["offset"] == offset
            and last["length"] == length
            and last.get("language")
        ):
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag == "code":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "pre"
            and last["offset"] == offset
            and last["length"] == length
            and argument
        ):
            last["language"] = argument
        else:
            entity: Entity = {"type": "code", "offset": offset, "length": length}
            if argument:
                entity["language"] = argument
            entities.append(entity)
    elif tag == "blockquote":
        kind = "expandable_blockquote" if argument else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})


def normalize_url(url: str) -> str | None:
    """Telegram's normalisation of a link target, or None when Telegram would drop the link."""
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    match = re.match(r"(?i)^([a-z][a-z0-9+.-]*):(//)?", url)
    if match and match.group(1).lower() == "tg":
        return url
    if match and match.group(1).lower() not in ("http", "https", "ftp", "tonsite"):
        return None
    if not match:
        url = "http://" + url
    host_match = re.match(r"(?i)^[a-z]+://([^/?#]*)(.*)$", url)
    if host_match is None or not host_match.group(1):
        return None
    host = host_match.group(1).rsplit("@", 1)[-1].split(":")[0]
    if "." not in host and host.lower() != "localhost":
        return None
    if not host_match.group(2):
        url += "/"
    return url


def sort_entities(entities: list[Entity]) -> list[Entity]:
    """Telegram's order: by offset, the longer (outer) entity first."""
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_DETECTORS = (
    ("url", re.compile(r"(?<![\w@/.])(?:https?://|tg://)[^\s<>\"]+|(?<![\w@/.])t\.me/[^\s<>\"]+", re.I)),
    ("bot_command", re.compile(r"(?<![\w/<>@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{3,32}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d_]\w*")),
)


def detect_entities(text: str, existing: list[Entity]) -> list[Entity]:
    """Entities Telegram finds by itself (url, bot_command, mention, hashtag) outside ``existing`` links."""
    taken = [(e["offset"], e["offset"] + e["length"]) for e in existing if e["type"] in _NON_FORMATTING]
    found: list[Entity] = []
    for kind, pattern in _DETECTORS:
        for match in pattern.finditer(text):
            value = match.group(0)
            if kind == "url":
                value = value.rstrip(".,;:!?)]}'")
            start = utf16_len(text[: match.start()])
            length = utf16_len(value)
            span = (start, start + length)
            if any(span[0] < b and a < span[1] for a, b in taken):
                continue
            taken.append(span)
            found.append({"type": kind, "offset": start, "length": length})
    return found


def finish_text(text: str, entities: list[Entity], *, detect: bool = True) -> tuple[str, list[Entity]]:
    """Trim the text, drop entities Telegram would drop, add auto-detected ones; Telegram's final form."""
    total = utf16_len(text)
    kept: list[Entity] = []
    for entity in entities:
        offset, length = int(entity.get("offset", -1)), int(entity.get("length", 0))
        if offset < 0 or length <= 0 or offset >= total:
            continue
        kept.append({**entity, "offset": offset, "length": min(length, total - offset)})
    kept = _drop_nested(kept)

    stripped_left = text.lstrip(" \t\r\n\v\f")
    cut_left = utf16_len(text) - utf16_len(stripped_left)
    trimmed = stripped_left.rstrip(" \t\r\n\v\f")
    new_total = utf16_len(trimmed)
    result: list[Entity] = []
    for entity in kept:
        start = max(entity["offset"] - cut_left, 0)
        end = min(entity["offset"] + entity["length"] - cut_left, new_total)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    if detect:
        result.extend(detect_entities(trimmed, result))
    return trimmed, sort_entities(result)


def _drop_nested(entities: list[Entity]) -> list[Entity]:
    """Drop entities inside code and pre (Telegram allows nothing there, not even the same range)."""
    priority = {"pre": 1, "code": 2}
    ordered = sorted(
        entities,
        key=lambda e: (
            e["offset"],
            -e["length"],
            priority.get(e["type"], 0 if e["type"] in _SIMPLE_TYPES else 3),
        ),
    )
    atomic: list[tuple[int, int]] = []
    kept: list[Entity] = []
    for entity in ordered:
        start, end = entity["offset"], entity["offset"] + entity["length"]
        if any(a <= start and end <= b for a, b in atomic):
            continue
        if entity["type"] in _ATOMIC:
            atomic.append((start, end))
        kept.append(entity)
    return kept


def entities_to_html(text: str, entities: list[Entity]) -> str:
    """Render text and entities back to Telegram HTML (for display in the sandbox web chat)."""
    data = text.encode("utf-16-le")
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    tags = {
        "bold": ("<b>", "</b>"),
        "italic": ("<i>", "</i>"),
        "underline": ("<u>", "</u>"),
        "strikethrough": ("<s>", "</s>"),
        "spoiler": ("<tg-spoiler>", "</tg-spoiler>"),
        "code": ("<code>", "</code>"),
        "blockquote": ("<blockquote>", "</blockquote>"),
        "expandable_blockquote": ("<blockquote expandable>", "</blockquote>"),
    }
    for entity in sort_entities(entities):
        kind = entity["type"]
        if kind in tags:
            start_tag, end_tag = tags[kind]
        elif kind == "pre":
            lang = entity.get("language")
            start_tag = f'<pre><code class="language-{_escape(lang)}">' if lang else "<pre>"
            end_tag = "</code></pre>" if lang else "</pre>"
        elif kind in ("text_link", "url"):
            url = entity.get("url") or utf16_slice(text, entity["offset"], entity["length"])
            start_tag, end_tag = f'<a href="{_escape(url)}">', "</a>"
        else:
            continue
        opens.setdefault(entity["offset"], []).append(start_tag)
        closes.setdefault(entity["offset"] + entity["length"], []).insert(0, end_tag)
    parts: list[str] = []
    units = len(data) // 2
    position = 0
    while position <= units:
        parts.extend(closes.get(position, []))
        parts.extend(opens.get(position, []))
        if position == units:
            break
        step = 2 if 0xD800 <= int.from_bytes(data[2 * position : 2 * position + 2], "little") <= 0xDBFF else 1
        parts.append(_escape(data[2 * position : 2 * (position + step)].decode("utf-16-le", "replace")))
        position += step
    return "".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
