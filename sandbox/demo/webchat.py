"""The sandbox's web chat: act as the secretary or a unit's focal point in a browser, against the emulator.

`qmsbot sandbox` starts the world of sandbox.demo.world (the real bot on a SQLite file, the sample register, the
Telegram Bot API emulator) and serves, on loopback only, a page (sandbox/web: plain HTML, CSS and JS) and a
small JSON API over the emulator's driver:

=======  ===============================  ==========================================================
method   path                             body / answer
=======  ===============================  ==========================================================
GET      /api/state                       bot, clock, personas (linked now or not), chat summaries
GET      /api/chats/{user_id}             the persona's private chat with the bot (Telegram messages)
POST     /api/chats/{user_id}/messages    {"text", "reply_to_message_id"?}: the persona types a message or a
                                          command, optionally as a reply to one of the chat's messages
POST     /api/chats/{user_id}/files       multipart: "file", "caption"?, "reply_to_message_id"?: the persona
                                          sends a file (evidence, a register to import) as a document
POST     /api/chats/{user_id}/press       {"message_id", "callback_data"}: the persona presses a button
GET      /api/chats/{user_id}/commands    the bot's command menu as this persona's Telegram app shows it
GET      /api/files/{file_id}             a file the bot sent (?download=1: as an attachment)
POST     /api/clock                       {"seconds"} or {"to": "digest"}: move the sandbox clock ahead
GET      /api/events                      Server-Sent Events: message, edited, deleted, callback_answer,
                                          chat_action, clock, closed (each a JSON object)
=======  ===============================  ==========================================================

The clock only moves: the bot's own planner and sender notice it at their next tick and do the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from core.i18n import t_text
from core.settings import Settings
from sandbox.demo.world import BotRunner, Persona, World, start_world
from sandbox.emulator.state import EmulatorError, Json

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
DEFAULT_PORT = 8765
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_JUMP = timedelta(days=366)
STATIC = {"app.css": "text/css", "app.js": "text/javascript"}
# Telegram lets a bot download files of up to 20 MB: a bigger one could not reach the bot there either.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Events of the emulator the page cares about (the others, e.g. "user", are internal).
FORWARDED = frozenset({"message", "edited", "deleted", "callback_answer", "chat_action", "clock", "closed"})
WORLD_KEY: web.AppKey[World] = web.AppKey("world", World)
SESSION_KEY: web.AppKey[str] = web.AppKey("session", str)
STOPPING_KEY: web.AppKey[asyncio.Event] = web.AppKey("stopping", asyncio.Event)


class BadRequest(Exception):
    """A request the page should not have made; answered 400 with the reason."""


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _world(request: web.Request) -> World:
    return request.app[WORLD_KEY]


def _persona(request: web.Request) -> Persona:
    world = _world(request)
    raw = request.match_info["user_id"]
    persona = next((p for p in world.personas if str(p.user_id) == raw), None)
    if persona is None:
        raise web.HTTPNotFound(text="no such persona")
    return persona


async def _body(request: web.Request) -> Json:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except (BadRequest, EmulatorError) as exc:
        return _json({"ok": False, "error": str(exc)}, 400)
    return response


# -- what the page reads -------------------------------------------------------------------------------


def clock_state(world: World) -> Json:
    now = world.clock().astimezone(world.settings.tz)
    return {
        "now": now.isoformat(),
        "epoch": now.timestamp(),
        "offset_seconds": int(world.clock.offset.total_seconds()),
        "timezone": world.settings.timezone,
        "next_digest": next_digest(world.settings, now).isoformat(),
    }


def next_digest(settings: Settings, now: datetime) -> datetime:
    """The next moment the weekly digest is due (DIGEST_CRON), strictly after `now`."""
    schedule = settings.digest_cron
    local = now.astimezone(settings.tz)
    for days in range(8):
        day = (local + timedelta(days=days)).date()
        if day.weekday() not in schedule.weekdays:
            continue
        moment = datetime.combine(day, schedule.at, settings.tz)
        if moment > local:
            return moment
    return local + timedelta(weeks=1)


def _summary(world: World, persona: Persona) -> Json:
    messages = world.emulator.messages_in(persona.user_id)
    last = messages[-1] if messages else None
    return {
        "count": len(messages),
        "bot_message_ids": [m["message_id"] for m in messages if (m.get("from") or {}).get("is_bot")],
        "last": _preview(last) if last else None,
        "last_date": last["date"] if last else None,
    }


def _preview(message: Json) -> str:
    text = message.get("text") or message.get("caption")
    if text:
        return str(text).split("\n", 1)[0][:120]
    if message.get("photo"):
        return "🖼"
    if message.get("document"):
        return "📎 " + str(message["document"].get("file_name") or "")
    return ""


def _language(world: World, persona: Persona) -> str:
    user = world.emulator.world.users.get(persona.user_id)
    return str((user.user.get("language_code") if user else None) or persona.language or "")


def menu_for(world: World, persona: Persona) -> list[Json]:
    """The command menu a private chat shows, resolved in Telegram's order of scopes and languages."""
    commands = world.emulator.world.commands
    language = _language(world, persona)
    chat = persona.user_id
    for scope_type, chat_id in (("chat", chat), ("all_private_chats", None), ("default", None)):
        for lang in ([language] if language else []) + [""]:
            found = commands.get((scope_type, chat_id, None, lang))
            if found:
                return [dict(c) for c in found]
    return []


