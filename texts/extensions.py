"""Extension requests in words: the move of a deadline, and the request as the secretaries receive it."""

from __future__ import annotations

from datetime import date

from core.i18n import t
from storage.models import Commitment, Unit
from texts.render import esc, fmt_date, shorten

REASON_LIMIT = 1000


def deadline_move(lang: str, old: date, new: date) -> str:
    """ "03/12/2026 → 10/12/2026 (7 more days)": both dates and how much time is asked for."""
    days = (new - old).days
    if days == 1:
        return t(lang, "{old} → {new} (1 more day)", old=fmt_date(old), new=fmt_date(new))
    return t(lang, "{old} → {new} ({days} more days)", old=fmt_date(old), new=fmt_date(new), days=days)


def extension_request_text(
    lang: str, *, who: str, commitment: Commitment, unit: Unit, new_due: date, reason: str
) -> str:
    """To the secretaries, with Approve / Reject under it: what, whose, the move, who asks and why."""
    return "\n".join(
        [
            "📅 " + t(lang, "Request to extend a deadline"),
            f"<b>#{commitment.id} · {esc(shorten(commitment.title, 200))}</b>",
            f"{t(lang, 'Unit')}: {esc(unit.name)} ({esc(unit.code)})",
            f"{t(lang, 'Deadline')}: {deadline_move(lang, commitment.due_date, new_due)}",
            t(lang, "Asked by: {who}", who=esc(who)),
            t(lang, "Reason: {reason}", reason=esc(shorten(reason, REASON_LIMIT))),
        ]
    )
