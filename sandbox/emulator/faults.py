"""Telegram's flood control and scripted or random faults, for the Bot API emulator.

Both are off by default. :class:`FloodControl` answers whether one more message may go out now, with
Telegram's three limits: messages per second per bot, per second to one private chat, per minute to one
group. :class:`FaultInjector` decides, per request, whether to answer with an error instead of doing the
work, or to hang before answering (with or without doing the work), so that a test can exercise retries,
timeouts and at-least-once delivery.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

_PHRASES = {
    400: "Bad Request: injected fault",
    403: "Forbidden: injected fault",
    409: "Conflict: injected fault",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# Methods that random faults leave alone unless told otherwise: polling and start-up calls.
QUIET_METHODS = frozenset({"getupdates", "getme", "deletewebhook", "getwebhookinfo", "logout", "close"})


@dataclass
class FloodLimits:
    """Telegram's sending limits; None switches one off."""

    global_per_second: int | None = 30
    private_chat_per_second: float | None = None  # Telegram's per-chat limit is soft: off by default
    group_per_minute: int | None = 20
    # Messages sent with allow_paid_broadcast (paid in Stars) may go up to this many a second in all.
    paid_per_second: int | None = 1000


class FloodControl:
    """Sliding-window counters of delivered messages; ``limits=None`` means no flood control."""

    def __init__(self, limits: FloodLimits | None, monotonic: Callable[[], float]) -> None:
        self.limits = limits
        self._monotonic = monotonic
        self._all: deque[float] = deque()
        self._private_last: dict[int, float] = {}
        self._groups: dict[int, deque[float]] = {}
        self.rejected = 0

    def retry_after(self, chat_id: int, *, group: bool, paid: bool = False) -> int | None:
        """Seconds to wait before a message to ``chat_id`` may go out, or None if it may go now.

        A paid broadcast (``paid``) is held to ``paid_per_second`` overall instead of ``global_per_second``."""
        limits = self.limits
        if limits is None:
            return None
        now = self._monotonic()
        waits: list[float] = []
        overall = limits.paid_per_second if paid else limits.global_per_second
        if overall is not None:
            while self._all and now - self._all[0] >= 1.0:
                self._all.popleft()
            if len(self._all) >= overall:
                waits.append(self._all[0] + 1.0 - now)
        if group and limits.group_per_minute is not None:
            window = self._groups.get(chat_id, deque())
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) >= limits.group_per_minute:
                waits.append(window[0] + 60.0 - now)
        if not group and limits.private_chat_per_second:
            last = self._private_last.get(chat_id)
            interval = 1.0 / limits.private_chat_per_second
            if last is not None and now - last < interval:
                waits.append(last + interval - now)
        if not waits:
            return None
        self.rejected += 1
        return max(1, math.ceil(max(waits)))

    def record(self, chat_id: int, *, group: bool) -> None:
        """Count one message that went out to ``chat_id``."""
        now = self._monotonic()
        self._all.append(now)
        if group:
            self._groups.setdefault(chat_id, deque()).append(now)
        else:
            self._private_last[chat_id] = now


@dataclass
class Fault:
    """What to do instead of (or besides) answering one request normally."""

    status: int = 500
    description: str | None = None
    retry_after: int | None = None
    delay: float = 0.0  # seconds to hang before answering
    process: bool = False  # with a delay: do the work first (the client may never learn it succeeded)

    def error_payload(self) -> dict[str, object]:
        description = self.description
        if description is None:
            if self.status == 429:
                description = f"Too Many Requests: retry after {self.retry_after or 1}"
            else:
                description = _PHRASES.get(self.status, "Injected fault")
        body: dict[str, object] = {"ok": False, "error_code": self.status, "description": description}
        if self.status == 429:
            body["parameters"] = {"retry_after": self.retry_after or 1}
        return body


@dataclass
class _Scripted:
    method: str  # lower-case method name, or "*"
    remaining: int
    fault: Fault


@dataclass
class FaultInjector:
    """Scripted faults (:meth:`fail_next`, :meth:`hang_next`) first, then random ones (seeded)."""

    seed: int = 0
    error_rate: float = 0.0  # probability of a 500/502 answer, work not done
    delay_rate: float = 0.0  # probability of hanging delay_seconds before answering
    delay_seconds: float = 30.0
    process_delayed: bool = True  # a randomly delayed request is processed before the hang
    quiet_methods: frozenset[str] = QUIET_METHODS
    injected: Counter[str] = field(default_factory=Counter)  # method -> faults injected
    _scripted: list[_Scripted] = field(default_factory=list, init=False, repr=False)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._random = random.Random(seed)

    def fail_next(
        self,
        method: str,
        status: int = 500,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` ("*" for any) fail with ``status``, doing nothing."""
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(status=status, description=description, retry_after=retry_after)
        self._scripted.append(_Scripted(method.lower(), count, fault))

    def hang_next(self, method: str, seconds: float, count: int = 1, *, process: bool = True) -> None:
        """The next ``count`` calls of ``method`` hang ``seconds``; with ``process`` the work is done first."""
        fault = Fault(status=200 if process else 504, delay=seconds, process=process)
        self._scripted.append(_Scripted(method.lower(), count, fault))

    def clear(self) -> None:
        """Forget scripted faults and switch random ones off."""
        self._scripted.clear()
        self.error_rate = 0.0
        self.delay_rate = 0.0

    def decide(self, method: str) -> Fault | None:
        """The fault for this call of ``method`` (canonical name), or None to answer normally."""
        lower = method.lower()
        for index, rule in enumerate(self._scripted):
            if rule.method in (lower, "*"):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self._scripted[index]
                self.injected[method] += 1
                return rule.fault
        if lower in self.quiet_methods or (self.error_rate <= 0 and self.delay_rate <= 0):
            return None
        if self.error_rate > 0 and self._random.random() < self.error_rate:
            self.injected[method] += 1
            return Fault(status=self._random.choice((500, 502)))
        if self.delay_rate > 0 and self._random.random() < self.delay_rate:
            self.injected[method] += 1
            process = self.process_delayed
            return Fault(status=200 if process else 504, delay=self.delay_seconds, process=process)
        return None