async def state(request: web.Request) -> web.Response:
    world = _world(request)
    linked = await world.linked_ids()
    personas = [
        {
            "key": p.key,
            "user_id": p.user_id,
            "name": p.name,
            "role": "secretary" if p.key == "secretary" else "focal",
            "unit_code": "" if p.key == "secretary" else p.key,
            "unit_name": p.unit_name,
            "linked": p.user_id in linked,
            "language": _language(world, p),
            "chat": _summary(world, p),
        }
        for p in world.personas
    ]
    return _json(
        {
            "session": request.app[SESSION_KEY],
            "bot": world.emulator.bot_user,
            "max_upload_bytes": MAX_UPLOAD_BYTES,
            "clock": clock_state(world),
            "personas": personas,
        }
    )


async def chat(request: web.Request) -> web.Response:
    world = _world(request)
    persona = _persona(request)
    room = world.emulator.world.chats.get(persona.user_id)
    return _json(
        {
            "messages": world.emulator.messages_in(persona.user_id),
            "reply_keyboard": room.reply_keyboard if room else None,
        }
    )


async def commands(request: web.Request) -> web.Response:
    world = _world(request)
    persona = _persona(request)
    return _json({"language": _language(world, persona), "commands": menu_for(world, persona)})


async def file(request: web.Request) -> web.Response:
    world = _world(request)
    record = world.emulator.world.files.get(request.match_info["file_id"])
    if record is None:
        raise web.HTTPNotFound(text="no such file")
    mime = record.mime_type or _sniff(record.data)
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    name = record.file_name or record.file_path.rsplit("/", 1)[-1]
    disposition = "attachment" if request.query.get("download") else "inline"
    # Only images are shown inline; anything else (HTML, SVG, scripts) is downloaded, never rendered here.
    if not mime.startswith("image/") or mime == "image/svg+xml":
        disposition = "attachment"
    headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(name)}"
    return web.Response(body=record.data, content_type=mime, headers=headers)


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"BM"):
        return "image/bmp"
    return "application/octet-stream"


# -- what the page does --------------------------------------------------------------------------------


