"""The one place that turns register data into text: escaping, dates, statuses, splitting long texts.

Every user-supplied string passes through `esc` here; handlers never format HTML themselves.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from core.i18n import N_, t
from storage.models import STATUS_LABELS, Commitment, Event, Evidence, Kind, Person, Status, Unit

TELEGRAM_TEXT_LIMIT = 4096

WEEKDAY_NAMES = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def _param(value: object) -> object:
    if isinstance(value, date):
        return fmt_date(value)
    return esc(value) if isinstance(value, str) else value


def user_error_text(lang: str, msgid: str, params: Mapping[str, object], *, usage: str | None = None) -> str:
    """A mistake the user can fix (handlers' UserError), then the command's correct form (`usage`, a msgid).

    `params` are plain: what the user typed goes back to them escaped, never as markup; dates as DD/MM/YYYY.
    """
    plain = {key: _param(value) for key, value in params.items()}
    lines = [t(lang, msgid, **plain)] if msgid else []
    if usage:
        lines.append(t(lang, "Usage: {usage}", usage=t(lang, usage)))
    return "\n".join(lines)


def fmt_date(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def fmt_datetime(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{fmt_date(local.date())} {local:%H:%M}"


def weekday(lang: str, day: date) -> str:
    return t(lang, WEEKDAY_NAMES[day.weekday()])


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def kind_label(lang: str, kind: Kind) -> str:
    return t(lang, "legal deadline") if kind == Kind.LEGAL else t(lang, "internal deadline")


def status_label(lang: str, commitment: Commitment, tz: ZoneInfo) -> str:
    """The status in words (STATUS_LABELS), saying also whether a done one was late and how far one in progress is."""
    if commitment.status == Status.DONE and commitment.done_at:
        if commitment.done_at.astimezone(tz).date() > commitment.due_date:
            return t(lang, "done late")
    if commitment.status == Status.IN_PROGRESS:
        return t(lang, "in progress {percent}%", percent=commitment.progress)
    return t(lang, STATUS_LABELS[Status(commitment.status)])


def due_phrase(lang: str, due: date, today: date) -> str:
    days = (due - today).days
    if days > 1:
        return t(lang, "{days} days left", days=days)
    if days == 1:
        return t(lang, "due tomorrow")
    if days == 0:
        return t(lang, "due today")
    return overdue_days(lang, -days)


def overdue_days(lang: str, days: int) -> str:
    """ "overdue N days" ("overdue 1 day" for one; the words have no HTML)."""
    return t(lang, "overdue 1 day") if days == 1 else t(lang, "overdue {days} days", days=days)


def legal_deadline_refusal(lang: str, commitment: Commitment) -> str:
    """Why a legal deadline cannot be extended (/extend, the "Ask to extend" button): one text for both."""
    return t(
        lang,
        "#{id} has a legal deadline set by {basis}; the committee cannot move it. "
        "Add a note instead: /note {id} <what is holding it up>",
        id=commitment.id,
        basis=esc(commitment.legal_basis or t(lang, "a legal document")),
    )


def evidence_caption(commitment: Commitment) -> str:
    """The caption of an evidence file sent back to whoever asked for it: which commitment it proves."""
    return f"#{commitment.id} · {esc(shorten(commitment.title, 200))}"


def task_link(commitment_id: int) -> str:
    """`#123 /task_123`: the number, and the command Telegram makes tappable (SPEC: every list shows it)."""
    return f"#{commitment_id} /task_{commitment_id}"


def commitment_line(lang: str, commitment: Commitment, unit: Unit, today: date, *, show_unit: bool) -> str:
    """One line of a list: #id (tappable), unit, title, due date and how near it is (or its closed status)."""
    overdue = commitment.is_open and commitment.due_date < today
    unit_part = f"<b>{esc(unit.code)}</b> · " if show_unit else ""
    if commitment.is_open:
        marker = "🔴" if overdue else ("🟠" if (commitment.due_date - today).days <= 3 else "▫️")
        phrase = due_phrase(lang, commitment.due_date, today)
        phrase = f"<b>{phrase}</b>" if overdue else phrase
    else:
        marker = "✅" if commitment.status == Status.DONE else "✖️"
        phrase = t(lang, STATUS_LABELS[commitment.status])
    return (
        f"{marker} {task_link(commitment.id)} {unit_part}{esc(shorten(commitment.title, 120))}\n"
        f"    {t(lang, 'due')} {fmt_date(commitment.due_date)} — {phrase}"
    )


def commitment_card(lang: str, commitment: Commitment, unit: Unit, today: date, tz: ZoneInfo) -> str:
    """The full picture of one commitment, for /task and reminders."""
    lines = [
        f"<b>#{commitment.id} · {esc(commitment.title)}</b>",
        f"{t(lang, 'Unit')}: {esc(unit.name)} ({esc(unit.code)})",
        f"{t(lang, 'Deadline')}: {weekday(lang, commitment.due_date)}, {fmt_date(commitment.due_date)}"
        + (f" — {due_phrase(lang, commitment.due_date, today)}" if commitment.is_open else ""),
        f"{t(lang, 'Kind')}: {kind_label(lang, commitment.kind)}",
    ]
    if commitment.legal_basis:
        lines.append(f"{t(lang, 'Legal basis')}: {esc(commitment.legal_basis)}")
    if commitment.source:
        lines.append(f"{t(lang, 'Source')}: {esc(commitment.source)}")
    if commitment.recurrence:
        lines.append(f"{t(lang, 'Repeats')}: <code>{esc(commitment.recurrence)}</code>")
    if commitment.ref:
        lines.append(f"{t(lang, 'Reference')}: {esc(commitment.ref)}")
    lines.append(f"{t(lang, 'Status')}: {status_label(lang, commitment, tz)}")
    return "\n".join(lines)


ACTION_LABELS = {
    "created": N_("created"),
    "updated": N_("updated"),
    "linked": N_("linked"),
    "done": N_("marked done"),
    "done_late": N_("marked done after the deadline"),
    "progress": N_("reported progress"),
    "note": N_("added a note"),
    "reopened": N_("reopened"),
    "evidence": N_("sent evidence"),
    "extension_requested": N_("asked for an extension"),
    "extension_approved": N_("approved the extension"),
    "extension_rejected": N_("rejected the extension"),
    "extension_closed": N_("closed the request to extend"),
    "cancelled": N_("cancelled"),
    "edited": N_("corrected"),
    "undone": N_("undid the done"),
}

# Why a pending request to extend was closed (storage.status.CLOSED_BY_*: the event's note is the code).
CLOSED_NOTES = {
    "done": N_("the task was marked done"),
    "cancelled": N_("the task was cancelled"),
    "edited": N_("its deadline was corrected"),
}


FIELD_LABELS = {
    "status": N_("status"),
    "due_date": N_("deadline"),
    "progress": N_("progress"),
    "file": N_("file"),
    "role": N_("role"),
    "title": N_("title"),
    "kind": N_("kind"),
    "legal_basis": N_("legal basis"),
    "source": N_("source"),
    "recurrence": N_("recurrence"),
    "name": N_("name"),
    "parent": N_("parent unit"),
    "ref": N_("reference"),
}
ROLE_LABELS = {"focal": N_("focal point"), "head": N_("head"), "secretary": N_("secretary"), "admin": N_("admin")}


def _value(lang: str, field: str, value: str | None) -> str:
    if value is None or value == "":
        return "—"
    if field == "due_date":
        try:
            return fmt_date(date.fromisoformat(value))
        except ValueError:
            return esc(value)
    if field in ("status", "progress"):
        status, _, percent = value.partition(" ")
        known = status in Status.__members__.values()
        label = t(lang, STATUS_LABELS[Status(status)]) if known else esc(status)
        return f"{label} {esc(percent)}".strip()
    if field == "role" and value in ROLE_LABELS:
        return t(lang, ROLE_LABELS[value])
    if field == "kind" and value in ("legal", "internal"):
        return kind_label(lang, Kind(value))
    return esc(shorten(value, 80))


def history_line(lang: str, event: Event, tz: ZoneInfo) -> str:
    who = event.actor.full_name if event.actor and event.actor.full_name else event.actor_label
    action = t(lang, ACTION_LABELS[event.action]) if event.action in ACTION_LABELS else esc(event.action)
    change = ""
    if event.field:
        field = t(lang, FIELD_LABELS[event.field]) if event.field in FIELD_LABELS else esc(event.field)
        old, new = _value(lang, event.field, event.old_value), _value(lang, event.field, event.new_value)
        change = f" ({field}: {new})" if event.old_value is None else f" ({field}: {old} → {new})"
    if event.action == "extension_closed" and event.note in CLOSED_NOTES:
        note = f" — <i>{t(lang, CLOSED_NOTES[event.note])}</i>"
    else:
        note = f" — <i>{esc(shorten(event.note, 300))}</i>" if event.note else ""
    return f"• {fmt_datetime(event.at, tz)} · {esc(who or '?')}: {action}{change}{note}"


def person_name(person: Person) -> str:
    if person.full_name:
        return esc(person.full_name)
    if person.username:
        return "@" + esc(person.username)
    return f"id {person.telegram_id}"


_TAG_OR_ENTITY = re.compile(r"<[^>]*>|&[#a-zA-Z0-9]+;")


def _safe_cut(text: str, limit: int) -> int:
    """A cut point ≤ limit that is not inside a tag or an HTML entity, preferring a space."""
    cut = limit
    for match in _TAG_OR_ENTITY.finditer(text, 0, limit + 16):
        if match.start() < cut < match.end():
            cut = match.start()
    space = text.rfind(" ", 0, cut)
    return space if space > cut // 2 else cut


_TAG = re.compile(r"<(/?)([a-zA-Z-]+)[^>]*>")


def _open_tags(text: str) -> list[tuple[str, str]]:
    """Tags opened in `text` and not closed there, outermost first, as (name, opening tag)."""
    stack: list[tuple[str, str]] = []
    for match in _TAG.finditer(text):
        if match.group(1):
            if stack and stack[-1][0] == match.group(2):
                stack.pop()
        else:
            stack.append((match.group(2), match.group(0)))
    return stack


def split_message(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split at line boundaries so no part exceeds `limit` characters and no entity is cut.

    Lines are produced with their tags closed on the same line, so a line boundary is always safe.
    A single line longer than the limit (a very long note) is cut between words, outside tags.
    """
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = _safe_cut(line, limit - 64)  # room to close and reopen tags around the cut
            if current:
                parts.append(current)
                current = ""
            head, line = line[:cut], line[cut:].lstrip(" ")
            still_open = _open_tags(head)
            parts.append(head + "".join(f"</{name}>" for name, _ in reversed(still_open)))
            line = "".join(tag for _, tag in still_open) + line
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        parts.append(current)
    return parts or [text]


def file_size(lang: str, size: int) -> str:
    """A file's size as people read it: bytes for a small file, then KB (rounded up), then MB (one decimal)."""
    if size < 1024:
        return t(lang, "{size} bytes", size=size)
    if size < 1024 * 1024:
        return t(lang, "{size} KB", size=-(-size // 1024))
    megabytes = f"{size / (1024 * 1024):.1f}"
    return t(lang, "{size} MB", size=megabytes.replace(".", ",") if lang == "vi" else megabytes)


def evidence_line(lang: str, evidence: Evidence, tz: ZoneInfo) -> str:
    name = evidence.file_name or (t(lang, "photo") if evidence.media == "photo" else t(lang, "file"))
    size = f" ({file_size(lang, evidence.file_size)})" if evidence.file_size else ""
    who = person_name(evidence.person) if evidence.person else "?"
    return f"📎 {esc(name)}{size} · {who} · {fmt_datetime(evidence.at, tz)}"


def task_view(
    lang: str,
    commitment: Commitment,
    unit: Unit,
    today: date,
    tz: ZoneInfo,
    *,
    history: list[Event] | None = None,
    evidence: list[Evidence] | None = None,
) -> str:
    """/task: the card, the evidence files and the full history."""
    lines = [commitment_card(lang, commitment, unit, today, tz)]
    if evidence:
        lines += ["", f"<b>{t(lang, 'Evidence')}</b>"] + [evidence_line(lang, e, tz) for e in evidence]
    if history is not None:
        lines += ["", f"<b>{t(lang, 'History')}</b>"]
        lines += [history_line(lang, event, tz) for event in history] or [t(lang, "No changes yet.")]
    return "\n".join(lines)


CAPTION_LIMIT = 1024
PREVIEW_LIMIT = 1500


def broadcast_parts(lang: str, text: str, *, with_file: bool) -> list[str]:
    """A broadcast as sent: a header, then the secretary's text exactly as written (escaped), split by lines.

    With a file, the first part is the file's caption, so it must stay within Telegram's caption limit;
    the text then follows in its own messages if it does not fit.
    """
    header = f"📢 <b>{t(lang, 'Notice from the ISO steering committee')}</b>"
    body = esc(text.strip())
    if with_file:
        caption = f"{header}\n\n{body}" if body else header
        if len(caption) <= CAPTION_LIMIT:
            return [caption]
        return [header, *split_message(body)]
    return split_message(f"{header}\n\n{body}" if body else header)


def broadcast_preview(
    lang: str, text: str, unit_codes: list[str] | None, recipients: int, file_name: str | None
) -> str:
    scope = ", ".join(esc(c) for c in unit_codes) if unit_codes else t(lang, "all units")
    lines = [
        f"<b>{t(lang, 'Preview of the broadcast')}</b>",
        t(lang, "To: {scope} — {count} people (focal points and heads)", scope=scope, count=recipients),
    ]
    if file_name:
        lines.append(t(lang, "With the file {name}", name=esc(file_name)))
    # The preview fits one message with its buttons: the start of the text, as it will read.
    body = text if len(text) <= PREVIEW_LIMIT else text[:PREVIEW_LIMIT].rstrip() + "…"
    lines += ["", esc(body) if text else t(lang, "(no text)")]
    return "\n".join(lines)


def broadcast_report(lang: str, broadcast_id: int, deliveries: list[tuple[str, list[str], str, str]]) -> str:
    """deliveries: (name, unit codes, outcome sent|blocked|failed, error) per person."""
    groups = {"sent": [], "blocked": [], "failed": []}  # type: dict[str, list[str]]
    for name, codes, outcome, error in deliveries:
        who = f"{esc(name)} ({', '.join(esc(c) for c in codes) or '—'})"
        if outcome == "failed" and error:
            who += f": <i>{esc(shorten(error, 120))}</i>"
        groups.setdefault(outcome, []).append(who)
    lines = [
        f"<b>{t(lang, 'Broadcast #{id}: report', id=broadcast_id)}</b>",
        t(
            lang,
            "Delivered: {sent} · blocked the bot: {blocked} · failed: {failed}",
            sent=len(groups["sent"]),
            blocked=len(groups["blocked"]),
            failed=len(groups["failed"]),
        ),
    ]
    titles = {"sent": N_("Delivered"), "blocked": N_("Blocked the bot"), "failed": N_("Failed")}
    for outcome in ("blocked", "failed", "sent"):
        if groups[outcome]:
            lines += ["", f"<b>{t(lang, titles[outcome])}</b>"] + [f"• {who}" for who in groups[outcome]]
    return "\n".join(lines)


def person_label(person: object) -> str:
    """`person_name` as plain text, not escaped (command line, or text that is escaped later).

    Takes anything with `full_name`, `username` and `telegram_id` (Person, planner and digest records).
    """
    full_name = getattr(person, "full_name", "")
    if full_name:
        return str(full_name)
    username = getattr(person, "username", None)
    if username:
        return f"@{username}"
    return f"id {getattr(person, 'telegram_id', '?')}"


def with_outcome(original_html: str, outcome: str) -> str:
    """A pressed message with what came of the press under it (`outcome` is a translated, safe text)."""
    return f"{original_html}\n\n<b>{outcome}</b>".strip()
