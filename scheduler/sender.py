"""The sender: outbox rows → Telegram, within Telegram's limits (SPEC "Sending").

One sender runs at a time (the leader, see scheduler.locks and bot.jobs). It repeatedly picks the next due
row — lowest `priority`, then oldest, one chat at a time and in order within a chat — whose chat may receive a
message now (bot.ratelimit), claims it (`pending` → `sending`, attempts + 1, committed), takes an overall
slot from the shared rate limiter and sends it; a row becomes `sent` (with Telegram's message id) only once
Telegram accepted it. Only rows being sent right now are `sending`: the sender claims a row when a slot is
about to open, so the messages in flight are about rate × round-trip time (one against a nearby server,
a handful against api.telegram.org), capped by `max_in_flight`. After a crash the rows found `sending` are
sent again: at most the messages that were in flight are delivered twice.

Outcomes:

- accepted → `sent`, `sent_at`, `telegram_message_id`;
- 429 (after the rate limiter's own waits) → `pending` again after `retry_after`, not counted as an attempt;
- network errors, timeouts, 5xx, anything unexpected → `pending` again with exponential backoff, and after
  `max_attempts` attempts → `failed`, the last error kept;
- 400 Bad Request (and a group that moved) → `failed` with Telegram's error, no retry;
- 403 (blocked, kicked, never started) → `blocked`; the person becomes unreachable, their other pending rows
  are `blocked` too, and the secretaries are told once (`mark_unreachable`). Rows of an unreachable person are
  `blocked` when their turn comes. Writing to the bot makes a person reachable again (storage.members):
  blocked rows stay blocked (old news), new rows flow;
- a reminder or escalation whose commitment is no longer open by the time its turn comes → `failed` with
  `commitment closed`, never sent; one for an occurrence that is no longer current (the deadline was extended
  or changed since it was queued: the due date in its key is not the commitment's due date) → `failed` with
  `deadline changed`, never sent (the planner queues the new deadline's own reminders).

Backoff waits are kept in memory on the monotonic clock (a restart retries at once); `not_before` and the
`sent_at` stamps use the injected `now` (tests and the sandbox pass their own clock).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.ratelimit import OUTBOX, SendArgs, TelegramRateLimiter, retry_after_seconds
from scheduler.policy import key_occurrence
from storage.db import Database
from storage.members import UNREACHABLE_ERROR, mark_unreachable
from storage.models import (
    OPEN_STATUSES,
    Commitment,
    OutboxMessage,
    OutboxStatus,
    Person,
)

log = logging.getLogger(__name__)

# Rows about a commitment that make no sense once it is done or cancelled, or once its deadline moved.
REMINDER_KINDS: Final = frozenset({"reminder", "escalation"})
CLOSED_ERROR: Final = "commitment closed"
STALE_ERROR: Final = "deadline changed: this reminder was for an earlier due date"
MAX_ERROR: Final = 1000


@dataclass
class SenderOptions:
    """Tuning; the defaults suit production. Tests use small delays."""

    max_attempts: int = 5  # network errors, timeouts and 5xx: tries before `failed`
    backoff_base: float = 2.0  # seconds before the 2nd try; doubles each time
    backoff_max: float = 300.0
    max_in_flight: int = 16  # messages sent at the same time, at most
    poll_interval: float = 0.5  # seconds between looks at the outbox when there is nothing to do
    refresh_interval: float = 2.0  # seconds between looks while busy (new, more urgent rows)
    candidates: int = 500  # chats looked at per look
    request_timeout: float | None = None  # read timeout of one send; None: the bot's default


@dataclass(frozen=True)
class _Candidate:
    id: int
    chat_id: int


@dataclass(frozen=True)
class _Claimed:
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


@dataclass
class SenderStats:
    counts: Counter[str] = field(default_factory=Counter)

    def __getitem__(self, name: str) -> int:
        return self.counts[name]


def _markup(data: dict[str, Any] | None) -> Any:
    if not data:
        return None
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.de_json(data, None)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.de_json(data, None)
    if data.get("remove_keyboard"):
        return ReplyKeyboardRemove(selective=data.get("selective"))
    if data.get("force_reply"):
        return ForceReply(selective=data.get("selective"), input_field_placeholder=data.get("input_field_placeholder"))
    return None


def _is_stale(key: str, due_date: date) -> bool:
    """A reminder key whose occurrence (the due date it was planned for) is not the current due date."""
    occurrence = key_occurrence(key)
    return occurrence is not None and occurrence != due_date.isoformat()


def _error_text(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:MAX_ERROR]


class Sender:
    """Drains the outbox through one Bot; see the module text."""

    def __init__(
        self,
        *,
        db: Database,
        bot: Bot,
        now: Callable[[], datetime],
        default_language: str = "vi",
        options: SenderOptions | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.bot = bot
        self.now = now
        self.default_language = default_language
        self.options = options or SenderOptions()
        self.monotonic = monotonic
        limiter = getattr(bot, "rate_limiter", None)
        self.limiter: TelegramRateLimiter | None = limiter if isinstance(limiter, TelegramRateLimiter) else None
        self.stats = SenderStats()
        self._event = asyncio.Event()
        self._dirty = True
        self._buffer: list[_Candidate] = []
        self._last_refresh = -1e9
        self._retry_at: dict[int, float] = {}  # row id → monotonic time before which it is not tried again
        self._chats_in_flight: set[int] = set()
        self._last_outcome = -1e9
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_wait = self.options.poll_interval
        self._unsettled: dict[int, dict[str, Any]] = {}  # outcomes the database did not take yet
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
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.SENDING)
                .values(status=OutboxStatus.PENDING)
                .execution_options(synchronize_session=False)
            )
        count = max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
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
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        await self._settle_pending()

    async def step(self) -> bool:
        """Dispatch one message if one can go now; False when there is nothing to do at the moment."""
        await self._settle_pending()
        options = self.options
        if len(self._tasks) >= options.max_in_flight:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            return True
        now = self.monotonic()
        if self._dirty or now - self._last_refresh >= options.refresh_interval:
            await self._refresh()
        candidate = self._pick(now)
        if candidate is None and self._buffer == [] and now - self._last_refresh >= min(0.2, options.poll_interval):
            await self._refresh()
            candidate = self._pick(self.monotonic())
        if candidate is None:
            # Idle: the last look came after the last outcome and found nothing, and nothing is pending.
            quiet = not self._tasks and not self._retry_at and not self._unsettled
            self.idle = quiet and not self._buffer and self._last_refresh > self._last_outcome
            return False
        self.idle = False
        self._buffer.remove(candidate)
        claimed = await self._claim(candidate)
        if claimed is None:
            self._last_outcome = self.monotonic()
            return True
        self._chats_in_flight.add(claimed.chat_id)
        if self.limiter is not None:
            await self.limiter.take_outbox_slot()
        task = asyncio.create_task(self._deliver(claimed), name=f"qmsbot-send-{claimed.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

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
        first_priority = func.min(OutboxMessage.priority)
        first_id = func.min(OutboxMessage.id)
        async with self.db.session() as session:
            rows = await session.execute(
                select(OutboxMessage.chat_id, first_id)
                .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.not_before <= self.now())
                .group_by(OutboxMessage.chat_id)
                .order_by(first_priority, first_id)
                .limit(self.options.candidates)
            )
            self._buffer = [_Candidate(id=row_id, chat_id=chat_id) for chat_id, row_id in rows]
        if len(self._buffer) < self.options.candidates:
            # Every due row's chat is in the buffer: backoffs of rows not there are over (sent, blocked …).
            pending = {c.id for c in self._buffer}
            for row_id in [r for r in self._retry_at if r not in pending]:
                del self._retry_at[row_id]

    def _pick(self, now: float) -> _Candidate | None:
        wait = self.options.poll_interval
        for candidate in self._buffer:
            if candidate.chat_id in self._chats_in_flight:
                continue
            retry_at = self._retry_at.get(candidate.id)
            if retry_at is not None and retry_at > now:
                wait = min(wait, retry_at - now)
                continue
            chat_wait = self.limiter.chat_wait(candidate.chat_id, OUTBOX) if self.limiter is not None else 0.0
            if chat_wait > 0:
                wait = min(wait, chat_wait)
                continue
            return candidate
        self._next_wait = wait
        return None

    async def _claim(self, candidate: _Candidate) -> _Claimed | None:
        """`pending` → `sending` (committed) unless the row must not go: unreachable person, closed commitment."""
        async with self.db.session() as session:
            found = (
                await session.execute(
                    select(OutboxMessage, Person.reachable, Commitment.status, Commitment.due_date)
                    .outerjoin(
                        Person,
                        or_(
                            Person.id == OutboxMessage.person_id,
                            and_(OutboxMessage.person_id.is_(None), Person.telegram_id == OutboxMessage.chat_id),
                        ),
                    )
                    .outerjoin(Commitment, Commitment.id == OutboxMessage.commitment_id)
                    .where(OutboxMessage.id == candidate.id)
                )
            ).first()
            if found is None:
                return None
            row, reachable, commitment_status, due_date = found
            if row.status != OutboxStatus.PENDING:
                return None
            if reachable is False:
                await self._set(session, row.id, OutboxStatus.BLOCKED, last_error=UNREACHABLE_ERROR)
                self.stats.counts["blocked"] += 1
                self._retry_at.pop(row.id, None)
                return None
            if (
                row.kind in REMINDER_KINDS
                and row.commitment_id is not None
                and commitment_status is not None
                and commitment_status not in OPEN_STATUSES
            ):
                await self._set(session, row.id, OutboxStatus.FAILED, last_error=CLOSED_ERROR)
                self.stats.counts["closed"] += 1
                self._retry_at.pop(row.id, None)
                return None
            if row.kind in REMINDER_KINDS and due_date is not None and _is_stale(row.key, due_date):
                await self._set(session, row.id, OutboxStatus.FAILED, last_error=STALE_ERROR)
                self.stats.counts["stale"] += 1
                self._retry_at.pop(row.id, None)
                return None
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.status == OutboxStatus.PENDING)
                .values(status=OutboxStatus.SENDING, attempts=OutboxMessage.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return _Claimed(
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
                attempts=row.attempts + 1,
            )

    @staticmethod
    async def _set(session: AsyncSession, row_id: int, status: OutboxStatus, **values: Any) -> None:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status=status, **values)
            .execution_options(synchronize_session=False)
        )

    # -- sending -----------------------------------------------------------------------------------------

    async def _call(self, row: _Claimed) -> Message:
        extra: dict[str, Any] = {}
        if self.limiter is not None:
            extra["rate_limit_args"] = SendArgs(priority=OUTBOX, prepaid=True)
        if self.options.request_timeout is not None:
            extra["read_timeout"] = self.options.request_timeout
        markup = _markup(row.reply_markup)
        if row.media in ("document", "photo"):
            media: InputFile | str
            if row.file_data is not None:
                media = InputFile(row.file_data, filename=row.file_name or None)
            elif row.file_id:
                media = row.file_id
            else:
                raise BadRequest("outbox row has media but neither file data nor a file id")
            caption = row.text or None
            if row.media == "photo":
                return await self.bot.send_photo(row.chat_id, media, caption=caption, reply_markup=markup, **extra)
            return await self.bot.send_document(row.chat_id, media, caption=caption, reply_markup=markup, **extra)
        return await self.bot.send_message(row.chat_id, row.text, reply_markup=markup, **extra)

    async def _deliver(self, row: _Claimed) -> None:
        try:
            message = await self._call(row)
        except RetryAfter as error:
            # Telegram asked us to wait longer than the rate limiter would: not the row's fault.
            await self._again(row, retry_after_seconds(error), _error_text(error), counted=False)
        except Forbidden as error:
            await self._blocked(row, error)
        except (BadRequest, ChatMigrated) as error:
            await self._finish(row, OutboxStatus.FAILED, last_error=_error_text(error))
            self.stats.counts["failed"] += 1
            log.warning("outbox %s to %s refused for good: %s", row.key, row.chat_id, error)
        except (TimeoutError, TelegramError, OSError) as error:  # network, timeouts, 5xx
            await self._retry_or_fail(row, error)
        except Exception as error:  # a bug must not stop the sender; the row is kept and retried
            log.exception("outbox %s: unexpected error while sending", row.key)
            await self._retry_or_fail(row, error)
        else:
            await self._finish(
                row,
                OutboxStatus.SENT,
                sent_at=self.now(),
                telegram_message_id=message.message_id,
                last_error="",
            )
            self.stats.counts["sent"] += 1
        finally:
            self._chats_in_flight.discard(row.chat_id)
            self._last_outcome = self.monotonic()
            self._event.set()

    async def _retry_or_fail(self, row: _Claimed, error: BaseException) -> None:
        options = self.options
        if row.attempts >= options.max_attempts:
            await self._finish(row, OutboxStatus.FAILED, last_error=_error_text(error))
            self.stats.counts["failed"] += 1
            log.warning("outbox %s to %s failed after %d attempts: %s", row.key, row.chat_id, row.attempts, error)
            return
        delay = min(options.backoff_max, options.backoff_base * 2 ** (row.attempts - 1))
        log.info(
            "outbox %s to %s: attempt %d failed (%s), again in %.1f s", row.key, row.chat_id, row.attempts, error, delay
        )
        await self._again(row, delay, _error_text(error), counted=True)

    async def _again(self, row: _Claimed, delay: float, error: str, *, counted: bool) -> None:
        values: dict[str, Any] = {"last_error": error}
        if not counted:
            values["attempts"] = row.attempts - 1
        self._retry_at[row.id] = self.monotonic() + delay
        await self._finish(row, OutboxStatus.PENDING, **values)
        self.stats.counts["retried"] += 1

    async def _finish(self, row: _Claimed, status: OutboxStatus, **values: Any) -> None:
        if status != OutboxStatus.PENDING:
            self._retry_at.pop(row.id, None)
        values["status"] = status
        try:
            async with self.db.session() as session:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
        except Exception:  # the database is away: keep the outcome and write it at the next step
            log.exception("could not record the outcome of outbox %s; will try again", row.key)
            self._unsettled[row.id] = values

    async def _settle_pending(self) -> None:
        for row_id, values in list(self._unsettled.items()):
            try:
                async with self.db.session() as session:
                    await session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id == row_id)
                        .values(**values)
                        .execution_options(synchronize_session=False)
                    )
            except Exception:
                log.warning("the database still refuses the outcome of outbox row %s", row_id)
                return
            del self._unsettled[row_id]

    async def _blocked(self, row: _Claimed, error: Forbidden) -> None:
        reason = _error_text(error)
        self.stats.counts["blocked"] += 1
        log.warning("outbox %s: chat %s cannot be reached: %s", row.key, row.chat_id, reason)
        self._retry_at.pop(row.id, None)
        try:
            async with self.db.session() as session:
                await self._set(session, row.id, OutboxStatus.BLOCKED, last_error=reason)
                person_id = row.person_id
                if person_id is None and row.chat_id > 0:
                    person_id = await session.scalar(select(Person.id).where(Person.telegram_id == row.chat_id))
                if person_id is not None:
                    await mark_unreachable(session, person_id=person_id, now=self.now(), reason=reason)
        except Exception:
            log.exception("could not record that chat %s is unreachable", row.chat_id)
            self._unsettled[row.id] = {"status": OutboxStatus.BLOCKED, "last_error": reason}
        self.wake()
