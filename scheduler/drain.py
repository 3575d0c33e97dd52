"""The drain: outbox rows → a channel, most urgent first, in order within a chat (SPEC "Sending").

It claims the heads of a few chats at a time ahead of the slots (`sending`, one committed statement), hands each
to the channel when its slot opens and settles it; outcomes that end together are written in one transaction.
After a crash the rows found `sending` are sent again. It knows no channel's API and holds no SQL (storage.outbox).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Final

from scheduler.channel import Channel, Refused, RetryLater, Transient, Unreachable
from scheduler.policy import key_occurrence
from storage import outbox
from storage.db import Database
from storage.members import UNREACHABLE_ERROR, mark_unreachable
from storage.models import OPEN_STATUSES, OutboxStatus
from storage.outbox import Head, OutboxKind, Outcome, Pending, QueuedMessage

log = logging.getLogger(__name__)

# Rows about a commitment that make no sense once it is done or cancelled, or once its deadline moved.
REMINDER_KINDS: Final = frozenset({OutboxKind.REMINDER, OutboxKind.ESCALATION})
CLOSED_ERROR: Final = "commitment closed"
STALE_ERROR: Final = "deadline changed: this reminder was for an earlier due date"
MAX_ERROR: Final = 1000

__all__ = [
    "CLOSED_ERROR",
    "STALE_ERROR",
    "UNREACHABLE_ERROR",
    "Drain",
    "DrainOptions",
    "DrainStats",
    "Refusal",
    "RetryPolicy",
    "refusal",
]


@dataclass(frozen=True)
class RetryPolicy:
    """Network errors, timeouts and 5xx: exponential backoff from `base` seconds up to `max`, then give up."""

    max_attempts: int = 5  # tries before `failed`
    base: float = 2.0  # seconds before the 2nd try; doubles each time
    max: float = 300.0

    def gives_up(self, attempt: int) -> bool:
        """After the `attempt`-th try (1 = the first) failed: is that the last one?"""
        return attempt >= self.max_attempts

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th try failed."""
        return min(self.max, self.base * 2 ** (attempt - 1))


