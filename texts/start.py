"""The welcome's lines about the user's units, and /lang's language buttons."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from core.i18n import LANGUAGES, t
from storage.models import Role, Unit
from texts.render import esc

# Each language is named in itself: whoever cannot read the current one still finds their own.
LANGUAGE_NAMES = {"vi": "🇻🇳 Tiếng Việt", "en": "🇬🇧 English"}
LANGUAGE_CALLBACK = "lang:"
_LANGUAGE_PRESS = re.compile(r"lang:([a-z]{2})")
MAX_UNITS_NAMED = 10  # a focal point of many units: the welcome names the first ones and counts the rest


def language_keyboard(current: str) -> dict[str, Any]:
    """Bot API JSON: one button per language, the current one ticked."""
    return {
        "inline_keyboard": [
            [
                {
                    "text": ("✓ " if lang == current else "") + LANGUAGE_NAMES[lang],
                    "callback_data": LANGUAGE_CALLBACK + lang,
                }
                for lang in LANGUAGES
            ]
        ]
    }


def parse_language_press(data: str | None) -> str | None:
    """The language a /lang button names, or None for anything else (a forged or foreign callback)."""
    match = _LANGUAGE_PRESS.fullmatch(data or "")
    return match.group(1) if match and match.group(1) in LANGUAGES else None


def language_question(lang: str) -> str:
    return t(lang, "Which language should I write to you in?")


def unit_names(lang: str, units: Sequence[Unit]) -> str:
    """ "<b>Văn phòng Bộ</b> (VPB), <b>Thanh tra Bộ</b> (TTB)": names escaped, at most MAX_UNITS_NAMED."""
    shown = ", ".join(f"<b>{esc(unit.name)}</b> ({esc(unit.code)})" for unit in units[:MAX_UNITS_NAMED])
    if len(units) > MAX_UNITS_NAMED:
        shown += " " + t(lang, "and {count} more unit(s)", count=len(units) - MAX_UNITS_NAMED)
    return shown


def welcome_units(lang: str, roles: Mapping[Role, Sequence[Unit]]) -> list[str]:
    """One line per role the user holds in units: which units those are."""
    lines = []
    if roles.get(Role.FOCAL):
        lines.append(t(lang, "You are a focal point of {units}.", units=unit_names(lang, roles[Role.FOCAL])))
    if roles.get(Role.HEAD):
        lines.append(t(lang, "You are a head of {units}.", units=unit_names(lang, roles[Role.HEAD])))
    return lines


def greeting(lang: str, name: str) -> str:
    return t(lang, "Hello {name}! I am the ISO committee's reminder bot.", name=esc(name))


def unit_label(unit: Unit | None) -> str:
    """`<b>Văn phòng Bộ</b> (VPB)`, as the invite's answer names the unit linked."""
    return f"<b>{esc(unit.name)}</b> ({esc(unit.code)})" if unit is not None else ""


def help_text(lang: str, commands: Sequence[tuple[str, str]], footer: str = "") -> str:
    """/help: each command in the form this user may run it (usage, description: msgids), then `footer`."""
    lines = [f"<b>{t(lang, 'Commands you can use')}</b>"]
    lines += [f"{t(lang, usage)} — {t(lang, description)}" for usage, description in commands]
    if footer:
        lines += ["", footer]
    return "\n".join(lines)
