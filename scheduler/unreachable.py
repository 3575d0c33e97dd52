"""People who cannot be reached (403, blocked the bot): the secretaries are told at the next planning tick.

`notify_unreachable` gathers them into one message per reachable secretary and admin of their scope, keyed
`unreachable:{content id}:{secretary}` and queued in the transaction that marks them told.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import normalise_language
from scheduler.notices import UNREACHABLE, committee_recipients, content_id, per_recipient, unit_committees
from storage import planning
from storage.members import UNREACHABLE_ERROR, mark_unreachable
from storage.outbox import Outgoing, enqueue
from storage.planning import PersonInfo
from storage.scopes import Secretaries, people_units
from texts.notices import unreachable_text
from texts.render import person_label

log = logging.getLogger(__name__)

UNREACHABLE_KIND = UNREACHABLE.kind

__all__ = ["UNREACHABLE_ERROR", "UNREACHABLE_KIND", "mark_unreachable", "notify_unreachable"]


async def notify_unreachable(
    session: AsyncSession, *, now: datetime, recipients: Secretaries, default_language: str
) -> tuple[int, int]:
    """Tell the committee (`recipients`: its members with their scopes; the reachable ones are told) about every
    person marked unreachable and not reported yet: each secretary of the people of their scope (a person without
    a unit, of the whole register's). Returns (people reported, messages queued)."""
    claimed = await planning.claim_unreachable(session, now=now)
    if not claimed:
        return 0, 0
    found = await planning.unreachable_people(session, [pid for pid, _ in claimed])
    listed = [(pid, event) for pid, event in claimed if pid in found and not found[pid][0].reachable]
    if not listed:
        return 0, 0
    exclude = {pid for pid, _ in listed}
    units = await people_units(session, exclude)
    committees = await unit_committees(session, {u for ids in units.values() for u in ids}, recipients, exclude=exclude)
    whole = committee_recipients(recipients.whole, exclude=exclude)

    def told(pid: int) -> list[PersonInfo]:
        if pid not in units:
            return whole
        people: dict[int, PersonInfo] = {}
        for unit_id in units[pid]:
            people.update((p.id, p) for p in committees.get(unit_id, ()))
        return list(people.values())

    events = dict(listed)
    ordered = sorted(exclude, key=lambda pid: (person_label(found[pid][0]).casefold(), pid))
    messages = []
    reached: set[int] = set()
    for group, to in per_recipient(ordered, lambda pid: pid, {pid: told(pid) for pid in ordered}):
        whos = [(person_label(found[pid][0]), found[pid][1]) for pid in group]
        content = content_id(f"{pid}:{events[pid]}" for pid in group)
        texts: dict[str, str] = {}
        for secretary in to:
            reached.add(secretary.id)
            lang = normalise_language(secretary.language, default_language)
            if lang not in texts:
                texts[lang] = unreachable_text(lang, whos)
            messages.append(
                Outgoing(
                    key=UNREACHABLE.key(content, secretary.id),
                    kind=UNREACHABLE.kind,
                    chat_id=secretary.telegram_id,
                    person_id=secretary.id,
                    text=texts[lang],
                )
            )
    if not messages:
        log.warning("%d person(s) cannot be reached and no secretary can be told", len(listed))
        return 0, 0
    log.warning("%d person(s) cannot be reached; %d secretary(ies) told", len(listed), len(reached))
    return len(listed), await enqueue(session, messages, now=now)
