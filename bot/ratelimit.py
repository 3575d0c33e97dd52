"""One rate limiter for everything the bot sends, direct replies and the outbox alike (SPEC "Sending").

python-telegram-bot passes every Bot API call through `TelegramRateLimiter.process_request`; the budgets and
the order are in docs/ARCHITECTURE.md, "Sending".
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

REPLY: Final = 0  # direct replies to commands and button presses
OUTBOX: Final = 1  # the outbox sender

GROUP_WINDOW: Final = 60.0
CATCH_UP: Final = 0.12  # seconds of overall slots a late sender may still use (see _Gate._take)
# Sent messages are counted from the moment Telegram answered; this margin covers clock and network jitter.
WINDOW_MARGIN: Final = 0.25
_NOT_CHAT_METHODS: Final = frozenset({"sendChatAction"})
_CHAT_PREFIXES: Final = ("send", "copyMessage", "forwardMessage", "editMessage")
# The Bot API methods that take allow_paid_broadcast (Bot API 7.11+).
PAID_METHODS: Final = frozenset(
    {
        "sendMessage", "copyMessage", "sendPhoto", "sendAudio", "sendDocument", "sendVideo", "sendAnimation",
        "sendVoice", "sendVideoNote", "sendPaidMedia", "sendMediaGroup", "sendLocation", "sendVenue",
        "sendContact", "sendPoll", "sendDice", "sendSticker", "sendInvoice", "sendGame",
    }
)  # fmt: skip


@dataclass(frozen=True)
class SendArgs:
    """`rate_limit_args` of a Bot call: its priority and whether the caller already took an overall slot."""

    priority: int = REPLY
    prepaid: bool = False


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def is_group_chat(chat_id: object) -> bool:
    if isinstance(chat_id, str):
        return chat_id.startswith("@") or chat_id.lstrip().startswith("-")
    return isinstance(chat_id, int) and chat_id < 0


def counts_as_message(endpoint: str, data: dict[str, Any]) -> bool:
    """Calls that put a message into a chat: these are what Telegram's flood limits count."""
    if "chat_id" not in data or endpoint in _NOT_CHAT_METHODS:
        return False
    return endpoint.startswith(_CHAT_PREFIXES)


