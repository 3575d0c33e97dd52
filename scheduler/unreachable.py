"""A person who cannot be reached (403, blocked the bot): stop sending to them and tell the committee."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import t
from storage.events import record
from storage.members import committee
from storage.models import Membership, OutboxMessage, OutboxStatus, Person, Unit
from storage.outbox import Outgoing, enqueue
from texts.render import esc, person_name

log = logging.getLogger(__name__)

UNREACHABLE_ERROR = "recipient unreachable (blocked the bot or never started it)"
UNREACHABLE_KIND = "unreachable"


async def mark_unreachable(
    session: AsyncSession,
    *,
    person_id: int,
    now: datetime,
    default_language: str,
    reason: str,
) -> bool:
    """The person cannot be reached (403, or they blocked the bot): stop sending to them and tell the committee.

    Their pending rows become `blocked`. The secretaries and admins who can be reached get one notice per
    time the person becomes unreachable (keyed `unreachable:<person>:<event>:<secretary>`). Returns True when
    the person was reachable until now.
    """
    person = await session.get(Person, person_id)
    if person is None:
        return False
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            or_(OutboxMessage.person_id == person_id, OutboxMessage.chat_id == person.telegram_id),
        )
        .values(status=OutboxStatus.BLOCKED, last_error=UNREACHABLE_ERROR)
        .execution_options(synchronize_session=False)
    )
    changed = await session.execute(
        update(Person)
        .where(Person.id == person_id, Person.reachable.is_(True))
        .values(reachable=False)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    event = record(session, at=now, action="unreachable", actor_id=person_id, note=reason)
    await session.flush()
    codes = list(
        await session.scalars(
            select(Unit.code)
            .join(Membership, Membership.unit_id == Unit.id)
            .where(Membership.person_id == person_id)
            .distinct()
            .order_by(Unit.code)
        )
    )
    who = person_name(person) + (f" ({esc(', '.join(codes))})" if codes else "")
    notices = [
        Outgoing(
            key=f"{UNREACHABLE_KIND}:{person_id}:{event.id}:{secretary.id}",
            kind=UNREACHABLE_KIND,
            chat_id=secretary.telegram_id,
            person_id=secretary.id,
            text=unreachable_notice(secretary.language or default_language, who),
        )
        for secretary in await committee(session)
        if secretary.reachable and secretary.id != person_id
    ]
    if not notices:
        log.warning("%s cannot be reached and no secretary can be told", person.telegram_id)
    await enqueue(session, notices, now=now)
    return True


def unreachable_notice(lang: str, who: str) -> str:
    """The secretaries' notice; `who` is already HTML."""
    return t(
        lang,
        "⚠️ {who} can no longer be reached in Telegram: they blocked the bot or never started it. "
        "Messages to them are recorded as not delivered; new ones will reach them once they write to the bot again.",
        who=who,
    )
