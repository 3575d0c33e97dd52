"""A Telegram Bot API emulator: an aiohttp server that answers like ``api.telegram.org`` for what a bot uses.

The real python-telegram-bot runs against it over HTTP::

    emu = Emulator()
    await emu.start()
    app = ApplicationBuilder().token(emu.token).base_url(emu.api_url).base_file_url(emu.file_url).build()

Tests and the sandbox web chat act as Telegram users through the driver methods (:meth:`Emulator.add_user`,
:meth:`Emulator.send_message`, :meth:`Emulator.press_button`, ...) or the same operations as JSON under
``/_emulator/`` (see :mod:`sandbox.emulator.control`), and inspect what the bot did through the query methods
(:meth:`Emulator.messages_in`, :meth:`Emulator.wait_for_bot_message`, :attr:`Emulator.requests`, ...).

Every request is validated against Telegram's published method list (``telegram_api/api.json``); unknown
parameters are rejected (Telegram ignores them) so that a bot's typo fails a test. Flood limits and faults
are off by default and can be switched on at construction or at run time.
"""

from __future__ import annotations

import asyncio
import copy
import json
import mimetypes
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import BodyPartReader, web
from aiohttp.web_request import FileField

from sandbox.emulator.faults import Fault, FaultInjector, FloodControl, FloodLimits
from sandbox.emulator.media import image_size
from sandbox.emulator.methods import BotMethods
from sandbox.emulator.schema import ApiError, UploadedFile, bad_request, load_schema
from sandbox.emulator.state import CallbackRecord, ChatState, Clock, EmulatorError, Json, World
from sandbox.emulator.tghtml import finish_text

__all__ = ["Emulator", "EmulatorError", "FloodLimits", "RequestRecord"]

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_BODY = 60 * 1024 * 1024


@dataclass(frozen=True)
class RequestRecord:
    """One Bot API call as the emulator saw it."""

    method: str  # canonical name ("sendMessage"), or the name as requested when unknown
    params: Json  # raw parameters; uploaded files as {"filename", "content_type", "size"}
    status: int  # HTTP status of the answer
    time: float  # Unix time (wall clock) when the answer was ready
    description: str | None = None  # Telegram's error description, if any
    fault: bool = False  # the answer was an injected fault


