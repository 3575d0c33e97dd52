"""Reports the committee asked for that become due by themselves: a broadcast's outcome once it has ended."""

from __future__ import annotations

from datetime import datetime

from scheduler.notices import BROADCAST_REPORT
from storage import broadcasts
from storage.db import Database
from storage.models import OutboxStatus, Person
from storage.outbox import Outgoing, enqueue
from texts.render import broadcast_report, person_label, split_message

OUTCOMES = {OutboxStatus.SENT: "sent", OutboxStatus.BLOCKED: "blocked", OutboxStatus.FAILED: "failed"}


async def report_broadcasts(db: Database, *, now: datetime, default_language: str) -> int:
    """For every broadcast whose deliveries have all ended, queue its report to the secretary who sent it."""
    reported = 0
    async with db.session() as session:
        for broadcast, deliveries in await broadcasts.finished(session):
            if not await broadcasts.mark_reported(session, broadcast_id=broadcast.id):
                continue  # another instance reported it
            author = await session.get(Person, broadcast.created_by_id) if broadcast.created_by_id else None
            lang = (author.language if author else None) or default_language
            rows = [
                (
                    person_label(d.person) if d.person else "?",
                    d.unit_codes,
                    OUTCOMES.get(d.status, "failed"),
                    d.error,
                )
                for d in deliveries
            ]
            parts = split_message(broadcast_report(lang, broadcast.id, rows))
            await enqueue(
                session,
                [
                    Outgoing(
                        key=BROADCAST_REPORT.key(broadcast.id, index),
                        kind=BROADCAST_REPORT.kind,
                        chat_id=broadcast.chat_id,
                        person_id=author.id if author else None,
                        text=part,
                    )
                    for index, part in enumerate(parts)
                ],
                now=now,
            )
            reported += 1
    return reported
