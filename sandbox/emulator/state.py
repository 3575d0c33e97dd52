"""The emulated Telegram world: users, chats, messages, files, pending updates, callback queries.

:class:`World` holds the state and the operations both sides share: the Bot API methods (the bot's side,
``emulator_methods``) and the driver (the users' side, ``emulator``). Every stored message is a dict in
the Bot API's Message shape, as Telegram would return it; a change counter (``seq``) orders creations and
edits so that tests can wait for "a new or edited bot message".
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Json = dict[str, Any]
Clock = Callable[[], "float | datetime"]

UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
# What Telegram sends when allowed_updates was never set (or set to []).
DEFAULT_UPDATES = frozenset(UPDATE_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}


class EmulatorError(ValueError):
    """A driver call that Telegram's clients would not allow (unknown user, no such button, ...)."""


class Signal:
    """A broadcast wake-up: every waiter present when :meth:`fire` runs wakes up."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float | None) -> bool:
        """True if fired within ``seconds`` (None: no limit)."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        return True


@dataclass
class UserState:
    user: Json  # Telegram User
    started: bool = False
    blocked: bool = False


@dataclass
class StoredMessage:
    data: Json  # Telegram Message, current state
    outgoing: bool  # sent by the bot
    seq: int  # change counter value of the last creation or edit
    deleted: bool = False


@dataclass
class ChatState:
    chat: Json  # Telegram Chat as embedded in messages
    members: set[int] = field(default_factory=set)
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    chat_instance: str = ""
    reply_keyboard: Json | None = None  # the custom keyboard the bot last showed (not part of messages)
    last_action: str | None = None
    bot_status: str = "member"  # groups: "member", or "left" / "kicked" once the bot was removed
    migrated_to: int | None = None  # a basic group upgraded to a supergroup: the supergroup's id

    @property
    def id(self) -> int:
        return int(self.chat["id"])

    @property
    def is_group(self) -> bool:
        return self.chat["type"] != "private"


@dataclass
class FileRecord:
    file_id: str
    file_unique_id: str
    data: bytes = field(repr=False)
    kind: str  # "document" or "photo"
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0

    def file_object(self) -> Json:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }

    def document_object(self) -> Json:
        obj: Json = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.file_name:
            obj["file_name"] = self.file_name
        if self.mime_type:
            obj["mime_type"] = self.mime_type
        obj["file_size"] = len(self.data)
        return obj

    def photo_sizes(self) -> list[Json]:
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "file_size": len(self.data),
                "width": self.width,
                "height": self.height,
            }
        ]


@dataclass
class CallbackRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    forged: bool
    created: float  # monotonic
    answers: list[Json] = field(default_factory=list)


