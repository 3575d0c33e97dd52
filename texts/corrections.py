"""Texts of fixing and cancelling: /edit, /close, /reopen, Undo, /snooze, and the notice of a moved deadline."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from core.i18n import N_, t
from storage.corrections import EditError
from storage.models import Commitment, Kind, Unit
from texts.extensions import deadline_move
from texts.render import esc, fmt_date, fmt_datetime, kind_label, shorten

FIELD_NAMES = {
    "title": N_("title"),
    "due": N_("deadline"),
    "kind": N_("kind"),
    "basis": N_("legal basis"),
    "source": N_("source"),
    "ref": N_("reference"),
    "recurrence": N_("recurrence"),
}

EDIT_ERRORS = {
    EditError.UNKNOWN_FIELD: N_("There is no field {field}. Fields: title, due, kind, basis, source, ref, recurrence."),
    EditError.EMPTY: N_("The new {field} is empty."),
    EditError.TOO_LONG: N_("The new {field} is too long."),
    EditError.BAD_DATE: N_("Write the date as DD/MM/YYYY, e.g. 15/12/2026."),
    EditError.NO_SUCH_DATE: N_("The date {value} does not exist."),
    EditError.DATE_OUT_OF_RANGE: N_("The year of {value} must be between 2000 and 2100."),
    EditError.BAD_KIND: N_("The kind must be legal or internal."),
    EditError.BAD_RECURRENCE: N_("This recurrence rule cannot be used: {detail}"),
    EditError.REF_TAKEN: N_("Another commitment already has the reference {value}."),
    EditError.SAME: N_("#{id} already has that {field}; nothing changed."),
    EditError.CLOSED: N_("#{id} is cancelled; reopen it first: /reopen {id}"),
}


def _value(lang: str, field: str, value: str) -> str:
    if not value:
        return "—"
    if field == "due":
        return fmt_date(date.fromisoformat(value))
    if field == "kind":
        return kind_label(lang, Kind(value))
    return esc(shorten(value, 200))


def edit_error(
    lang: str, error: EditError, *, commitment_id: int, field: str, value: str = "", detail: str = ""
) -> str:
    label = t(lang, FIELD_NAMES[field]) if field in FIELD_NAMES else esc(field)
    return t(lang, EDIT_ERRORS[error], id=commitment_id, field=label, value=esc(value), detail=esc(detail))


def edited(lang: str, commitment_id: int, field: str, old: str, new: str, *, told: bool, closed_request: bool) -> str:
    lines = [
        t(
            lang,
            "Corrected #{id}: {field} {old} → {new}.",
            id=commitment_id,
            field=t(lang, FIELD_NAMES[field]),
            old=_value(lang, field, old),
            new=_value(lang, field, new),
        )
    ]
    if told:
        lines.append(t(lang, "The unit's focal points are told of the new deadline."))
    if closed_request:
        lines.append(t(lang, "The pending request to extend it is closed; the requester is told."))
    return "\n".join(lines)


def due_changed(lang: str, commitment: Commitment, unit: Unit, old_due: date) -> str:
    """To the unit's focal points: the register's deadline of one of their commitments was corrected."""
    return "\n".join(
        [
            "📌 "
            + t(
                lang,
                "The deadline of a task of {unit} was corrected: {move}.",
                unit=f"<b>{esc(unit.name)} ({esc(unit.code)})</b>",
                move=deadline_move(lang, old_due, commitment.due_date),
            ),
            f"<b>#{commitment.id} · {esc(shorten(commitment.title, 200))}</b>",
            t(lang, "Details: /task_{id}", id=commitment.id),
        ]
    )


def closed(lang: str, commitment_id: int, *, closed_request: bool) -> str:
    text = t(lang, "#{id} is cancelled: no more reminders. /reopen {id} undoes it.", id=commitment_id)
    if closed_request:
        text += "\n" + t(lang, "The pending request to extend it is closed; the requester is told.")
    return text


def undone(lang: str, commitment_id: int, status_label: str) -> str:
    return t(
        lang,
        "Undone: #{id} is back to “{status}”. Both steps stay in the history.",
        id=commitment_id,
        status=status_label,
    )


def undo_refused(lang: str, commitment_id: int, *, too_late: bool) -> str:
    if too_late:
        return t(lang, "Too late to undo #{id}; a secretary can reopen it: /reopen {id}", id=commitment_id)
    return t(lang, "Only the person who marked #{id} done, or a secretary, can undo it.", id=commitment_id)


def snoozed(lang: str, commitment_id: int, at: datetime, tz: ZoneInfo) -> str:
    return t(lang, "All right: one more reminder of #{id} on {when}.", id=commitment_id, when=fmt_datetime(at, tz))


def snooze_refused(lang: str, commitment_id: int, due: date) -> str:
    return t(
        lang,
        "#{id} is due today ({due}): it cannot be put off past its deadline. Mark it done, or report progress.",
        id=commitment_id,
        due=fmt_date(due),
    )


def done_text(
    lang: str,
    commitment: Commitment,
    *,
    late: bool,
    kept: bool,
    following: Commitment | None,
    closed_request: bool,
) -> str:
    """The answer to a done: on time or after the deadline, the file kept, the next occurrence, a closed request."""
    if late:
        text = t(
            lang,
            "Done: #{id} is marked done, after the deadline ({due}).",
            id=commitment.id,
            due=fmt_date(commitment.due_date),
        )
    else:
        text = t(lang, "Done: #{id} is marked done.", id=commitment.id)
    if kept:
        text += "\n" + t(lang, "The file is kept as evidence.")
    if following is not None:
        text += "\n" + t(
            lang, "The next occurrence is #{id}, due {due}.", id=following.id, due=fmt_date(following.due_date)
        )
    if closed_request:
        text += "\n" + t(lang, "The pending request to extend it is closed; the requester is told.")
    return text


def deadline_moved(lang: str, commitment_id: int, due: date) -> str:
    return t(lang, "The deadline of #{id} is now {date}.", id=commitment_id, date=fmt_date(due))
