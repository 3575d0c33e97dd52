"""The drain's Telegram channel: one outbox message → one Bot API call, Telegram's errors → neutral outcomes.

It paces through the bot's TelegramRateLimiter (bot.ratelimit) when the Bot has one: the drain asks it how long
a chat must wait and takes an overall slot before each send, and the call is then marked prepaid.
"""

from __future__ import annotations

from typing import Any

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
from scheduler.channel import Channel, Delivered, Refused, RetryLater, Transient, Unreachable
from storage.outbox import QueuedMessage

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


def reply_markup(data: dict[str, Any] | None) -> Markup | None:
    """A reply markup stored as Bot API JSON (an outbox row's `reply_markup`) as python-telegram-bot's object."""
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


def _text(error: BaseException) -> str:
    return str(error) or type(error).__name__


class TelegramChannel(Channel):
    """Sends outbox messages with one Bot (text, document or photo); `request_timeout` is one send's read timeout."""

    def __init__(self, bot: Bot, *, request_timeout: float | None = None) -> None:
        self.bot = bot
        self.request_timeout = request_timeout
        limiter = getattr(bot, "rate_limiter", None)
        self.limiter: TelegramRateLimiter | None = limiter if isinstance(limiter, TelegramRateLimiter) else None

    def chat_wait(self, chat_id: int) -> float:
        return self.limiter.chat_wait(chat_id, OUTBOX) if self.limiter is not None else 0.0

    async def take_slot(self) -> None:
        if self.limiter is not None:
            await self.limiter.take_outbox_slot()

    async def send(self, message: QueuedMessage) -> Delivered:
        try:
            sent = await self._call(message)
        except RetryAfter as error:  # longer than the rate limiter would wait itself
            raise RetryLater(retry_after_seconds(error), _text(error)) from error
        except Forbidden as error:  # blocked, kicked, never started
            raise Unreachable(_text(error)) from error
        except (BadRequest, ChatMigrated) as error:
            raise Refused(_text(error)) from error
        except (TimeoutError, TelegramError, OSError) as error:  # network, timeouts, 5xx
            raise Transient(_text(error)) from error
        return Delivered(sent.message_id)

    async def _call(self, row: QueuedMessage) -> Message:
        extra: dict[str, Any] = {}
        if self.limiter is not None:
            extra["rate_limit_args"] = SendArgs(priority=OUTBOX, prepaid=True)
        if self.request_timeout is not None:
            extra["read_timeout"] = self.request_timeout
        markup = reply_markup(row.reply_markup)
        if row.media in ("document", "photo"):
            media: InputFile | str
            if row.file_data is not None:
                media = InputFile(row.file_data, filename=row.file_name or None)
            elif row.file_id:
                media = row.file_id
            else:
                raise Refused("outbox row has media but neither file data nor a file id")
            caption = row.text or None
            if row.media == "photo":
                return await self.bot.send_photo(row.chat_id, media, caption=caption, reply_markup=markup, **extra)
            return await self.bot.send_document(row.chat_id, media, caption=caption, reply_markup=markup, **extra)
        return await self.bot.send_message(row.chat_id, row.text, reply_markup=markup, **extra)