@dataclass
class DrainOptions:
    """Tuning; the defaults suit production. Tests use small delays."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_in_flight: int = 16  # messages sent at the same time, at most
    poll_interval: float = 0.5  # seconds between looks at the outbox when there is nothing to do
    refresh_interval: float = 2.0  # seconds between looks while busy (new, more urgent rows)
    candidates: int = 500  # chats looked at per look
    # Rows claimed ahead of the slots (one statement for them all); more are claimed once half are gone. Enough
    # for the channel's rate over a slow write (a planner batch holding SQLite's lock), few enough that a
    # crash only has to put them back to pending.
    claim_ahead: int = 40


@dataclass
class DrainStats:
    counts: Counter[str] = field(default_factory=Counter)

    def __getitem__(self, name: str) -> int:
        return self.counts[name]


@dataclass(frozen=True)
class Refusal:
    """Why a pending row must not go after all: what it becomes, its error, and the stat it counts in."""

    status: OutboxStatus
    error: str
    stat: str


def refusal(pending: Pending) -> Refusal | None:
    """The rules checked at claim time: unreachable person, closed commitment, occurrence no longer current."""
    if pending.reachable is False:
        return Refusal(OutboxStatus.BLOCKED, UNREACHABLE_ERROR, "blocked")
    message = pending.message
    if message.kind not in REMINDER_KINDS:
        return None
    status = pending.commitment_status
    if pending.commitment_id is not None and status is not None and status not in OPEN_STATUSES:
        return Refusal(OutboxStatus.FAILED, CLOSED_ERROR, "closed")
    if pending.due_date is not None and _is_stale(message.key, pending.due_date):
        return Refusal(OutboxStatus.FAILED, STALE_ERROR, "stale")
    return None


def _is_stale(key: str, due_date: date) -> bool:
    """A reminder key whose occurrence (the due date it was planned for) is not the current due date."""
    occurrence = key_occurrence(key)
    return occurrence is not None and occurrence != due_date.isoformat()


def _clip(text: str) -> str:
    return text[:MAX_ERROR]


def _error_text(error: BaseException) -> str:
    return _clip(str(error) or type(error).__name__)


class Drain:
    """Drains the outbox through one channel. What the channel answers becomes the row's status:

    Delivered → `sent`; RetryLater → `pending` after its seconds, not an attempt; Transient (or any other
    error) → `pending` after `RetryPolicy.delay`, `failed` once it gives up; Refused → `failed`; Unreachable →
    `blocked`, and `mark_unreachable` blocks the person's other rows and tells the secretaries.
    """

    def __init__(
        self,
        *,
        db: Database,
        channel: Channel,
        now: Callable[[], datetime],
        default_language: str = "vi",
        options: DrainOptions | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        write_turn: AbstractAsyncContextManager[object] | None = None,
    ) -> None:
        self.db = db
        self.channel = channel
        self.now = now
        self.default_language = default_language
        self.options = options or DrainOptions()
        self.monotonic = monotonic
        self.stats = DrainStats()
        self._event = asyncio.Event()
        self._dirty = True
        self._buffer: list[Head] = []
        self._last_refresh = -1e9
        self._retry_at: dict[int, float] = {}  # row id → monotonic time before which it is not tried again
        # chat id → (its row waiting in _retry_at, when it was held): nothing later of the chat overtakes it
        self._held: dict[int, tuple[int, float]] = {}
        self._chats_in_flight: set[int] = set()
        self._last_outcome = -1e9
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_wait = self.options.poll_interval
        self._unsettled: dict[int, Outcome] = {}  # outcomes the database did not take yet
        self._look: asyncio.Task[None] | None = None  # a look at the outbox running beside the sending
        self._ready: list[QueuedMessage] = []  # claimed (`sending`), waiting for their slot, most urgent first
        self._to_settle: dict[int, tuple[Outcome, asyncio.Future[None]]] = {}  # for the next settling write
        self._settler: asyncio.Task[None] | None = None
        # One writer at a time: the drain's writes never wait on each other in SQLite's busy handler, and a
        # planner given the same lock (bot.jobs, on SQLite) lets them in between its batches.
        self._write_turn: AbstractAsyncContextManager[object] = write_turn or asyncio.Lock()
        self.idle = False  # True after a look found nothing due, nothing in flight, nothing waiting

    # -- running ---------------------------------------------------------------------------------------

    def wake(self) -> None:
        """New rows were queued: look at the outbox now."""
        self._dirty = True
        self._event.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def recover(self) -> int:
        """Rows left `sending` by a crash (or a previous leader) become `pending`: they are sent again."""
        async with self.db.session() as session:
            count = await outbox.recover(session)
        if count:
            log.warning("%d outbox messages were being sent when the last sender stopped: sending them again", count)
        return count

    async def run(self, keep_going: Callable[[], bool]) -> None:
        """Send until `keep_going()` is false, then let the messages in flight finish."""
        await self.recover()
        try:
            while keep_going():
                if not await self.step():
                    await self._idle()
        finally:
            await self.finish()

    async def run_until_idle(self, timeout: float = 60.0) -> None:
        """Send everything due now, then return (bench, tests). Raises TimeoutError after `timeout`."""
        deadline = self.monotonic() + timeout
        await self.recover()
        self.idle = False
        try:
            while not self.idle:
                if self.monotonic() > deadline:
                    raise TimeoutError(f"the outbox was not drained within {timeout}s")
                if not await self.step():
                    await self._idle()
        finally:
            await self.finish()

    async def finish(self) -> None:
        if self._look is not None:
            await asyncio.gather(self._look, return_exceptions=True)
            self._look = None
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._settler is not None:
            await asyncio.gather(self._settler, return_exceptions=True)
        await self._settle_pending()
        await self._release_ready()

    async def _release_ready(self) -> None:
        """Rows claimed ahead but not sent go back to pending, so that the next sender sends them."""
        if not self._ready:
            return
        ready, self._ready = self._ready, []
        for row in ready:
            self._chats_in_flight.discard(row.chat_id)
        try:
            async with self._write_turn, self.db.session() as session:
                await outbox.release(session, [row.id for row in ready])
        except Exception:  # the next sender's recover() puts them back anyway
            log.warning("could not put %d claimed outbox rows back to pending", len(ready))

    async def step(self) -> bool:
        """Dispatch one message if one can go now; False when there is nothing to do at the moment."""
        await self._settle_pending()
        options = self.options
        if len(self._tasks) >= options.max_in_flight:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            return True
        self._next_wait = options.poll_interval  # lowered by what must wait (_pick, _next_ready)
        ahead = max(1, options.claim_ahead)
        if len(self._ready) <= ahead // 2 or (self._dirty and len(self._ready) < ahead):
            await self._feed(ahead - len(self._ready))
        row = self._next_ready(self.monotonic())
        if row is None:
            # Idle: the last look came after the last outcome and found nothing, and nothing is pending.
            quiet = not self._tasks and not self._retry_at and not self._unsettled and not self._ready
            self.idle = quiet and not self._buffer and self._last_refresh > self._last_outcome
            return False
        self.idle = False
        self._ready.remove(row)
        await self.channel.take_slot()
        task = asyncio.create_task(self._deliver(row), name=f"qmsbot-send-{row.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _feed(self, wanted: int) -> None:
        """Claim up to `wanted` more chats' first rows, looking at the outbox again when it is time.

        With something to send meanwhile the look runs beside the sending: with a big backlog it reads every
        due row (a GROUP BY), which must not hold up the slots."""
        options = self.options
        now = self.monotonic()
        look = self._look
        if look is not None and look.done():
            self._look = None
            self._look_result(look)
            look = None
        if look is None and (self._dirty or now - self._last_refresh >= options.refresh_interval):
            if self._buffer or self._ready:
                self._look = look = asyncio.create_task(self._refresh(), name="qmsbot-outbox-look")
            else:
                await self._refresh()
        picked = self._pick(now, wanted)
        if not picked and not self._buffer and not self._ready:
            if look is not None:
                await asyncio.wait([look])
                self._look = None
                self._look_result(look)
                picked = self._pick(self.monotonic(), wanted)
            elif now - self._last_refresh >= min(0.2, options.poll_interval):
                await self._refresh()
                picked = self._pick(self.monotonic(), wanted)
        if picked:
            await self._claim(picked)

    @staticmethod
    def _look_result(look: asyncio.Task[None]) -> None:
        look.result()  # a look that failed (the database went away) stops the drain, as an inline one would

    def _next_ready(self, now: float) -> QueuedMessage | None:
        """The most urgent claimed row whose chat may receive a message now."""
        for row in self._ready:
            chat_wait = self.channel.chat_wait(row.chat_id)
            if chat_wait <= 0:
                return row
            self._next_wait = min(self._next_wait, chat_wait)
        return None

    async def _idle(self) -> None:
        timeout = max(0.005, min(self.options.poll_interval, self._next_wait))
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
        self._event.clear()

    # -- choosing ----------------------------------------------------------------------------------------

    async def _refresh(self) -> None:
        """The first due row of each chat with something due, most urgent first."""
        self._dirty = False
        self._last_refresh = self.monotonic()
        async with self.db.session() as session:
            self._buffer = await outbox.candidates(session, now=self.now(), limit=self.options.candidates)
        if len(self._buffer) < self.options.candidates:
            # Every due row's chat is in the buffer: backoffs of rows not there are over (sent, blocked …).
            pending = {c.id for c in self._buffer}
            held = {row_id: (chat_id, since) for chat_id, (row_id, since) in self._held.items()}
            for row_id in [r for r in self._retry_at if r not in pending]:
                chat_id, since = held.get(row_id, (None, None))
                # Not if the look began before the row went back to pending (it saw the row `sending`).
                if chat_id not in self._chats_in_flight and (since is None or since < self._last_refresh):
                    self._forget_retry(row_id, chat_id)
        for head in self._buffer if self._held else ():
            # A look begun after the hold finds another first row in the chat: the held row is no longer pending.
            hold = self._held.get(head.chat_id)
            if hold is not None and hold[0] != head.id and hold[1] < self._last_refresh:
                if hold[0] not in self._unsettled:
                    self._forget_retry(hold[0], head.chat_id)

    def _pick(self, now: float, wanted: int) -> list[Head]:
        """Up to `wanted` heads (taken out of the buffer) whose chat may receive a message now."""
        wait = self.options.poll_interval
        picked: list[Head] = []
        keep: list[Head] = []
        for n, candidate in enumerate(self._buffer):
            if len(picked) >= wanted:
                keep.extend(self._buffer[n:])
                break
            keep.append(candidate)
            if candidate.chat_id in self._chats_in_flight:
                continue
            hold = self._held.get(candidate.chat_id)
            if hold is not None and hold[0] != candidate.id:
                # A look from before the held row went back to pending: look again once that row may go.
                held_until = self._retry_at.get(hold[0], 0.0)
                if held_until <= now:
                    self._dirty = True
                wait = min(wait, max(held_until - now, 0.0))
                continue
            retry_at = self._retry_at.get(candidate.id)
            if retry_at is not None and retry_at > now:
                wait = min(wait, retry_at - now)
                continue
            chat_wait = self.channel.chat_wait(candidate.chat_id)
            if chat_wait > 0:
                wait = min(wait, chat_wait)
                continue
            keep.pop()
            picked.append(candidate)
        self._buffer = keep
        self._next_wait = min(self._next_wait, wait)
        return picked

    async def _claim(self, candidates: list[Head]) -> None:
        """`pending` → `sending` (committed) for the rows that may still go (see `refusal`); they join `_ready`."""
        refused: dict[int, Outcome] = {}
        async with self._write_turn, self.db.session() as session:
            found = await outbox.look_many(session, [c.id for c in candidates])
            for candidate in candidates:
                pending = found.get(candidate.id)
                if pending is None:
                    continue
                why = refusal(pending)
                if why is not None:
                    refused[candidate.id] = Outcome(why.status, last_error=why.error)
                    self.stats.counts[why.stat] += 1
                    del found[candidate.id]
            if refused:
                await outbox.settle_many(session, refused)
            claimed = await outbox.claim_many(session, list(found))
        for candidate in candidates:
            if candidate.id in refused:
                self._forget_retry(candidate.id, candidate.chat_id)
        for candidate in candidates:
            if candidate.id in claimed:
                message = found[candidate.id].message
                self._ready.append(replace(message, attempts=message.attempts + 1))
                self._chats_in_flight.add(candidate.chat_id)
        if len(claimed) < len(candidates):  # the chats of the others may have a next row: look again
            self._last_outcome = self.monotonic()

    def _forget_retry(self, row_id: int, chat_id: int | None) -> None:
        self._retry_at.pop(row_id, None)
        if chat_id is not None and self._held.get(chat_id, (None,))[0] == row_id:
            del self._held[chat_id]

    # -- sending -----------------------------------------------------------------------------------------

    async def _deliver(self, row: QueuedMessage) -> None:
        try:
            delivered = await self.channel.send(row)
        except RetryLater as error:
            # The channel asked us to wait longer than its rate limiter would: not the row's fault.
            self.stats.counts["rate_limited"] += 1
            await self._again(row, error.seconds, _clip(error.reason), counted=False)
        except Unreachable as error:
            await self._blocked(row, _clip(error.reason))
        except Refused as error:
            await self._finish(row, outbox.failed(_clip(error.reason)))
            self.stats.counts["failed"] += 1
            log.warning("outbox %s to %s refused for good: %s", row.key, row.chat_id, error.reason)
        except Transient as error:  # network, timeouts, 5xx
            await self._retry_or_fail(row, _clip(error.reason))
        except Exception as error:  # a bug must not stop the drain; the row is kept and retried
            log.exception("outbox %s: unexpected error while sending", row.key)
            await self._retry_or_fail(row, _error_text(error))
        else:
            await self._finish(row, outbox.sent(at=self.now(), message_id=delivered.message_id))
            self.stats.counts["sent"] += 1
        finally:
            self._chats_in_flight.discard(row.chat_id)
            self._last_outcome = self.monotonic()
            self._event.set()

    async def _retry_or_fail(self, row: QueuedMessage, error: str) -> None:
        policy = self.options.retry
        if policy.gives_up(row.attempts):
            await self._finish(row, outbox.failed(error))
            self.stats.counts["failed"] += 1
            log.warning("outbox %s to %s failed after %d attempts: %s", row.key, row.chat_id, row.attempts, error)
            return
        delay = policy.delay(row.attempts)
        log.info(
            "outbox %s to %s: attempt %d failed (%s), again in %.1f s", row.key, row.chat_id, row.attempts, error, delay
        )
        await self._again(row, delay, error, counted=True)

    async def _again(self, row: QueuedMessage, delay: float, error: str, *, counted: bool) -> None:
        self._retry_at[row.id] = self.monotonic() + delay
        await self._finish(row, outbox.retry(error, attempts=None if counted else row.attempts - 1))
        self._held[row.chat_id] = (row.id, self.monotonic())  # in order within the chat
        self.stats.counts["retried"] += 1

    async def _finish(self, row: QueuedMessage, outcome: Outcome) -> None:
        if outcome.status != OutboxStatus.PENDING:
            self._forget_retry(row.id, row.chat_id)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._to_settle[row.id] = (outcome, done)
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle_loop(), name="qmsbot-settle")
        await done

    async def _settle_loop(self) -> None:
        """Write the outcomes that ended meanwhile, all in one transaction, until none are left."""
        while self._to_settle:
            batch, self._to_settle = self._to_settle, {}
            try:
                async with self._write_turn, self.db.session() as session:
                    await outbox.settle_many(session, {row_id: o for row_id, (o, _) in batch.items()})
            except Exception:  # the database is away: keep the outcomes and write them at the next step
                log.exception("could not record the outcome of %d outbox messages; will try again", len(batch))
                self._unsettled.update({row_id: o for row_id, (o, _) in batch.items()})
            for _, done in batch.values():
                if not done.done():
                    done.set_result(None)

    async def _settle_pending(self) -> None:
        if not self._unsettled:
            return
        try:
            async with self._write_turn, self.db.session() as session:
                await outbox.settle_many(session, self._unsettled)
        except Exception:
            log.warning("the database still refuses the outcome of %d outbox rows", len(self._unsettled))
            return
        self._unsettled.clear()

    async def _blocked(self, row: QueuedMessage, reason: str) -> None:
        self.stats.counts["blocked"] += 1
        log.warning("outbox %s: chat %s cannot be reached: %s", row.key, row.chat_id, reason)
        self._forget_retry(row.id, row.chat_id)
        try:
            async with self._write_turn, self.db.session() as session:
                await outbox.settle(session, row.id, outbox.blocked(reason))
                person_id = row.person_id
                if person_id is None and row.chat_id > 0:
                    person_id = await outbox.person_of_chat(session, row.chat_id)
                if person_id is not None:
                    await mark_unreachable(session, person_id=person_id, now=self.now(), reason=reason)
        except Exception:
            log.exception("could not record that chat %s is unreachable", row.chat_id)
            self._unsettled[row.id] = outbox.blocked(reason)
        self.wake()