def _reply_to(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        raise BadRequest("reply_to_message_id must be a message id") from None


async def send(request: web.Request) -> web.Response:
    world = _world(request)
    persona = _persona(request)
    body = await _body(request)
    text = str(body.get("text") or "")
    if not text.strip():
        raise BadRequest("nothing to send")
    message = await world.emulator.send_message(
        persona.user_id, text, reply_to_message_id=_reply_to(body.get("reply_to_message_id"))
    )
    return _json({"ok": True, "message": message})


async def attach(request: web.Request) -> web.Response:
    """The persona sends a file, as Telegram's app sends one: a document with an optional caption and reply."""
    world = _world(request)
    persona = _persona(request)
    if request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise BadRequest("send the file as multipart/form-data")
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise BadRequest("attach a file")
    content = upload.file.read()
    if len(content) > MAX_UPLOAD_BYTES:
        raise BadRequest("files larger than 20 MB cannot reach the bot")
    caption = str(form.get("caption") or "").strip() or None
    # Browsers send application/octet-stream for what they do not know: the emulator guesses from the name.
    mime = upload.content_type if upload.content_type not in ("", "application/octet-stream") else None
    message = await world.emulator.send_document(
        persona.user_id,
        upload.filename or "file",
        content,
        caption=caption,
        mime_type=mime,
        reply_to_message_id=_reply_to(form.get("reply_to_message_id")),
    )
    return _json({"ok": True, "message": message})


async def press(request: web.Request) -> web.Response:
    world = _world(request)
    persona = _persona(request)
    body = await _body(request)
    try:
        message_id, data = int(body["message_id"]), str(body["callback_data"])
    except (KeyError, TypeError, ValueError):
        raise BadRequest("message_id and callback_data are needed") from None
    query_id = await world.emulator.press_button(persona.user_id, message_id, data)
    return _json({"ok": True, "callback_query_id": query_id})


async def jump(request: web.Request) -> web.Response:
    world = _world(request)
    body = await _body(request)
    if body.get("to") == "digest":
        now = world.clock()
        # a minute past the digest time, so that the planner's next tick finds it due
        delta = next_digest(world.settings, now) + timedelta(minutes=1) - now
    else:
        try:
            delta = timedelta(seconds=float(body["seconds"]))
        except (KeyError, TypeError, ValueError):
            raise BadRequest('say {"seconds": N} or {"to": "digest"}') from None
    if not timedelta(0) < delta <= MAX_JUMP:
        raise BadRequest("the clock only moves ahead, by at most a year at a time")
    world.clock.jump(delta)
    clock = clock_state(world)
    log.info("sandbox clock moved ahead by %s: now %s", delta, clock["now"])
    world.emulator.world.emit({"type": "clock", "clock": clock})
    return _json({"ok": True, "clock": clock})


async def events(request: web.Request) -> web.StreamResponse:
    world = _world(request)
    stopping = request.app[STOPPING_KEY]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue = world.emulator.subscribe()
    stop_wait = asyncio.ensure_future(stopping.wait())
    try:
        await response.write(b"retry: 1000\n\n")
        while not stopping.is_set():
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, stop_wait}, timeout=15.0, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                if not done:
                    await response.write(b": keep-alive\n\n")
                continue
            event = getter.result()
            if event.get("type") not in FORWARDED:
                continue
            if event["type"] == "message" and event.get("chat_id") in world.emulator.world.chats:
                event = {**event, "reply_keyboard": world.emulator.world.chats[event["chat_id"]].reply_keyboard}
            data = json.dumps(event, ensure_ascii=False)
            await response.write(f"data: {data}\n\n".encode())
            if event["type"] == "closed":
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        stop_wait.cancel()
        world.emulator.unsubscribe(queue)
    return response


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def static(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.FileResponse(WEB_DIR / name, headers={"Content-Type": STATIC[name], "Cache-Control": "no-cache"})


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    )
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def make_app(world: World) -> web.Application:
    """The web chat as an aiohttp application over a running world."""
    app = web.Application(middlewares=[_headers, _errors], client_max_size=MAX_UPLOAD_BYTES + 64 * 1024)
    app[WORLD_KEY] = world
    app[SESSION_KEY] = secrets.token_hex(8)
    app[STOPPING_KEY] = asyncio.Event()
    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/chats/{user_id}", chat)
    app.router.add_post("/api/chats/{user_id}/messages", send)
    app.router.add_post("/api/chats/{user_id}/files", attach)
    app.router.add_post("/api/chats/{user_id}/press", press)
    app.router.add_get("/api/chats/{user_id}/commands", commands)
    app.router.add_get("/api/files/{file_id}", file)
    app.router.add_post("/api/clock", jump)
    app.router.add_get("/api/events", events)
    return app


@dataclass
class WebChat:
    """A running web chat: its URL and how to stop it (the world is stopped separately)."""

    app: web.Application
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        self.app[STOPPING_KEY].set()
        await self.runner.cleanup()


async def start_webchat(world: World, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> WebChat:
    """Serve the web chat on loopback (port 0: a free port)."""
    if host not in LOOPBACK:
        raise ValueError(f"the web chat listens on loopback only, not {host!r}")
    app = make_app(world)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound = int(runner.addresses[0][1])
    shown = f"[{host}]" if ":" in host else host
    return WebChat(app, runner, f"http://{shown}:{bound}/")


async def _main(settings: Settings, runner: BotRunner, db_path: Path, port: int, log_path: Path | None) -> int:
    lang = settings.default_language
    world = await start_world(settings, db_path=db_path, runner=runner)
    try:
        try:
            chat = await start_webchat(world, port=port)
        except OSError as error:
            print(
                t_text(
                    lang,
                    "Cannot listen on 127.0.0.1:{port}: {reason} (try --port)",
                    port=port,
                    reason=error.strerror or error,
                ),
                file=sys.stderr,
            )
            return 2
        # The address comes last and alone on its line: what the user looks for, and what a terminal makes a link.
        if log_path is not None:
            print(
                t_text(
                    lang, "The sandbox is running: the real bot against an emulated Telegram. Log: {log}.", log=log_path
                )
            )
        else:
            print(t_text(lang, "The sandbox is running: the real bot against an emulated Telegram."))
        print(t_text(lang, "Open this address in a browser (Ctrl+C stops the sandbox):"))
        print(chat.url, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows' event loop
                loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await chat.stop()
    finally:
        await world.stop()
    return 0


def run_webchat(
    settings: Settings, runner: BotRunner, *, db_path: Path, port: int = DEFAULT_PORT, log_path: Path | None = None
) -> int:
    """`qmsbot sandbox`: the world and its web chat until Ctrl+C (`log_path`: where the bot's log goes, if
    not to the terminal)."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_main(settings, runner, db_path, port, log_path))
    return 0
