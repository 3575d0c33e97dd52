"""The emulator's driver as small JSON endpoints under ``/_emulator/``, for the sandbox web chat.

Answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}`` (status 400).
``GET /_emulator/events`` is a Server-Sent Events stream of the change events of
:meth:`~sandbox.emulator.server.Emulator.subscribe`.

=======  ===========================================  ===============================================
method   path                                         body / answer
=======  ===========================================  ===============================================
GET      /_emulator/state                             bot, users (started, blocked), chats
POST     /_emulator/users                             user_id, first_name, last_name, username, ...
POST     /_emulator/groups                            chat_id, title, member_ids, supergroup
POST     /_emulator/groups/{chat_id}/remove_bot       user_id (who removes it: my_chat_member to the bot)
POST     /_emulator/groups/{chat_id}/add_bot          user_id (who adds it back)
POST     /_emulator/groups/{chat_id}/upgrade          new_chat_id, user_id (a basic group becomes a supergroup)
POST     /_emulator/send_message                      user_id, text, chat_id, reply_to_message_id
POST     /_emulator/send_document                     user_id, filename, content_base64, caption, ...
POST     /_emulator/send_photo                        user_id, content_base64, caption, ...
POST     /_emulator/press_button                      user_id, message_id, callback_data, chat_id
POST     /_emulator/block, /_emulator/unblock         user_id
GET      /_emulator/chats/{chat_id}/messages          the chat's messages as Telegram shapes them
GET      /_emulator/files/{file_id}                   the file's bytes
GET      /_emulator/callbacks/{query_id}              the bot's answers to a callback query
GET      /_emulator/requests?method=&limit=           the request log, newest last
POST     /_emulator/faults                            method, status, count, retry_after, description
POST     /_emulator/flood                             global_per_second, ... or {} to switch it off
GET      /_emulator/events                            text/event-stream of change events
=======  ===========================================  ===============================================
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, Protocol

from aiohttp import web

from sandbox.emulator.faults import FloodLimits
from sandbox.emulator.state import EmulatorError, Json, World


class Emulator(Protocol):
    """What the control routes use of the emulator (sandbox.emulator.server.Emulator), which registers them:
    named here so that this module does not import the server back."""

    world: World

    @property
    def base_url(self) -> str: ...
    @property
    def bot_user(self) -> Json: ...

    def add_group(self, *args: Any, **kwargs: Any) -> Json: ...
    def remove_bot(self, *args: Any, **kwargs: Any) -> None: ...
    def add_bot(self, *args: Any, **kwargs: Any) -> None: ...
    def upgrade_group(self, *args: Any, **kwargs: Any) -> Json: ...
    def add_user(self, *args: Any, **kwargs: Any) -> Json: ...
    def block(self, *args: Any, **kwargs: Any) -> None: ...
    def unblock(self, *args: Any, **kwargs: Any) -> None: ...
    def callback_answers(self, *args: Any, **kwargs: Any) -> list[Json]: ...
    def fail_next(self, *args: Any, **kwargs: Any) -> None: ...
    def messages_in(self, *args: Any, **kwargs: Any) -> list[Json]: ...
    def press_button(self, *args: Any, **kwargs: Any) -> Awaitable[str]: ...

    requests: Any

    def requests_for(self, *args: Any, **kwargs: Any) -> list[Any]: ...
    def send_document(self, *args: Any, **kwargs: Any) -> Awaitable[Json]: ...
    def send_message(self, *args: Any, **kwargs: Any) -> Awaitable[Json]: ...
    def send_photo(self, *args: Any, **kwargs: Any) -> Awaitable[Json]: ...
    def set_flood_limits(self, *args: Any, **kwargs: Any) -> None: ...
    def subscribe(self, *args: Any, **kwargs: Any) -> asyncio.Queue[Json]: ...
    def unsubscribe(self, *args: Any, **kwargs: Any) -> None: ...
    def user_state(self, *args: Any, **kwargs: Any) -> Json: ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result}, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _error(message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=400)


def _guarded(handler: Callable[[web.Request], Awaitable[Any]]) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            result = await handler(request)
        except (EmulatorError, KeyError, TypeError, ValueError) as exc:
            return _error(f"{type(exc).__name__}: {exc}")
        if isinstance(result, web.StreamResponse):
            return result
        return _ok(result)

    return wrapped


async def _body(request: web.Request) -> Json:
    if not request.body_exists:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _content(body: Json) -> bytes:
    try:
        return base64.b64decode(body["content_base64"], validate=True)
    except (binascii.Error, TypeError) as exc:
        raise ValueError("content_base64 is not base64") from exc


def _optional_int(body: Json, key: str) -> int | None:
    value = body.get(key)
    return None if value is None else int(value)


def control_routes(emu: Emulator) -> list[web.RouteDef]:
    """The ``/_emulator/`` routes bound to ``emu``."""

    async def state(request: web.Request) -> Json:
        world = emu.world
        return {
            "bot": emu.bot_user,
            "base_url": emu.base_url,
            "users": [emu.user_state(user_id) for user_id in world.users],
            "chats": [{"chat": c.chat, "members": sorted(c.members)} for c in world.chats.values()],
        }

    async def add_user(request: web.Request) -> Json:
        body = await _body(request)
        return emu.add_user(
            int(body["user_id"]),
            str(body["first_name"]),
            body.get("last_name"),
            body.get("username"),
            body.get("language_code", "vi"),
        )

    async def add_group(request: web.Request) -> Json:
        body = await _body(request)
        members = [int(m) for m in body.get("member_ids", [])]
        return emu.add_group(int(body["chat_id"]), str(body["title"]), members, supergroup=bool(body.get("supergroup")))

    async def remove_bot(request: web.Request) -> bool:
        emu.remove_bot(int(request.match_info["chat_id"]), int((await _body(request))["user_id"]))
        return True

    async def upgrade_group(request: web.Request) -> Json:
        body = await _body(request)
        return emu.upgrade_group(int(request.match_info["chat_id"]), int(body["new_chat_id"]), int(body["user_id"]))

    async def add_bot(request: web.Request) -> bool:
        emu.add_bot(int(request.match_info["chat_id"]), int((await _body(request))["user_id"]))
        return True

    async def send_message(request: web.Request) -> Json:
        body = await _body(request)
        return await emu.send_message(
            int(body["user_id"]),
            str(body["text"]),
            chat_id=_optional_int(body, "chat_id"),
            reply_to_message_id=_optional_int(body, "reply_to_message_id"),
        )

    async def send_document(request: web.Request) -> Json:
        body = await _body(request)
        return await emu.send_document(
            int(body["user_id"]),
            str(body["filename"]),
            _content(body),
            caption=body.get("caption"),
            mime_type=body.get("mime_type"),
            reply_to_message_id=_optional_int(body, "reply_to_message_id"),
            chat_id=_optional_int(body, "chat_id"),
        )

    async def send_photo(request: web.Request) -> Json:
        body = await _body(request)
        return await emu.send_photo(
            int(body["user_id"]),
            _content(body),
            caption=body.get("caption"),
            reply_to_message_id=_optional_int(body, "reply_to_message_id"),
            chat_id=_optional_int(body, "chat_id"),
        )

    async def press_button(request: web.Request) -> Json:
        body = await _body(request)
        query_id = await emu.press_button(
            int(body["user_id"]),
            int(body["message_id"]),
            str(body["callback_data"]),
            chat_id=_optional_int(body, "chat_id"),
        )
        return {"callback_query_id": query_id}

    async def block(request: web.Request) -> bool:
        emu.block(int((await _body(request))["user_id"]))
        return True

    async def unblock(request: web.Request) -> bool:
        emu.unblock(int((await _body(request))["user_id"]))
        return True

    async def messages(request: web.Request) -> list[Json]:
        return emu.messages_in(int(request.match_info["chat_id"]))

    async def file(request: web.Request) -> web.Response:
        record = emu.world.files.get(request.match_info["file_id"])
        if record is None:
            raise EmulatorError("unknown file_id")
        return web.Response(body=record.data, content_type=record.mime_type or "application/octet-stream")

    async def callbacks(request: web.Request) -> list[Json]:
        return emu.callback_answers(request.match_info["query_id"])

    async def requests(request: web.Request) -> list[Json]:
        method = request.query.get("method")
        limit = int(request.query.get("limit", "200"))
        records = emu.requests_for(method) if method else list(emu.requests)
        return [asdict(r) for r in records[-limit:]]

    async def faults(request: web.Request) -> bool:
        body = await _body(request)
        emu.fail_next(
            str(body.get("method", "*")),
            int(body.get("status", 500)),
            int(body.get("count", 1)),
            _optional_int(body, "retry_after"),
            body.get("description"),
        )
        return True

    async def flood(request: web.Request) -> bool:
        body = await _body(request)
        emu.set_flood_limits(FloodLimits(**body) if body else None)
        return True

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue = emu.subscribe()
        try:
            while not emu.world.closed:
                try:
                    event = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                data = json.dumps(event, ensure_ascii=False)
                await response.write(f"event: {event['type']}\ndata: {data}\n\n".encode())
                if event["type"] == "closed":
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            emu.unsubscribe(queue)
        return response

    prefix = "/_emulator"
    return [
        web.get(f"{prefix}/state", _guarded(state)),
        web.post(f"{prefix}/users", _guarded(add_user)),
        web.post(f"{prefix}/groups", _guarded(add_group)),
        web.post(f"{prefix}/groups/{{chat_id}}/remove_bot", _guarded(remove_bot)),
        web.post(f"{prefix}/groups/{{chat_id}}/add_bot", _guarded(add_bot)),
        web.post(f"{prefix}/groups/{{chat_id}}/upgrade", _guarded(upgrade_group)),
        web.post(f"{prefix}/send_message", _guarded(send_message)),
        web.post(f"{prefix}/send_document", _guarded(send_document)),
        web.post(f"{prefix}/send_photo", _guarded(send_photo)),
        web.post(f"{prefix}/press_button", _guarded(press_button)),
        web.post(f"{prefix}/block", _guarded(block)),
        web.post(f"{prefix}/unblock", _guarded(unblock)),
        web.get(f"{prefix}/chats/{{chat_id}}/messages", _guarded(messages)),
        web.get(f"{prefix}/files/{{file_id}}", _guarded(file)),
        web.get(f"{prefix}/callbacks/{{query_id}}", _guarded(callbacks)),
        web.get(f"{prefix}/requests", _guarded(requests)),
        web.post(f"{prefix}/faults", _guarded(faults)),
        web.post(f"{prefix}/flood", _guarded(flood)),
        web.get(f"{prefix}/events", events),
    ]
