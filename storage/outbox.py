"""The durable outbox: every notification is a row with a unique key before Telegram sees it.

Enqueueing the same key twice is a no-op on SQLite and PostgreSQL alike (INSERT … ON CONFLICT DO NOTHING),
so the planner may run any number of times, on any number of instances, and never duplicates a delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage, OutboxStatus


@dataclass
class Outgoing:
    """A notification to be queued: already rendered, addressed to one chat."""

    key: str
    kind: str
    chat_id: int
    text: str = ""
    reply_markup: dict[str, Any] | None = None
    person_id: int | None = None
    commitment_id: int | None = None
    batch: str | None = None
    media: str | None = None
    file_name: str | None = None
    file_data: bytes | None = None
    file_id: str | None = None
    priority: int = 0
    not_before: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _insert(session: AsyncSession) -> Insert:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "postgresql":
        return postgresql.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["key"])
    return sqlite.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["key"])


async def enqueue(session: AsyncSession, messages: Sequence[Outgoing], *, now: datetime, chunk: int = 500) -> int:
    """Queue the messages whose key is new; returns how many were new."""
    inserted = 0
    for start in range(0, len(messages), chunk):
        rows = [
            {
                "key": m.key,
                "kind": m.kind,
                "chat_id": m.chat_id,
                "person_id": m.person_id,
                "commitment_id": m.commitment_id,
                "batch": m.batch,
                "text": m.text,
                "reply_markup": m.reply_markup,
                "media": m.media,
                "file_name": m.file_name,
                "file_data": m.file_data,
                "file_id": m.file_id,
                "priority": m.priority,
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "not_before": m.not_before or now,
                "created_at": now,
                "last_error": "",
            }
            for m in messages[start : start + chunk]
        ]
        result = await session.execute(_insert(session).values(rows))
        inserted += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return inserted
