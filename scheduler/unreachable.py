"""People who cannot be reached (403, blocked the bot): the secretaries are told at the next planning tick.

`notify_unreachable` gathers them into one message per reachable secretary and admin, keyed
`unreachable:{content id}:{secretary}` and queued in the transaction that marks them told.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import normalise_language
from scheduler.notices import UNREACHABLE, committee_recipients, content_id
from storage import planning
from storage.members import UNREACHABLE_ERROR, mark_unreachable
from storage.outbox import Outgoing, enqueue
from storage.planning import PersonInfo
from texts.notices import unreachable_text
from texts.render import person_label

log = logging.getLogger(__name__)

UNREACHABLE_KIND = UNREACHABLE.kind

__all__ = ["UNREACHABLE_ERROR", "UNREACHABLE_KIND", "mark_unreachable", "notify_unreachable"]


async def notify_unreachable(
    session: AsyncSession, *, now: datetime, recipients: Sequence[PersonInfo], default_language: str
) -> tuple[int, int]:
    """Tell the committee (`recipients`: its members; the reachable ones are told) about every person marked
    unreachable and not reported yet. Returns (people reported, messages queued)."""
    claimed = await planning.claim_unreachable(session, now=now)
    if not claimed:
        return 0, 0
    found = await planning.unreachable_people(session, [pid for pid, _ in claimed])
    listed = [(pid, event) for pid, event in claimed if pid in found and not found[pid][0].reachable]
    if not listed:
        return 0, 0
    people = sorted((found[pid] for pid, _ in listed), key=lambda p: (person_label(p[0]).casefold(), p[0].id))
    whos = [(person_label(person), codes) for person, codes in people]
    to = committee_recipients(recipients, exclude={pid for pid, _ in listed})
    if not to:
        log.warning("%d person(s) cannot be reached and no secretary can be told", len(listed))
        return 0, 0
    content = content_id(f"{pid}:{event}" for pid, event in listed)
    texts: dict[str, str] = {}
    messages = []
    for secretary in to:
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
    log.warning("%d person(s) cannot be reached; %d secretary(ies) told", len(listed), len(to))
    return len(listed), await enqueue(session, messages, now=now)
