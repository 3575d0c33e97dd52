"""Extension requests in words: the move of a deadline, the request as the secretaries receive it, the decision
or closing as the requester does, and the secretary's prompt for a rejection's reason."""

from __future__ import annotations

from datetime import date

from core.i18n import t
from storage.models import Commitment, Unit
from texts.render import esc, fmt_date, shorten


def _title(commitment: Commitment) -> str:
    return f"<b>#{commitment.id} · {esc(shorten(commitment.title, 200))}</b>"


REASON_LIMIT = 1000


def deadline_move(lang: str, old: date, new: date) -> str:
    """ "03/12/2026 → 10/12/2026 (7 more days)": both dates and how much time is asked for."""
    days = (new - old).days
    if days == 1:
        return t(lang, "{old} → {new} (1 more day)", old=fmt_date(old), new=fmt_date(new))
    return t(lang, "{old} → {new} ({days} more days)", old=fmt_date(old), new=fmt_date(new), days=days)


def request_text(lang: str, who: str, commitment: Commitment, unit: Unit, new_due: date, reason: str) -> str:
    """To the secretaries: who asks to move which deadline, to when and why (Approve / Reject below)."""
    return "\n".join(
        [
            "📅 " + t(lang, "Request to extend a deadline"),
            _title(commitment),
            f"{t(lang, 'Unit')}: {esc(unit.name)} ({esc(unit.code)})",
            f"{t(lang, 'Deadline')}: {deadline_move(lang, commitment.due_date, new_due)}",
            t(lang, "Asked by: {who}", who=esc(who)),
            t(lang, "Reason: {reason}", reason=esc(shorten(reason, REASON_LIMIT))),
            "",
            t(lang, "Or by command: /approve {id} [another date] or /reject {id} <reason>", id=commitment.id),
        ]
    )


def decision_text(lang: str, approved: bool, commitment: Commitment, old_due: date, reason: str) -> str:
    """To the requester. Approved: the deadline as it now stands (the date asked, or the one the secretary chose)."""
    if approved:
        head = "✅ " + t(
            lang,
            "Your request was approved: the deadline of #{id} moves {move}.",
            id=commitment.id,
            move=deadline_move(lang, old_due, commitment.due_date),
        )
        return head + "\n" + _title(commitment)
    lines = [
        "❌ "
        + t(
            lang,
            "Your request to extend #{id} was rejected; the deadline stays {old}.",
            id=commitment.id,
            old=fmt_date(old_due),
        ),
        _title(commitment),
    ]
    if reason:
        lines.append(t(lang, "Reason: {reason}", reason=esc(shorten(reason, REASON_LIMIT))))
    return "\n".join(lines)


def closed_text(lang: str, commitment: Commitment, asked: date, why: str) -> str:
    """To the requester whose request became moot: the commitment was done, cancelled or its deadline edited."""
    reasons = {
        "done": t(lang, "#{id} was marked done.", id=commitment.id),
        "cancelled": t(lang, "#{id} was cancelled.", id=commitment.id),
        "edited": t(
            lang, "The deadline of #{id} was changed to {due}.", id=commitment.id, due=fmt_date(commitment.due_date)
        ),
    }
    return "\n".join(
        [
            "ℹ️ "
            + t(
                lang,
                "Your request to move #{id} to {date} is closed without a decision:",
                id=commitment.id,
                date=fmt_date(asked),
            )
            + " "
            + reasons.get(why, esc(why)),
            _title(commitment),
        ]
    )


def reason_prompt(lang: str, commitment_id: int) -> str:
    """Asked of the secretary who pressed Reject. The `/reject <id>` in it is how the reply is recognised."""
    return t(
        lang,
        "Why is the request to extend #{id} rejected? Reply to this message with the reason (it reaches the"
        " requester), or send /reject {id} <reason>.",
        id=commitment_id,
    )


def verdict(lang: str, status: str, who: str, new_due: date, reason: str = "") -> str:
    """The line added under a request once decided, for the secretaries who see it."""
    if status == "approved":
        return t(lang, "Approved by {who}: new deadline {date}.", who=esc(who), date=fmt_date(new_due))
    if status == "closed":
        return t(lang, "Closed: the commitment is no longer open, or its deadline was changed.")
    text = t(lang, "Rejected by {who}.", who=esc(who))
    return text + (" " + t(lang, "Reason: {reason}", reason=esc(shorten(reason, 300))) if reason else "")