class _Gate:
    """The overall budget: evenly spaced slots, handed out by priority, then first come first served."""

    def __init__(self, per_second: float, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]):
        self.interval = 1.0 / per_second
        self.clock = clock
        self.sleep = sleep
        self.next_free = 0.0
        self.blocked_until = 0.0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._pump: asyncio.Task[None] | None = None

    def ready_at(self) -> float:
        return max(self.next_free, self.blocked_until)

    def _take(self, now: float) -> None:
        # Keep the average exact after a late wake-up (the event loop was busy: a planner batch, a slow query):
        # up to CATCH_UP seconds late, the missed slots are still used (at 25/s at most 3 at once, so no second
        # holds more than 28 of Telegram's 30); later than that the sender was idle and nothing is banked.
        late = now - self.next_free
        self.next_free = (self.next_free if late <= max(self.interval, CATCH_UP) else now) + self.interval

    async def acquire(self, priority: int) -> None:
        now = self.clock()
        if not self._waiters and now >= self.ready_at():
            self._take(now)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run(), name="qmsbot-rate-gate")
        await future

    async def _run(self) -> None:
        while self._waiters:
            now = self.clock()
            ready = self.ready_at()
            if now < ready:
                await self.sleep(ready - now)
                continue
            _, _, future = heapq.heappop(self._waiters)
            if future.done():  # the caller was cancelled
                continue
            self._take(now)
            future.set_result(None)

    async def close(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        for _, _, future in self._waiters:
            if not future.done():
                future.cancel()
        self._waiters.clear()


@dataclass
class _Chat:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tat: float = 0.0  # private chats: the theoretical arrival time of the next message (GCRA)
    sent: deque[float] = field(default_factory=deque)  # groups: when recent messages went out
    blocked_until: float = 0.0


class TelegramRateLimiter(BaseRateLimiter[SendArgs]):
    """Telegram's limits for one bot, shared by direct replies and the outbox sender (see the module text)."""

    def __init__(
        self,
        overall_per_second: float = 25.0,
        *,
        private_chat_per_second: float = 1.0,
        reply_burst: int = 20,
        group_per_minute: int = 20,
        max_retries: int = 3,
        max_retry_wait: float = 120.0,
        paid_per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if overall_per_second <= 0 or private_chat_per_second <= 0 or group_per_minute <= 0:
            raise ValueError("rates must be positive")
        self._overall = overall_per_second
        self.private_interval = 1.0 / private_chat_per_second
        self.reply_burst = max(1, reply_burst)
        self.group_per_minute = group_per_minute
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.clock = clock
        self.sleep = sleep
        # Paid broadcasts: the gate opens up to the paid rate; the free rate decides which messages are paid.
        self.paid_per_second = paid_per_second if paid_per_second and paid_per_second > overall_per_second else None
        self.gate = _Gate(self.paid_per_second or overall_per_second, clock, sleep)
        self._chats: dict[int | str, _Chat] = {}
        self._recent: deque[float] = deque()  # when the messages of the last second went out (paid mode)
        self.retries_after_429 = 0  # how many times Telegram said 429 and we waited
        self.paid_messages = 0  # sent with allow_paid_broadcast

    # -- settings -------------------------------------------------------------------------------------

    @property
    def overall_per_second(self) -> float:
        return self._overall

    @overall_per_second.setter
    def overall_per_second(self, value: float) -> None:
        if value <= 0:
            raise ValueError("the overall rate must be positive")
        self._overall = value
        if self.paid_per_second is None:
            self.gate.interval = 1.0 / value

    # -- BaseRateLimiter ------------------------------------------------------------------------------

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        await self.gate.close()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: SendArgs | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        limits = rate_limit_args or SendArgs()
        chat_id = data.get("chat_id")
        message = counts_as_message(endpoint, data) and isinstance(chat_id, int | str)
        prepaid = limits.prepaid
        attempt = 0
        while True:
            try:
                if message:
                    assert isinstance(chat_id, int | str)
                    return await self._send_in_chat(
                        chat_id, limits.priority, prepaid, callback, args, kwargs, endpoint, data
                    )
                await self._wait_until(self.gate.blocked_until)
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = retry_after_seconds(error)
                if attempt >= self.max_retries or wait > self.max_retry_wait:
                    raise
                attempt += 1
                prepaid = False
                self.retries_after_429 += 1
                until = self.clock() + wait + WINDOW_MARGIN
                if message and is_group_chat(chat_id):
                    assert isinstance(chat_id, int | str)
                    chat = self._chat(chat_id)
                    chat.blocked_until = max(chat.blocked_until, until)
                else:
                    self.gate.blocked_until = max(self.gate.blocked_until, until)
                log.warning("429 for %s to %s: waiting %.1f s (retry %d)", endpoint, chat_id, wait, attempt)

    # -- for the outbox drain (bot.telegram_channel) ------------------------------------------------------

    def chat_wait(self, chat_id: int | str, priority: int = OUTBOX) -> float:
        """Seconds before a message of this priority may go to the chat (0: now), without waiting."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return 0.0
        if chat.lock.locked():
            return self.private_interval if not is_group_chat(chat_id) else 1.0
        return max(0.0, self._chat_ready_at(chat_id, chat, priority) - self.clock())

    async def take_outbox_slot(self) -> None:
        """Wait for an overall slot (after any waiting replies); pass `SendArgs(OUTBOX, prepaid=True)` then."""
        await self.gate.acquire(OUTBOX)

    # -- inside -------------------------------------------------------------------------------------

    def _chat(self, chat_id: int | str) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if len(self._chats) > 20_000:
                self._forget_idle()
            chat = self._chats[chat_id] = _Chat()
        return chat

    def _forget_idle(self) -> None:
        now = self.clock()
        for key, chat in list(self._chats.items()):
            idle = not chat.lock.locked() and chat.tat < now and chat.blocked_until < now
            if idle and (not chat.sent or now - chat.sent[-1] > GROUP_WINDOW + WINDOW_MARGIN):
                del self._chats[key]

    def _chat_ready_at(self, chat_id: int | str, chat: _Chat, priority: int) -> float:
        ready = chat.blocked_until
        if is_group_chat(chat_id):
            now = self.clock()
            window = GROUP_WINDOW + WINDOW_MARGIN
            while chat.sent and now - chat.sent[0] >= window:
                chat.sent.popleft()
            if len(chat.sent) >= self.group_per_minute:
                ready = max(ready, chat.sent[len(chat.sent) - self.group_per_minute] + window)
        else:
            tolerance = (self.reply_burst - 1) * self.private_interval if priority == REPLY else 0.0
            ready = max(ready, chat.tat - tolerance)
        return ready

    def _mark_paid_beyond_free_rate(self, endpoint: str, data: dict[str, Any]) -> None:
        # `data` is the very dict python-telegram-bot turns into the request after this limiter lets it go.
        now = self.clock()
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        if len(self._recent) >= self._overall and endpoint in PAID_METHODS:
            data["allow_paid_broadcast"] = True
            self.paid_messages += 1
        self._recent.append(now)

    async def _wait_until(self, moment: float) -> None:
        while (delay := moment - self.clock()) > 0:
            await self.sleep(delay)

    async def _send_in_chat(
        self,
        chat_id: int | str,
        priority: int,
        prepaid: bool,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat = self._chat(chat_id)
        async with chat.lock:  # one message at a time per chat, in order
            while (ready := self._chat_ready_at(chat_id, chat, priority)) > self.clock():
                await self._wait_until(ready)
            if not prepaid:
                await self.gate.acquire(priority)
            await self._wait_until(self.gate.blocked_until)
            if self.paid_per_second is not None:
                self._mark_paid_beyond_free_rate(endpoint, data)
            try:
                return await callback(*args, **kwargs)
            finally:
                # Counted from when Telegram answered: later than it counted, so on the safe side.
                done = self.clock()
                if is_group_chat(chat_id):
                    chat.sent.append(done)
                else:
                    chat.tat = max(chat.tat, done) + self.private_interval
