"""/export in chat: the workbook's name and caption."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.i18n import t
from texts.render import fmt_datetime


def export_file_name(now: datetime, tz: ZoneInfo) -> str:
    return f"qmsbot-register-{now.astimezone(tz):%Y%m%d-%H%M}.xlsx"


def export_caption(lang: str, now: datetime, tz: ZoneInfo) -> str:
    return t(lang, "The register as of {when}.", when=fmt_datetime(now, tz))
