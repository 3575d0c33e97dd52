"""What the drain sends through: a channel delivers one outbox message or says, channel-neutrally, why not.

Telegram is one channel (bot.telegram_channel); another (e-mail, Zalo) is one more class with `send`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from storage.outbox import QueuedMessage


@dataclass(frozen=True)
class Delivered:
    """The channel accepted the message; `message_id` is its id there (Telegram's message id)."""

    message_id: int


class Undelivered(Exception):
    """The channel did not deliver; `reason` is kept as the row's last error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(Undelivered):
    """The channel asks us to wait (Telegram's 429): again after `seconds`, not counted as an attempt."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry after {seconds:g} s")
        self.seconds = seconds


class Unreachable(Undelivered):
    """The recipient cannot be reached (Telegram's 403: blocked the bot, never started it)."""


class Refused(Undelivered):
    """The channel refused this message for good (Telegram's 400): no retry."""


class Transient(Undelivered):
    """A network error, a timeout, a server error: try again later, counted as an attempt."""


class Channel(Protocol):
    """Sends one message; raises an `Undelivered` when it did not. The rate hooks default to no limit."""

    async def send(self, message: QueuedMessage) -> Delivered: ...

    def chat_wait(self, chat_id: int) -> float:
        """Seconds before a message may go to this chat (0: now), without waiting."""
        return 0.0

    async def take_slot(self) -> None:
        """Wait for the channel's overall budget to allow one more message now."""
        return None