class World:
    """All emulated state, with the operations the bot's and the users' sides share."""

    def __init__(
        self,
        *,
        bot_id: int,
        bot_username: str,
        bot_first_name: str,
        clock: Clock | None = None,
        seed: int = 0,
    ) -> None:
        self.bot_user: Json = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        # how the bot appears in messages and chat members (getMe adds its capabilities)
        self.bot_sender: Json = {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}
        self.clock: Clock = clock or time.time
        self.monotonic: Callable[[], float] = time.monotonic
        self.rng = random.Random(seed)
        self.users: dict[int, UserState] = {}
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, FileRecord] = {}
        self.files_by_path: dict[str, FileRecord] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.updates: list[Json] = []
        self.next_update_id = 1
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATES
        self.commands: dict[tuple[str, int | None, int | None, str], list[Json]] = {}
        self.descriptions: dict[tuple[str, str], str] = {}  # (kind, language_code) -> text
        self.menu_buttons: dict[int | None, Json] = {}
        self.webhook: Json = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        self.deliveries: Counter[int] = Counter()
        self.privacy_mode = True
        self.seq = 0
        self.user_action_seq: dict[int, int] = {}
        self.changed = Signal()
        self.update_signal = Signal()
        self.closed = False
        self._subscribers: list[asyncio.Queue[Json]] = []
        self._file_counter = itertools.count(1)

    # -- time -----------------------------------------------------------------------------------------

    def now(self) -> int:
        """The current Unix time from the injectable clock (an epoch number or an aware datetime)."""
        value = self.clock()
        if isinstance(value, datetime):
            return int(value.timestamp())
        return int(value)

    # -- registry -------------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> Json:
        if user_id <= 0:
            raise EmulatorError("a user id must be positive")
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        state = self.users.get(user_id)
        if state is None:
            self.users[user_id] = UserState(user)
        else:
            state.user = user
        self.emit({"type": "user", "user": copy.deepcopy(user)})
        return copy.deepcopy(user)

    def user(self, user_id: int) -> UserState:
        state = self.users.get(user_id)
        if state is None:
            raise EmulatorError(f"unknown user {user_id}: call add_user first")
        return state

    def add_group(
        self, chat_id: int, title: str, member_ids: list[int] | tuple[int, ...] = (), *, supergroup: bool = False
    ) -> Json:
        if chat_id >= 0:
            raise EmulatorError("a group id must be negative")
        for member in member_ids:
            self.user(member)
        chat: Json = (
            {"id": chat_id, "title": title, "type": "supergroup"}
            if supergroup
            else {"id": chat_id, "title": title, "type": "group", "all_members_are_administrators": True}
        )
        state = self.chats.get(chat_id)
        if state is None:
            state = ChatState(chat, set(member_ids), chat_instance=self._chat_instance(chat_id))
            self.chats[chat_id] = state
        else:
            state.chat = chat
            state.members = set(member_ids)
            state.bot_status = "member"
        self.emit({"type": "chat", "chat": copy.deepcopy(chat)})
        return copy.deepcopy(chat)

    def private_chat(self, user_id: int) -> ChatState:
        state = self.chats.get(user_id)
        user = self.user(user_id).user
        chat = {"id": user_id, "first_name": user["first_name"], "type": "private"}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        if state is None:
            state = ChatState(chat, {user_id}, chat_instance=self._chat_instance(user_id))
            self.chats[user_id] = state
        else:
            state.chat = chat
        return state

    def find_chat(self, chat_id: int) -> ChatState | None:
        if chat_id > 0:
            return self.private_chat(chat_id) if chat_id in self.users else None
        return self.chats.get(chat_id)

    def _chat_instance(self, chat_id: int) -> str:
        digest = hashlib.sha256(f"{self.bot_user['id']}:{chat_id}".encode()).digest()
        return str(int.from_bytes(digest[:8], "big") - 2**63)

    # -- messages -------------------------------------------------------------------------------------

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def add_message(
        self, chat: ChatState, sender: Json, content: Json, *, outgoing: bool, reply_to: int | None = None
    ) -> Json:
        """Store a new message in ``chat`` and announce it; returns the stored dict (not a copy)."""
        message_id = chat.next_message_id
        chat.next_message_id += 1
        message: Json = {"message_id": message_id, "from": sender, "chat": dict(chat.chat), "date": self.now()}
        message.update(content)
        if reply_to is not None:
            original = chat.messages[reply_to].data
            message["reply_to_message"] = {k: v for k, v in original.items() if k != "reply_to_message"}
        chat.messages[message_id] = StoredMessage(message, outgoing, self.next_seq())
        if outgoing:
            self.deliveries[chat.id] += 1
        self.changed.fire()
        self.emit({"type": "message", "chat_id": chat.id, "message": copy.deepcopy(message)})
        return message

    def live_message(self, chat: ChatState, message_id: int) -> StoredMessage | None:
        stored = chat.messages.get(message_id)
        return None if stored is None or stored.deleted else stored

    def touch(self, chat: ChatState, stored: StoredMessage, event: str = "edited") -> None:
        """Record an edit (or deletion) of ``stored``."""
        stored.seq = self.next_seq()
        self.changed.fire()
        self.emit({"type": event, "chat_id": chat.id, "message": copy.deepcopy(stored.data)})

    # -- updates --------------------------------------------------------------------------------------

    def push_update(self, kind: str, payload: Json) -> int | None:
        """Queue an update for getUpdates, unless allowed_updates excludes its kind."""
        if kind not in self.allowed_updates:
            return None
        update_id = self.next_update_id
        self.next_update_id += 1
        self.updates.append({"update_id": update_id, kind: copy.deepcopy(payload)})
        self.update_signal.fire()
        return update_id

    def confirm_updates(self, offset: int) -> None:
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    def note_user_action(self, chat_id: int) -> None:
        self.user_action_seq[chat_id] = self.seq

    # -- files ----------------------------------------------------------------------------------------

    def store_file(
        self,
        data: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int = 0,
        height: int = 0,
    ) -> FileRecord:
        number = next(self._file_counter)
        unique = hashlib.sha256(data).hexdigest()[:16]
        file_id = f"{'BQ' if kind == 'document' else 'AgAC'}ACAgEmu{number:06d}{self.rng.getrandbits(64):016x}"
        folder = "documents" if kind == "document" else "photos"
        extension = ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1][:10]
        elif kind == "photo":
            extension = ".jpg"
        record = FileRecord(
            file_id=file_id,
            file_unique_id=f"AQAD{unique}",
            data=data,
            kind=kind,
            file_path=f"{folder}/file_{number}{extension}",
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self.files[file_id] = record
        self.files_by_path[record.file_path] = record
        return record

    # -- events for a UI ------------------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[Json]:
        queue: asyncio.Queue[Json] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Json]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def emit(self, event: Json) -> None:
        event.setdefault("time", time.time())
        for queue in list(self._subscribers):
            queue.put_nowait(event)

    def close(self) -> None:
        self.closed = True
        self.changed.fire()
        self.update_signal.fire()
        self.emit({"type": "closed"})
