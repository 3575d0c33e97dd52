"""The drain over a test-double channel: a second channel (e-mail, Zalo) is one more class with `send`.

An in-memory channel records what it delivers and can be told to answer RetryLater, Unreachable, Refused or
Transient for a row; the real drain runs over a real database with queued rows (SQLite, and PostgreSQL when
configured). No Telegram anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict, deque
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from scheduler.channel import Channel, Delivered, Refused, RetryLater, Transient, Undelivered, Unreachable
from scheduler.drain import CLOSED_ERROR, STALE_ERROR, Drain, DrainOptions, RetryPolicy, refusal
from scheduler.unreachable import UNREACHABLE_ERROR
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus, Person, Status
from storage.outbox import Outgoing, Pending, QueuedMessage, enqueue

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
QUICK = DrainOptions(retry=RetryPolicy(max_attempts=3, base=0.01, max=0.02), poll_interval=0.02)


class MemoryChannel(Channel):
    """Delivers into a list; `answer(key, …)` makes the next sends of that row fail with the given outcomes."""

    def __init__(self) -> None:
        self.delivered: list[QueuedMessage] = []
        self.tried: list[str] = []
        self.slots = 0
        self.most_at_once = 0
        self._script: dict[str, deque[Undelivered]] = defaultdict(deque)
        self._chats_sending: Counter[int] = Counter()
        self._overlapped = asyncio.Event()

    def answer(self, key: str, *outcomes: Undelivered) -> None:
        self._script[key].extend(outcomes)

    async def take_slot(self) -> None:
        self.slots += 1

    async def send(self, message: QueuedMessage) -> Delivered:
        self.tried.append(message.key)
        self._chats_sending[message.chat_id] += 1
        try:
            assert self._chats_sending[message.chat_id] == 1, "two messages in flight to one chat"
            self.most_at_once = max(self.most_at_once, sum(self._chats_sending.values()))
            if self.most_at_once > 1:
                self._overlapped.set()
            # The first sends wait (a while, not forever) for another chat's send to start: a drain that sends
            # in parallel overlaps them however slow its database is; a serial one shows most_at_once == 1.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._overlapped.wait(), 0.5)
            script = self._script.get(message.key)
            if script:
                raise script.popleft()
            self.delivered.append(message)
            return Delivered(message_id=1000 + len(self.delivered))
        finally:
            self._chats_sending[message.chat_id] -= 1


async def queue(db: Database, *messages: Outgoing) -> None:
    async with db.session() as session:
        await enqueue(session, list(messages), now=NOW)


async def rows(db: Database) -> dict[str, OutboxMessage]:
    async with db.session() as session:
        return {row.key: row for row in await session.scalars(select(OutboxMessage))}


async def drain(db: Database, channel: Channel) -> Drain:
    drainer = Drain(db=db, channel=channel, now=lambda: NOW, options=QUICK)
    await drainer.run_until_idle(timeout=20)
    return drainer


def note(key: str, chat_id: int, **extra: object) -> Outgoing:
    return Outgoing(key=key, kind="notice", chat_id=chat_id, text=f"text of {key}", **extra)  # type: ignore[arg-type]


async def test_every_row_is_delivered_once_in_order_per_chat(db: Database) -> None:
    chats = range(1, 9)
    await queue(db, *[note(f"c{chat}-{i}", chat) for i in range(6) for chat in chats])
    channel = MemoryChannel()

    drainer = await drain(db, channel)

    per_chat: dict[int, list[str]] = defaultdict(list)
    for message in channel.delivered:
        per_chat[message.chat_id].append(message.key)
    assert per_chat == {chat: [f"c{chat}-{i}" for i in range(6)] for chat in chats}
    assert Counter(channel.tried) == Counter({key: 1 for key in channel.tried})  # nothing sent twice
    assert channel.most_at_once > 1  # chats go in parallel, one message at a time within each
    assert channel.slots == 48 and drainer.stats["sent"] == 48
    stored = await rows(db)
    ids = {m.key: 1000 + n for n, m in enumerate(channel.delivered, start=1)}
    assert {(row.status, row.attempts, row.telegram_message_id) for row in stored.values()} == {
        (OutboxStatus.SENT, 1, ids[key]) for key in ids
    }
    assert all(row.sent_at == NOW and row.last_error == "" for row in stored.values())
    assert channel.delivered[0].text == f"text of {channel.delivered[0].key}"


async def test_each_neutral_outcome_settles_its_row(db: Database) -> None:
    async with db.session() as session:
        person = Person(telegram_id=70, full_name="Lan", reachable=True, has_started=True, created_at=NOW)
        session.add(person)
        await session.flush()
        person_id = person.id
    await queue(
        db,
        note("wait", 1),
        note("wait-next", 1),
        note("flaky", 2),
        note("dead", 3),
        note("bad", 4),
        note("bad-next", 4),
        note("gone", 70, person_id=person_id),
        note("gone-later", 70, person_id=person_id),
    )
    channel = MemoryChannel()
    channel.answer("wait", RetryLater(0.05, "Flood control exceeded"))
    channel.answer("flaky", Transient("Bad Gateway"), Transient("Timed out"))
    channel.answer("dead", *[Transient("Internal Server Error")] * 10)
    channel.answer("bad", Refused("Bad Request: can't parse entities"))
    channel.answer("gone", Unreachable("Forbidden: bot was blocked by the user"))

    drainer = await drain(db, channel)

    stored = await rows(db)

    def state(key: str) -> tuple[OutboxStatus, int, str]:
        return stored[key].status, stored[key].attempts, stored[key].last_error

    assert state("wait") == (OutboxStatus.SENT, 1, "")  # a RetryLater is not counted as an attempt
    assert state("flaky") == (OutboxStatus.SENT, 3, "")
    assert state("dead") == (OutboxStatus.FAILED, 3, "Internal Server Error")  # RetryPolicy.max_attempts
    assert state("bad") == (OutboxStatus.FAILED, 1, "Bad Request: can't parse entities")  # for good, no retry
    assert state("gone") == (OutboxStatus.BLOCKED, 1, "Forbidden: bot was blocked by the user")
    assert state("gone-later") == (OutboxStatus.BLOCKED, 0, UNREACHABLE_ERROR)  # never tried
    tries = {"wait": 2, "wait-next": 1, "flaky": 3, "dead": 3, "bad": 1, "bad-next": 1, "gone": 1}
    assert Counter(channel.tried) == tries
    assert [m.key for m in channel.delivered if m.chat_id == 1] == ["wait", "wait-next"]  # order kept
    assert [m.key for m in channel.delivered if m.chat_id == 4] == ["bad-next"]
    async with db.session() as session:
        assert await session.scalar(select(Person.reachable).where(Person.id == person_id)) is False
    assert drainer.stats["failed"] == 2 and drainer.stats["blocked"] == 1


async def test_rows_left_sending_are_sent_again_and_a_busy_chat_waits(db: Database) -> None:
    await queue(db, note("in-flight", 1), note("after", 1), note("other", 2))
    async with db.session() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == "in-flight"))
        assert row is not None
        row.status, row.attempts = OutboxStatus.SENDING, 1

    class SlowChat(MemoryChannel):
        """Chat 1 may receive only after chat 2 got its message (the channel's own per-chat limit)."""

        def chat_wait(self, chat_id: int) -> float:
            return 0.01 if chat_id == 1 and not self.delivered else 0.0

    channel = SlowChat()
    await drain(db, channel)

    assert [m.key for m in channel.delivered] == ["other", "in-flight", "after"]
    stored = await rows(db)
    assert stored["in-flight"].status == OutboxStatus.SENT and stored["in-flight"].attempts == 2


async def test_a_drain_that_stops_leaves_no_claimed_row_behind(db: Database) -> None:
    # The drain claims rows ahead of its slots; one that stops (lost the lead, shut down) gives back the ones it
    # did not send, so the next sender sends each remaining row once and no attempt is counted for them.
    await queue(db, *[note(f"c{chat}-{i}", chat) for i in range(3) for chat in range(1, 61)])
    first = MemoryChannel()
    drainer = Drain(db=db, channel=first, now=lambda: NOW, options=QUICK)
    await drainer.run(lambda: len(first.delivered) < 10)

    stored = await rows(db)
    assert 10 <= len(first.delivered) < 180
    assert not [key for key, row in stored.items() if row.status == OutboxStatus.SENDING]
    sent_first = {m.key for m in first.delivered}
    assert {key for key, row in stored.items() if row.status == OutboxStatus.SENT} == sent_first
    assert {row.attempts for key, row in stored.items() if key not in sent_first} == {0}

    second = MemoryChannel()
    await drain(db, second)
    assert Counter([*sent_first, *(m.key for m in second.delivered)]) == Counter(stored.keys())
    for chat in range(1, 61):
        keys = [m.key for m in (*first.delivered, *second.delivered) if m.chat_id == chat]
        assert keys == [f"c{chat}-{i}" for i in range(3)]  # in order within each chat, across the two


def test_the_claim_rules_and_the_retry_policy() -> None:
    def pending(kind: str, key: str, **facts: object) -> Pending:
        message = QueuedMessage(1, key, kind, 5, None, "", None, None, None, None, None, 0)
        values: dict[str, object] = {"commitment_id": 9, "reachable": True, "commitment_status": Status.OPEN}
        values["due_date"] = date(2026, 12, 1)
        values.update(facts)
        return Pending(message, **values)  # type: ignore[arg-type]

    def error(p: Pending) -> str | None:
        refused = refusal(p)
        return refused.error if refused is not None else None

    current = "reminder:9:2026-12-01:3:4"
    assert error(pending("reminder", current)) is None
    assert error(pending("notice", "n", reachable=False)) == UNREACHABLE_ERROR
    assert error(pending("reminder", current, commitment_status=Status.DONE)) == CLOSED_ERROR
    assert error(pending("decision", "d", commitment_status=Status.DONE)) is None
    assert error(pending("escalation", current, due_date=date(2026, 12, 15))) == STALE_ERROR
    assert error(pending("escalation", current, commitment_status=None, due_date=None)) is None

    policy = RetryPolicy(max_attempts=4, base=2.0, max=5.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 5.0, 5.0]
    assert [policy.gives_up(n) for n in (1, 3, 4, 5)] == [False, False, True, True]


@pytest.mark.parametrize("outcome", [RetryLater(1.5), Unreachable("x"), Refused("y"), Transient("z")])
def test_outcomes_carry_their_reason(outcome: Undelivered) -> None:
    assert outcome.reason and str(outcome) == outcome.reason