class Emulator:
    """The Bot API server plus the emulated users around the bot."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "qmsbot_sandbox_bot",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        bot_first_name: str = "QMS Bot (sandbox)",
        clock: Clock | None = None,
        monotonic: Callable[[], float] | None = None,
        flood_limits: FloodLimits | None = None,
        error_rate: float = 0.0,
        delay_rate: float = 0.0,
        delay_seconds: float = 30.0,
        process_delayed: bool = True,
        seed: int = 0,
        strict_html: bool = True,
        callback_ttl: float | None = None,
        privacy_mode: bool = True,
        request_log_size: int = 10_000,
    ) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"the emulator listens on loopback only, not {host!r}")
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError("a bot token looks like 123456:SECRET")
        self.token = token
        self.host = host
        self.port = port
        self.schema = load_schema()
        self.world = World(
            bot_id=int(bot_id), bot_username=bot_username, bot_first_name=bot_first_name, clock=clock, seed=seed
        )
        if monotonic is not None:
            self.world.monotonic = monotonic
        self.world.privacy_mode = privacy_mode
        self.flood = FloodControl(flood_limits, lambda: self.world.monotonic())
        self.faults = FaultInjector(
            seed=seed,
            error_rate=error_rate,
            delay_rate=delay_rate,
            delay_seconds=delay_seconds,
            process_delayed=process_delayed,
        )
        self.methods = BotMethods(self.world, self.flood, strict_html=strict_html, callback_ttl=callback_ttl)
        self.requests: deque[RequestRecord] = deque(maxlen=request_log_size)
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # -- server ----------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The Bot API server root (TELEGRAM_API_BASE_URL), e.g. ``http://127.0.0.1:40123``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What python-telegram-bot calls ``base_url``: the root plus ``/bot``."""
        return f"{self.base_url}/bot"

    @property
    def file_url(self) -> str:
        """What python-telegram-bot calls ``base_file_url``: the root plus ``/file/bot``."""
        return f"{self.base_url}/file/bot"

    @property
    def bot_user(self) -> Json:
        return dict(self.world.bot_user)

    def make_app(self) -> web.Application:
        """The aiohttp application (to embed the emulator in another server)."""
        from sandbox.emulator.control import control_routes

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_routes(control_routes(self))
        return app

    async def start(self) -> None:
        """Bind (port 0: a free port) and serve."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping = asyncio.Event()
        self.world.closed = False
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving; long polls and hanging requests end at once."""
        if self._runner is None:
            return
        if self._stopping is not None:
            self._stopping.set()
        self.world.close()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle_api(self, request: web.Request) -> web.Response:
        requested = request.match_info["method"]
        if request.match_info["token"] != self.token:
            self._log(requested, {}, 401, "Unauthorized")
            return _json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        method = self.schema.canonical_method(requested)
        if method is None:
            self._log(requested, {}, 404, "Not Found")
            return _json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        try:
            raw, files = await _read_params(request)
        except ApiError as exc:
            self._log(method, {}, exc.status, exc.description)
            return _json_response(exc.payload(), exc.status)
        logged = _loggable(raw, files)
        fault = self.faults.decide(method)
        if fault is not None and not fault.process:
            if fault.delay:
                await self._hang(fault)
            payload: Json = fault.error_payload()
            self._log(method, logged, fault.status, str(payload["description"]), fault=True)
            return _json_response(payload, fault.status)
        status, payload = await self.call(method, raw, files)
        self._log(method, logged, status, payload.get("description"), fault=fault is not None)
        if fault is not None:
            await self._hang(fault)
        return _json_response(payload, status)

    async def call(self, method: str, raw: Json, files: dict[str, UploadedFile] | None = None) -> tuple[int, Json]:
        """Run one Bot API method (canonical name) on raw parameters: (HTTP status, answer body)."""
        try:
            params = self.schema.validate(method, raw, files)
            handler = self.methods.handlers.get(method)
            if handler is None:
                raise bad_request(f"method {method} is not implemented by the emulator")
            result = await handler(params)
        except ApiError as exc:
            return exc.status, exc.payload()
        return 200, {"ok": True, "result": result}

    async def _hang(self, fault: Fault) -> None:
        if self._stopping is None:
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), fault.delay)
        except TimeoutError:
            pass

    async def _handle_file(self, request: web.Request) -> web.Response:
        not_found = _json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        if request.match_info["token"] != self.token:
            return not_found
        record = self.world.files_by_path.get(request.match_info["path"])
        if record is None:
            return not_found
        return web.Response(body=record.data, content_type=record.mime_type or "application/octet-stream")

    def _log(self, method: str, params: Json, status: int, description: str | None, fault: bool = False) -> None:
        self.requests.append(RequestRecord(method, params, status, time.time(), description, fault))

    # -- acting as users -------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> Json:
        """Create (or rename) a Telegram user; they have not started the bot yet."""
        return self.world.add_user(user_id, first_name, last_name, username, language_code)

    def add_group(
        self, chat_id: int, title: str, member_ids: list[int] | tuple[int, ...] = (), *, supergroup: bool = False
    ) -> Json:
        """Create a group (negative id; a supergroup when asked) with the bot and the given users in it."""
        return self.world.add_group(chat_id, title, member_ids, supergroup=supergroup)

    def upgrade_group(self, chat_id: int, new_chat_id: int, by_user_id: int) -> Json:
        """A basic group becomes a supergroup with a new id, as Telegram does it: the old group gets a service
        message with ``migrate_to_chat_id``, the new one with ``migrate_from_chat_id``, both sent to the bot; the
        old id answers 400 with ``parameters.migrate_to_chat_id`` from then on."""
        world = self.world
        old = self._chat_of(by_user_id, chat_id)
        if old.chat["type"] != "group" or old.migrated_to is not None:
            raise EmulatorError("only a basic group can be upgraded to a supergroup")
        if new_chat_id in world.chats:
            raise EmulatorError(f"chat {new_chat_id} exists already")
        new = world.add_group(new_chat_id, str(old.chat["title"]), sorted(old.members), supergroup=True)
        world.chats[new_chat_id].bot_status = old.bot_status
        sender = dict(world.users[by_user_id].user)
        moved = world.add_message(old, sender, {"migrate_to_chat_id": new_chat_id}, outgoing=False)
        old.migrated_to = new_chat_id
        # In the supergroup the service message comes from the group itself, as a sender chat.
        anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
        arrived = world.add_message(
            world.chats[new_chat_id],
            anonymous,
            {"sender_chat": dict(world.chats[new_chat_id].chat), "migrate_from_chat_id": chat_id},
            outgoing=False,
        )
        if old.bot_status == "member":
            world.push_update("message", moved)
            world.push_update("message", arrived)
        return new

    def remove_bot(self, chat_id: int, by_user_id: int) -> None:
        """A member removes the bot from a group: my_chat_member member -> left (a basic group) or kicked (a
        supergroup), as Telegram sends it; the bot sees nothing of the group and cannot write to it any more."""
        self._set_bot_status(chat_id, by_user_id, present=False)

    def add_bot(self, chat_id: int, by_user_id: int) -> None:
        """A member adds the bot (back) to a group: my_chat_member left/kicked -> member."""
        self._set_bot_status(chat_id, by_user_id, present=True)

    def _set_bot_status(self, chat_id: int, by_user_id: int, *, present: bool) -> None:
        world = self.world
        chat = self._chat_of(by_user_id, chat_id)
        if not chat.is_group:
            raise EmulatorError("only a group's member can add or remove the bot; a user blocks it instead")
        new_status = "member" if present else ("kicked" if chat.chat["type"] == "supergroup" else "left")
        if (chat.bot_status == "member") == present:
            return
        bot = dict(world.bot_sender)

        def member(status: str) -> Json:
            return {"status": status, "user": bot, **({"until_date": 0} if status == "kicked" else {})}

        old = member(chat.bot_status)
        chat.bot_status = new_status
        world.push_update(
            "my_chat_member",
            {
                "chat": {k: v for k, v in chat.chat.items() if k != "all_members_are_administrators"},
                "from": dict(world.users[by_user_id].user),
                "date": world.now(),
                "old_chat_member": old,
                "new_chat_member": member(new_status),
            },
        )
        world.emit({"type": "bot_added" if present else "bot_removed", "chat_id": chat_id})

    def _chat_of(self, user_id: int, chat_id: int | None) -> ChatState:
        self.world.user(user_id)
        if chat_id is None or chat_id == user_id:
            return self.world.private_chat(user_id)
        chat = self.world.chats.get(chat_id)
        if chat is None:
            raise EmulatorError(f"unknown chat {chat_id}")
        if user_id not in chat.members:
            raise EmulatorError(f"user {user_id} is not a member of chat {chat_id}")
        return chat

    def _user_writes(self, user_id: int, chat: ChatState) -> None:
        state = self.world.users[user_id]
        if not chat.is_group:
            if state.blocked:
                self.unblock(user_id)
            state.started = True

    def _user_message(self, user_id: int, chat: ChatState, content: Json, reply_to_message_id: int | None) -> Json:
        if reply_to_message_id is not None and self.world.live_message(chat, reply_to_message_id) is None:
            raise EmulatorError(f"no message {reply_to_message_id} in chat {chat.id} to reply to")
        self._user_writes(user_id, chat)
        sender = dict(self.world.users[user_id].user)
        message = self.world.add_message(chat, sender, content, outgoing=False, reply_to=reply_to_message_id)
        self.world.note_user_action(chat.id)
        if self._bot_sees(chat, message):
            self.world.push_update("message", message)
        return copy.deepcopy(message)

    def _bot_sees(self, chat: ChatState, message: Json) -> bool:
        """Privacy mode: in groups the bot gets commands, replies to it and mentions of it only."""
        if chat.is_group and chat.bot_status != "member":
            return False
        if not chat.is_group or not self.world.privacy_mode:
            return True
        username = "@" + self.world.bot_user["username"].lower()
        text = str(message.get("text") or message.get("caption") or "")
        first = text.split(maxsplit=1)[0].lower() if text.strip() else ""
        if first.startswith("/") and ("@" not in first or first.endswith(username)):
            return True
        replied = message.get("reply_to_message")
        if replied and replied.get("from", {}).get("id") == self.world.bot_user["id"]:
            return True
        return username in text.lower()

    async def send_message(
        self, user_id: int, text: str, chat_id: int | None = None, reply_to_message_id: int | None = None
    ) -> Json:
        """The user types ``text`` (commands get their bot_command entity, as in Telegram)."""
        chat = self._chat_of(user_id, chat_id)
        final, entities = finish_text(text, [])
        if not final:
            raise EmulatorError("Telegram clients do not send empty messages")
        if len(final) > 4096:
            raise EmulatorError("Telegram clients split texts longer than 4096 characters")
        content: Json = {"text": final}
        if entities:
            content["entities"] = entities
        return self._user_message(user_id, chat, content, reply_to_message_id)

    async def send_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        caption: str | None = None,
        mime_type: str | None = None,
        reply_to_message_id: int | None = None,
        chat_id: int | None = None,
    ) -> Json:
        """The user sends a file (with an optional caption such as ``/done 12 note``)."""
        chat = self._chat_of(user_id, chat_id)
        if not content:
            raise EmulatorError("Telegram clients do not send empty files")
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        record = self.world.store_file(content, "document", file_name=filename, mime_type=mime)
        body: Json = {"document": record.document_object(), **_caption(caption)}
        return self._user_message(user_id, chat, body, reply_to_message_id)

    async def send_photo(
        self,
        user_id: int,
        content: bytes,
        caption: str | None = None,
        reply_to_message_id: int | None = None,
        chat_id: int | None = None,
    ) -> Json:
        """The user sends a picture (PNG, JPEG, GIF, WebP or BMP bytes)."""
        chat = self._chat_of(user_id, chat_id)
        size = image_size(content)
        if size is None:
            raise EmulatorError("not an image Telegram would accept as a photo")
        record = self.world.store_file(content, "photo", width=size[0], height=size[1])
        body: Json = {"photo": record.photo_sizes(), **_caption(caption)}
        return self._user_message(user_id, chat, body, reply_to_message_id)

    async def press_button(self, user_id: int, message_id: int, callback_data: str, chat_id: int | None = None) -> str:
        """The user presses the inline button carrying ``callback_data``; returns the callback query id."""
        chat = self._chat_of(user_id, chat_id)
        stored = self.world.live_message(chat, message_id)
        if stored is None or not stored.outgoing:
            raise EmulatorError(f"no bot message {message_id} in chat {chat.id}")
        keyboard = (stored.data.get("reply_markup") or {}).get("inline_keyboard", [])
        if not any(button.get("callback_data") == callback_data for row in keyboard for button in row):
            raise EmulatorError(f"message {message_id} has no button with callback_data {callback_data!r}")
        return self._callback(user_id, chat, message_id, callback_data, forged=False)

    async def forge_callback(self, user_id: int, message_id: int, data: str, chat_id: int | None = None) -> str:
        """A modified client sends arbitrary callback data for a bot message; returns the query id."""
        chat = self._chat_of(user_id, chat_id)
        stored = self.world.live_message(chat, message_id)
        if stored is None or not stored.outgoing:
            raise EmulatorError(f"no bot message {message_id} in chat {chat.id}")
        return self._callback(user_id, chat, message_id, data, forged=True)

    def _callback(self, user_id: int, chat: ChatState, message_id: int, data: str, *, forged: bool) -> str:
        world = self.world
        query_id = str(world.rng.getrandbits(62) | (1 << 61))
        world.callbacks[query_id] = CallbackRecord(
            query_id, user_id, chat.id, message_id, data, forged, world.monotonic()
        )
        query = {
            "id": query_id,
            "from": dict(world.users[user_id].user),
            "message": copy.deepcopy(chat.messages[message_id].data),
            "chat_instance": chat.chat_instance,
            "data": data,
        }
        world.note_user_action(chat.id)
        world.push_update("callback_query", query)
        world.emit({"type": "callback_query", "chat_id": chat.id, "query": copy.deepcopy(query)})
        return query_id

    def block(self, user_id: int) -> None:
        """The user blocks the bot (the bot gets a my_chat_member update: member -> kicked)."""
        self._set_blocked(user_id, True)

    def unblock(self, user_id: int) -> None:
        """The user unblocks the bot (my_chat_member: kicked -> member)."""
        self._set_blocked(user_id, False)

    def _set_blocked(self, user_id: int, blocked: bool) -> None:
        world = self.world
        state = world.user(user_id)
        if state.blocked == blocked:
            return
        state.blocked = blocked
        chat = world.private_chat(user_id)
        bot = dict(world.bot_sender)
        member: Json = {"status": "member", "user": bot}
        kicked: Json = {"status": "kicked", "user": bot, "until_date": 0}
        world.push_update(
            "my_chat_member",
            {
                "chat": dict(chat.chat),
                "from": dict(state.user),
                "date": world.now(),
                "old_chat_member": member if blocked else kicked,
                "new_chat_member": kicked if blocked else member,
            },
        )
        world.emit({"type": "blocked" if blocked else "unblocked", "chat_id": user_id})

    # -- what happened ---------------------------------------------------------------------------------

    def messages_in(self, chat_id: int) -> list[Json]:
        """Every live message of the chat, the bot's and the users', in order, as they are now."""
        chat = self.world.chats.get(chat_id)
        if chat is None:
            return []
        return [copy.deepcopy(s.data) for s in chat.messages.values() if not s.deleted]

    def bot_messages(self, chat_id: int) -> list[Json]:
        """The live messages the bot sent to the chat, in order."""
        chat = self.world.chats.get(chat_id)
        if chat is None:
            return []
        return [copy.deepcopy(s.data) for s in chat.messages.values() if s.outgoing and not s.deleted]

    def cursor(self) -> int:
        """A position in the history of changes, for :meth:`wait_for_bot_message` ``after``."""
        return self.world.seq

    async def wait_for_bot_message(
        self,
        chat_id: int,
        predicate: Callable[[Json], bool] | None = None,
        timeout: float = 5.0,
        after: int | None = None,
    ) -> Json:
        """The first bot message of the chat created or edited after ``after`` that matches ``predicate``.

        ``after`` is a :meth:`cursor` value; by default it is the moment of the last user action in that
        chat (message, file, button press), so ``await send_message(...)`` then ``wait_for_bot_message``
        finds the bot's answer even if it was already there. Raises TimeoutError with the chat's recent
        messages when nothing matches within ``timeout`` seconds.
        """
        world = self.world
        cursor = after if after is not None else world.user_action_seq.get(chat_id, 0)
        deadline = time.monotonic() + timeout
        while True:
            chat = world.chats.get(chat_id)
            if chat is not None:
                changed = sorted(
                    (s for s in chat.messages.values() if s.outgoing and not s.deleted and s.seq > cursor),
                    key=lambda s: s.seq,
                )
                for stored in changed:
                    message = copy.deepcopy(stored.data)
                    if predicate is None or predicate(message):
                        return message
            remaining = deadline - time.monotonic()
            if remaining <= 0 or world.closed:
                recent = [m.get("text") or m.get("caption") for m in self.messages_in(chat_id)[-5:]]
                raise TimeoutError(f"no matching bot message in chat {chat_id} within {timeout}s; last: {recent}")
            await world.changed.wait(remaining)

    def callback_answers(self, query_id: str) -> list[Json]:
        """The answers the bot gave to a callback query (Telegram accepts one)."""
        record = self.world.callbacks.get(query_id)
        if record is None:
            raise EmulatorError(f"unknown callback query {query_id}")
        return copy.deepcopy(record.answers)

    def file_bytes(self, file_id: str) -> bytes:
        record = self.world.files.get(file_id)
        if record is None:
            raise EmulatorError(f"unknown file_id {file_id}")
        return record.data

    def requests_for(self, method: str) -> list[RequestRecord]:
        """Logged calls of one method (name case-insensitive)."""
        lower = method.lower()
        return [r for r in self.requests if r.method.lower() == lower]

    def delivered(self, chat_id: int | None = None) -> int:
        """Messages the bot really delivered, to one chat or in all."""
        if chat_id is None:
            return sum(self.world.deliveries.values())
        return self.world.deliveries[chat_id]

    @property
    def deliveries(self) -> dict[int, int]:
        return dict(self.world.deliveries)

    def pending_updates(self) -> list[Json]:
        """Updates not yet confirmed by the bot's getUpdates offset."""
        return copy.deepcopy(self.world.updates)

    def commands(self, scope: Json | None = None, language_code: str = "") -> list[Json]:
        """The command list set with setMyCommands for exactly this scope and language."""
        scope = scope or {"type": "default"}
        key = (scope["type"], scope.get("chat_id"), scope.get("user_id"), language_code)
        return copy.deepcopy(self.world.commands.get(key, []))

    def description(self, language_code: str = "", *, short: bool = False) -> str | None:
        kind = "short_description" if short else "description"
        return self.world.descriptions.get((kind, language_code))

    def user_state(self, user_id: int) -> Json:
        state = self.world.user(user_id)
        return {"user": dict(state.user), "started": state.started, "blocked": state.blocked}

    def subscribe(self) -> asyncio.Queue[Json]:
        """A queue of change events (message, edited, deleted, callback_answer, chat_action, ...)."""
        return self.world.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[Json]) -> None:
        self.world.unsubscribe(queue)

    # -- limits and faults -----------------------------------------------------------------------------

    def set_flood_limits(self, limits: FloodLimits | None) -> None:
        """Switch flood control on (FloodLimits()) with Telegram's numbers, tune it, or off (None)."""
        self.flood.limits = limits

    def fail_next(
        self,
        method: str,
        status: int = 500,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` ("*": any) fail with ``status``; nothing is done."""
        self.faults.fail_next(method, status, count, retry_after, description)

    def hang_next(self, method: str, seconds: float, count: int = 1, *, process: bool = True) -> None:
        """The next ``count`` calls of ``method`` hang ``seconds`` (done first if ``process``)."""
        self.faults.hang_next(method, seconds, count, process=process)

    def set_random_faults(
        self,
        error_rate: float = 0.0,
        delay_rate: float = 0.0,
        delay_seconds: float = 30.0,
        process_delayed: bool = True,
        seed: int | None = None,
    ) -> None:
        """Random 500/502 answers and hangs, from a seeded generator (getUpdates and getMe are spared)."""
        faults = self.faults
        faults.error_rate, faults.delay_rate = error_rate, delay_rate
        faults.delay_seconds, faults.process_delayed = delay_seconds, process_delayed
        if seed is not None:
            faults.reseed(seed)

    def faults_injected(self, method: str | None = None) -> int:
        if method is None:
            return sum(self.faults.injected.values())
        return sum(n for m, n in self.faults.injected.items() if m.lower() == method.lower())

    def set_clock(self, clock: Clock) -> None:
        """Message dates come from ``clock`` (Unix time or an aware datetime) from now on."""
        self.world.clock = clock


def _caption(caption: str | None) -> Json:
    if not caption:
        return {}
    text, entities = finish_text(caption, [])
    content: Json = {"caption": text}
    if entities:
        content["caption_entities"] = entities
    return content


def _json_response(payload: Json, status: int) -> web.Response:
    return web.Response(text=json.dumps(payload, ensure_ascii=False), status=status, content_type="application/json")


async def _read_params(request: web.Request) -> tuple[Json, dict[str, UploadedFile]]:
    """Parameters from the query string and a JSON, urlencoded or multipart body, as Telegram reads them."""
    params: Json = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if not request.body_exists:
        return params, files
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            raise bad_request("can't parse JSON body") from None
        if not isinstance(body, dict):
            raise bad_request("JSON body must be an object")
        params.update({k: v for k, v in body.items() if v is not None})
    elif content_type == "multipart/form-data":
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader) or part.name is None:
                raise bad_request("nested multipart bodies are not supported")
            if part.filename is not None:
                data = bytes(await part.read())
                part_type = part.headers.get("Content-Type", "application/octet-stream")
                files[part.name] = UploadedFile(part.filename, part_type, data)
            else:
                params[part.name] = await part.text()
    else:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = value
            elif isinstance(value, FileField):
                files[key] = UploadedFile(value.filename, value.content_type, value.file.read())
    return params, files


def _loggable(raw: Json, files: dict[str, UploadedFile]) -> Json:
    logged: Json = dict(raw)
    for name, upload in files.items():
        logged[name] = {"filename": upload.filename, "content_type": upload.content_type, "size": len(upload.data)}
    return logged
