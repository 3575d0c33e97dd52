"""The durable outbox and every SQL statement of its queue: enqueue, candidates, claim, recover, settle.

A row's key is unique: enqueueing it twice is a no-op (INSERT … ON CONFLICT DO NOTHING), so the planner may run
any number of times on any number of instances. The drain (scheduler.drain) holds no SQL; it calls these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Commitment, OutboxMessage, OutboxStatus, Person, Status

_outbox = cast(Table, OutboxMessage.__table__)


class OutboxKind(StrEnum):
    """Every value of the outbox `kind` column, declared once (str-valued: the column keeps its values).

    scheduler.notices gives each its recipients, grouping and renderer; nothing writes a kind as a literal.
    """

    REMINDER = "reminder"  # before, on and after the deadline
    ESCALATION = "escalation"
    NO_FOCAL = "no_focal"
    UNREACHABLE = "unreachable"
    DIGEST = "digest"
    UNIT_DIGEST = "unit_digest"
    BROADCAST = "broadcast"
    BROADCAST_REPORT = "report"
    EXTENSION_REQUEST = "extension_request"
    EXTENSION_DECISION = "decision"
    NEW_COMMITMENT = "new_commitment"
    DUE_CHANGED = "due_changed"  # /edit moved a deadline: told to the unit
    GROUP_UNLINKED = "group_unlinked"  # a unit's group chat no longer gets its messages: told to the unit


@dataclass
class Outgoing:
    """A notification to be queued: already rendered, addressed to one chat."""

    key: str
    kind: OutboxKind
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


def outbox_row(message: Outgoing, now: datetime) -> dict[str, Any]:
    return {
        "key": message.key,
        "kind": message.kind,
        "chat_id": message.chat_id,
        "person_id": message.person_id,
        "commitment_id": message.commitment_id,
        "batch": message.batch,
        "text": message.text,
        "reply_markup": message.reply_markup,
        "media": message.media,
        "file_name": message.file_name,
        "file_data": message.file_data,
        "file_id": message.file_id,
        "priority": message.priority,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "not_before": message.not_before or now,
        "created_at": now,
        "last_error": "",
    }


async def enqueue(session: AsyncSession, messages: Sequence[Outgoing], *, now: datetime) -> int:
    """Queue the messages whose key is new; returns how many were new.

    One cached INSERT … ON CONFLICT (key) DO NOTHING … RETURNING run for all rows (≈ 25 µs a row on SQLite,
    where a multi-VALUES statement compiled per chunk costs ten times that); RETURNING counts the new rows
    on both databases, as asyncpg reports no row count for an executemany.
    """
    if not messages:
        return 0
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # On the table, not the ORM entity: the ORM's bulk insert splits the rows into one statement per run of
    # rows with the same columns set to NULL (commitment_id of grouped escalations), ~20 times slower.
    statement = insert(_outbox).on_conflict_do_nothing(index_elements=["key"]).returning(_outbox.c.id)
    result = await session.execute(statement, [outbox_row(m, now) for m in messages])
    return len(result.all())


async def sent_about(session: AsyncSession, *, chat_id: int, message_id: int) -> int | None:
    """The commitment an outbox message delivered as (chat, Telegram message id) was about, if any."""
    return await session.scalar(
        select(OutboxMessage.commitment_id).where(
            OutboxMessage.chat_id == chat_id, OutboxMessage.telegram_message_id == message_id
        )
    )


# -- the queue, for the drain ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """The first due row of one chat."""

    id: int
    chat_id: int


@dataclass(frozen=True)
class QueuedMessage:
    """One outbox row as a channel sends it; `attempts` counts this one once claimed."""

    id: int
    key: str
    kind: str
    chat_id: int
    person_id: int | None
    text: str
    reply_markup: dict[str, Any] | None
    media: str | None
    file_name: str | None
    file_data: bytes | None
    file_id: str | None
    attempts: int


@dataclass(frozen=True)
class Pending:
    """A pending row and the facts that decide whether it may still go."""

    message: QueuedMessage
    commitment_id: int | None
    reachable: bool | None  # of the person it is for (None: no such person)
    commitment_status: Status | None
    due_date: date | None


@dataclass(frozen=True)
class Outcome:
    """What became of a row: its new status and the columns that change with it (None: unchanged)."""

    status: OutboxStatus
    last_error: str | None = None
    sent_at: datetime | None = None
    message_id: int | None = None
    attempts: int | None = None

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {"status": self.status}
        if self.last_error is not None:
            values["last_error"] = self.last_error
        if self.sent_at is not None:
            values["sent_at"] = self.sent_at
        if self.message_id is not None:
            values["telegram_message_id"] = self.message_id
        if self.attempts is not None:
            values["attempts"] = self.attempts
        return values


def sent(*, at: datetime, message_id: int) -> Outcome:
    return Outcome(OutboxStatus.SENT, last_error="", sent_at=at, message_id=message_id)


def failed(error: str) -> Outcome:
    return Outcome(OutboxStatus.FAILED, last_error=error)


def blocked(error: str) -> Outcome:
    return Outcome(OutboxStatus.BLOCKED, last_error=error)


def retry(error: str, *, attempts: int | None = None) -> Outcome:
    """`pending` again; `attempts` given: the attempt is not counted (the row's count is set back)."""
    return Outcome(OutboxStatus.PENDING, last_error=error, attempts=attempts)


async def candidates(session: AsyncSession, *, now: datetime, limit: int) -> list[Head]:
    """The first due row of each chat with something due, most urgent (lowest priority, then oldest) first."""
    first_priority = func.min(OutboxMessage.priority)
    first_id = func.min(OutboxMessage.id)
    rows = await session.execute(
        select(OutboxMessage.chat_id, first_id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.not_before <= now)
        .group_by(OutboxMessage.chat_id)
        .order_by(first_priority, first_id)
        .limit(limit)
    )
    return [Head(id=row_id, chat_id=chat_id) for chat_id, row_id in rows]


async def recover(session: AsyncSession) -> int:
    """Rows left `sending` (a crash, a previous leader) become `pending` again; returns how many."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.SENDING)
        .values(status=OutboxStatus.PENDING)
        .execution_options(synchronize_session=False)
    )
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


def _pending_query(*where: Any) -> Any:
    return (
        select(OutboxMessage, Person.reachable, Commitment.status, Commitment.due_date)
        .outerjoin(
            Person,
            or_(
                Person.id == OutboxMessage.person_id,
                and_(OutboxMessage.person_id.is_(None), Person.telegram_id == OutboxMessage.chat_id),
            ),
        )
        .outerjoin(Commitment, Commitment.id == OutboxMessage.commitment_id)
        .where(*where)
    )


def _as_pending(row: OutboxMessage, reachable: bool | None, status: Status | None, due: date | None) -> Pending:
    message = QueuedMessage(
        id=row.id,
        key=row.key,
        kind=row.kind,
        chat_id=row.chat_id,
        person_id=row.person_id,
        text=row.text,
        reply_markup=row.reply_markup,
        media=row.media,
        file_name=row.file_name,
        file_data=row.file_data,
        file_id=row.file_id,
        attempts=row.attempts,
    )
    return Pending(message, row.commitment_id, reachable, status, due)


async def look(session: AsyncSession, row_id: int) -> Pending | None:
    """The row if it is still pending, with its person's reachability and its commitment's status and due date.

    The person is the row's own, or for a row without one the person whose Telegram id is the chat.
    """
    found = (await session.execute(_pending_query(OutboxMessage.id == row_id))).first()
    if found is None:
        return None
    row, reachable, commitment_status, due_date = found
    if row.status != OutboxStatus.PENDING:
        return None
    return _as_pending(row, reachable, commitment_status, due_date)


async def look_many(session: AsyncSession, row_ids: Sequence[int]) -> dict[int, Pending]:
    """`look` for many rows in one query: those still pending, by id (the drain claims a batch at a time)."""
    if not row_ids:
        return {}
    found = await session.execute(
        _pending_query(OutboxMessage.id.in_(list(row_ids)), OutboxMessage.status == OutboxStatus.PENDING)
    )
    return {row.id: _as_pending(row, reachable, status, due) for row, reachable, status, due in found}


async def claim_many(session: AsyncSession, row_ids: Sequence[int]) -> set[int]:
    """`claim` for many rows in one statement; returns the ids that were still pending and are now `sending`."""
    if not row_ids:
        return set()
    result = await session.execute(
        update(_outbox)
        .where(_outbox.c.id.in_(list(row_ids)), _outbox.c.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, attempts=_outbox.c.attempts + 1)
        .returning(_outbox.c.id)
    )
    return set(result.scalars())


async def release(session: AsyncSession, row_ids: Sequence[int]) -> None:
    """Claimed rows the drain did not send after all (it stopped): `pending` again, the claim not counted."""
    if row_ids:
        await session.execute(
            update(_outbox)
            .where(_outbox.c.id.in_(list(row_ids)), _outbox.c.status == OutboxStatus.SENDING)
            .values(status=OutboxStatus.PENDING, attempts=_outbox.c.attempts - 1)
        )


async def claim(session: AsyncSession, row_id: int) -> bool:
    """`pending` → `sending`, attempts + 1; False when the row was no longer pending."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def settle(session: AsyncSession, row_id: int, outcome: Outcome) -> None:
    """Record what became of a row (sent, failed, blocked, or pending again)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(**outcome.values())
        .execution_options(synchronize_session=False)
    )


_SETTLE_MANY = (
    update(_outbox)
    .where(_outbox.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status", type_=_outbox.c.status.type),
        last_error=func.coalesce(bindparam("b_error", type_=_outbox.c.last_error.type), _outbox.c.last_error),
        sent_at=func.coalesce(bindparam("b_sent_at", type_=_outbox.c.sent_at.type), _outbox.c.sent_at),
        telegram_message_id=func.coalesce(
            bindparam("b_message_id", type_=_outbox.c.telegram_message_id.type), _outbox.c.telegram_message_id
        ),
        attempts=func.coalesce(bindparam("b_attempts", type_=_outbox.c.attempts.type), _outbox.c.attempts),
    )
)


async def settle_many(session: AsyncSession, outcomes: Mapping[int, Outcome]) -> None:
    """`settle` for many rows: one cached statement run for all (a None column of an outcome stays as it is)."""
    if not outcomes:
        return
    await session.execute(
        _SETTLE_MANY,
        [
            {
                "b_id": row_id,
                "b_status": o.status,
                "b_error": o.last_error,
                "b_sent_at": o.sent_at,
                "b_message_id": o.message_id,
                "b_attempts": o.attempts,
            }
            for row_id, o in outcomes.items()
        ],
    )


async def person_of_chat(session: AsyncSession, chat_id: int) -> int | None:
    """The person whose private chat this is, if any."""
    return await session.scalar(select(Person.id).where(Person.telegram_id == chat_id))


async def sent_copies(session: AsyncSession, *, key_prefix: str) -> list[tuple[int, int, str]]:
    """(chat, message id, text) of every delivered row whose key starts with `key_prefix`: the copies of one
    notice in each recipient's chat (e.g. a request to extend, for every secretary), to be edited later."""
    rows = await session.execute(
        select(OutboxMessage.chat_id, OutboxMessage.telegram_message_id, OutboxMessage.text).where(
            OutboxMessage.key.startswith(key_prefix, autoescape=True),
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.telegram_message_id.is_not(None),
        )
    )
    return [(chat, int(message), text) for chat, message, text in rows.tuples() if message is not None]


async def fail_pending_of_chat(session: AsyncSession, *, chat_id: int, error: str) -> int:
    """Every pending row of a chat that should get nothing more (a group no longer linked) fails unsent."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.chat_id == chat_id, OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.FAILED, last_error=error)
        .execution_options(synchronize_session=False)
    )
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


async def readdress_pending(session: AsyncSession, *, old_chat_id: int, new_chat_id: int) -> int:
    """A group that became a supergroup has a new id: what is pending for it goes there."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.chat_id == old_chat_id, OutboxMessage.status == OutboxStatus.PENDING)
        .values(chat_id=new_chat_id)
        .execution_options(synchronize_session=False)
    )
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
