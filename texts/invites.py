"""The answer to /invite: whom the link is for, the link, when it expires."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.i18n import N_, t
from storage.models import Role, Unit
from texts.render import esc, fmt_datetime


def invite_text(
    lang: str, *, role: Role, unit: Unit | None, bot_username: str, code: str, expires_at: datetime, tz: ZoneInfo
) -> str:
    link = f"https://t.me/{bot_username}?start={code}"
    if unit is None:
        who = t(lang, "a secretary of the ISO committee")
    else:
        named = f"<b>{esc(unit.name)}</b> ({esc(unit.code)})"
        if role is Role.SECRETARY:
            msgid = N_("a secretary of {unit} and every unit below it")
        elif role is Role.HEAD:
            msgid = N_("a head of {unit}")
        else:
            msgid = N_("a focal point of {unit}")
        who = t(lang, msgid, unit=named)
    return (
        t(lang, "Invite link for {who}:", who=who)
        + f"\n{esc(link)}\n"
        + t(
            lang,
            "It works once and expires on {when}. Send it only to the person concerned.",
            when=fmt_datetime(expires_at, tz),
        )
    )
