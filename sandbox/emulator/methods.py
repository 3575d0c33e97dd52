"""The Bot API methods the emulator implements, answering like Telegram (results and error texts).

Each method takes the parameters already validated and typed by :mod:`sandbox.emulator.schema` and returns the
``result`` of the answer, or raises :class:`~sandbox.emulator.schema.ApiError`.
"""

from __future__ import annotations

import copy
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sandbox.emulator.faults import FloodControl
from sandbox.emulator.media import image_size
from sandbox.emulator.schema import ApiError, UploadedFile, bad_request, forbidden, too_many_requests
from sandbox.emulator.state import DEFAULT_UPDATES, UPDATE_TYPES, ChatState, FileRecord, Json, StoredMessage, World
from sandbox.emulator.tghtml import EntityParseError, finish_text, parse_html, utf16_len

Handler = Callable[[Json], Awaitable[Any]]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_ANSWER_TEXT = 200
MAX_UPLOAD = 50 * 1024 * 1024
DELETE_WINDOW = 48 * 3600
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
NO_GIFTS = {
    "unlimited_gifts": False,
    "limited_gifts": False,
    "unique_gifts": False,
    "premium_subscription": False,
    "gifts_from_channels": False,
}


class BotMethods:
    """Implementations of Bot API methods over a :class:`World`."""

    def __init__(
        self,
        world: World,
        flood: FloodControl,
        *,
        strict_html: bool = True,
        callback_ttl: float | None = None,
    ) -> None:
        self.world = world
        self.flood = flood
        self.strict_html = strict_html
        self.callback_ttl = callback_ttl
        self.poll_generation = 0
        self.handlers: dict[str, Handler] = {
            "getMe": self.get_me,
            "logOut": self.trivially_true,
            "close": self.trivially_true,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "getUpdates": self.get_updates,
            "sendMessage": self.send_message,
            "copyMessage": self.copy_message,
            "forwardMessage": self.forward_message,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "deleteMessages": self.delete_messages,
            "answerCallbackQuery": self.answer_callback_query,
            "sendDocument": self.send_document,
            "sendPhoto": self.send_photo,
            "sendChatAction": self.send_chat_action,
            "getFile": self.get_file,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setMyDescription": self.set_my_description,
            "getMyDescription": self.get_my_description,
            "setMyShortDescription": self.set_my_short_description,
            "getMyShortDescription": self.get_my_short_description,
            "setMyName": self.set_my_name,
            "getMyName": self.get_my_name,
            "setChatMenuButton": self.set_chat_menu_button,
            "getChatMenuButton": self.get_chat_menu_button,
            "getChat": self.get_chat,
            "getChatMember": self.get_chat_member,
        }

    # -- shared checks ---------------------------------------------------------------------------------

    def chat_for(self, chat_ref: int | str, *, sending: bool = True) -> ChatState:
        """The chat a bot call addresses, with Telegram's 400/403 answers for chats it cannot reach."""
        chat: ChatState | None = None
        if isinstance(chat_ref, int):
            chat = self.world.find_chat(chat_ref)
        elif chat_ref.startswith("@"):
            name = chat_ref[1:].lower()
            chat = next(
                (c for c in self.world.chats.values() if c.is_group and c.chat.get("username", "").lower() == name),
                None,
            )
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=chat.migrated_to
            )
        if sending and chat.is_group and chat.bot_status != "member":
            kind = "supergroup chat" if chat.chat["type"] == "supergroup" else "group chat"
            raise forbidden(
                f"bot was kicked from the {kind}"
                if chat.bot_status == "kicked"
                else f"bot is not a member of the {kind}"
            )
        if sending and not chat.is_group:
            state = self.world.users[chat.id]
            if state.blocked:
                raise forbidden("bot was blocked by the user")
            if not state.started:
                raise forbidden("bot can't initiate conversation with a user")
        return chat

    def formatted(
        self, text: str | None, parse_mode: str | None, entities: list[Json] | None, *, caption: bool
    ) -> tuple[str, list[Json]]:
        """Telegram's final (text, entities) for a text or caption, or its 400 answer."""
        raw = text or ""
        parsed_entities: list[Json] = []
        if entities is not None:
            parsed_entities = [dict(e) for e in entities]
        elif parse_mode:
            mode = parse_mode.lower()
            if mode == "html":
                try:
                    raw, parsed_entities = parse_html(raw, strict_ampersand=self.strict_html)
                except EntityParseError as exc:
                    raise bad_request(f"can't parse entities: {exc}") from None
            elif mode in ("markdown", "markdownv2"):
                raise bad_request(f"parse_mode {parse_mode} is not supported by the emulator; use HTML")
            else:
                raise bad_request(f"unsupported parse_mode {parse_mode}")
        final, final_entities = finish_text(raw, parsed_entities)
        limit = MAX_CAPTION if caption else MAX_TEXT
        if utf16_len(final) > limit:
            raise bad_request("message caption is too long" if caption else "message is too long")
        if not final and not caption:
            raise bad_request("message text is empty")
        return final, final_entities

    def inline_markup(self, chat: ChatState | None, markup: Json | None) -> Json | None:
        """The inline keyboard to store in the message (other keyboards belong to the chat), checked."""
        if markup is None:
            return None
        if "inline_keyboard" not in markup:
            if chat is not None:
                chat.reply_keyboard = None if markup.get("remove_keyboard") else markup
            return None
        for row in markup["inline_keyboard"]:
            for button in row:
                actions = [name for name in _BUTTON_ACTIONS if name in button]
                if len(actions) != 1:
                    raise bad_request(
                        "can't parse inline keyboard button: exactly one of the optional fields must be used"
                    )
                if "callback_data" in button:
                    size = len(button["callback_data"].encode("utf-8"))
                    if size == 0 or size > MAX_CALLBACK_DATA:
                        raise bad_request("BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise bad_request("can't parse inline keyboard button: text must be non-empty")
        return {"inline_keyboard": copy.deepcopy(markup["inline_keyboard"])}

    def reply_target(self, chat: ChatState, params: Json) -> int | None:
        reply = params.get("reply_parameters")
        if reply is None:
            return None
        target_chat = reply.get("chat_id")
        if target_chat is not None and target_chat != chat.id:
            raise bad_request("replies to messages in other chats are not supported by the emulator")
        message_id = int(reply["message_id"])
        if self.world.live_message(chat, message_id) is None:
            if reply.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return message_id

    def check_flood(self, chat: ChatState, *, paid: bool = False) -> None:
        retry = self.flood.retry_after(chat.id, group=chat.is_group, paid=paid)
        if retry is not None:
            raise too_many_requests(retry)

    def deliver(self, chat: ChatState, content: Json, params: Json, markup: Json | None) -> Json:
        reply_to = self.reply_target(chat, params)
        self.check_flood(chat, paid=bool(params.get("allow_paid_broadcast")))
        if markup is not None:
            content["reply_markup"] = markup
        if params.get("has_spoiler"):
            content["has_media_spoiler"] = True
        message = self.world.add_message(chat, dict(self.world.bot_sender), content, outgoing=True, reply_to=reply_to)
        self.flood.record(chat.id, group=chat.is_group)
        chat.last_action = None
        return copy.deepcopy(message)

    def message_for_edit(self, params: Json) -> tuple[ChatState, StoredMessage]:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the emulator")
        if "chat_id" not in params:
            raise bad_request("chat_id is empty")
        if "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self.chat_for(params["chat_id"])
        stored = self.world.live_message(chat, params["message_id"])
        if stored is None:
            raise bad_request("message to edit not found")
        if not stored.outgoing:
            raise bad_request("message can't be edited")
        return chat, stored

    def apply_edit(self, chat: ChatState, stored: StoredMessage, changes: Json) -> Json:
        """Replace fields (a None value removes one); Telegram's "not modified" if nothing changes."""
        new = dict(stored.data)
        for key, value in changes.items():
            if value is None or value == []:
                new.pop(key, None)
            else:
                new[key] = value
        if {k: v for k, v in new.items() if k != "edit_date"} == {
            k: v for k, v in stored.data.items() if k != "edit_date"
        }:
            raise bad_request(NOT_MODIFIED)
        new["edit_date"] = self.world.now()
        stored.data.clear()
        stored.data.update(new)
        self.world.touch(chat, stored)
        return copy.deepcopy(stored.data)

    # -- basics ----------------------------------------------------------------------------------------

    async def get_me(self, params: Json) -> Json:
        return dict(self.world.bot_user)

    async def trivially_true(self, params: Json) -> bool:
        return True

    async def set_webhook(self, params: Json) -> bool:
        url = params["url"]
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.world.webhook = {
            "url": url,
            "has_custom_certificate": "certificate" in params,
            "pending_update_count": len(self.world.updates),
        }
        for key in ("max_connections", "ip_address", "allowed_updates"):
            if key in params:
                self.world.webhook[key] = params[key]
        if params.get("drop_pending_updates"):
            self.world.updates.clear()
        if "allowed_updates" in params:
            self.set_allowed_updates(params["allowed_updates"])
        self.poll_generation += 1
        self.world.update_signal.fire()
        return True

    async def delete_webhook(self, params: Json) -> bool:
        self.world.webhook = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        if params.get("drop_pending_updates"):
            self.world.updates.clear()
        return True

    async def get_webhook_info(self, params: Json) -> Json:
        info = dict(self.world.webhook)
        info["pending_update_count"] = len(self.world.updates)
        return info

    def set_allowed_updates(self, allowed: list[str]) -> None:
        unknown = [kind for kind in allowed if kind not in UPDATE_TYPES]
        if unknown:
            raise bad_request(f"unknown update type {unknown[0]!r} in allowed_updates")
        self.world.allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATES

    async def get_updates(self, params: Json) -> list[Json]:
        world = self.world
        if world.webhook["url"]:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        self.poll_generation += 1
        generation = self.poll_generation
        world.update_signal.fire()  # an older long poll ends with 409, as on Telegram
        world.confirm_updates(params.get("offset", 0))
        if "allowed_updates" in params:
            self.set_allowed_updates(params["allowed_updates"])
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = max(params.get("timeout", 0), 0)
        deadline = time.monotonic() + timeout  # real time even when the emulator's clocks are frozen
        while True:
            if generation != self.poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            if world.updates or world.closed:
                return copy.deepcopy(world.updates[:limit])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            await world.update_signal.wait(remaining)

    # -- sending ---------------------------------------------------------------------------------------

    async def send_message(self, params: Json) -> Json:
        text, entities = self.formatted(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        chat = self.chat_for(params["chat_id"])
        markup = self.inline_markup(chat, params.get("reply_markup"))
        content: Json = {"text": text}
        if entities:
            content["entities"] = entities
        if "link_preview_options" in params:
            content["link_preview_options"] = params["link_preview_options"]
        return self.deliver(chat, content, params, markup)

    async def send_document(self, params: Json) -> Json:
        caption_content = self.caption_content(params)
        chat = self.chat_for(params["chat_id"])
        markup = self.inline_markup(chat, params.get("reply_markup"))
        record = self.file_from(params["document"], "document")
        content: Json = {"document": record.document_object(), **caption_content}
        return self.deliver(chat, content, params, markup)

    async def send_photo(self, params: Json) -> Json:
        caption_content = self.caption_content(params)
        chat = self.chat_for(params["chat_id"])
        markup = self.inline_markup(chat, params.get("reply_markup"))
        record = self.file_from(params["photo"], "photo")
        content: Json = {"photo": record.photo_sizes(), **caption_content}
        return self.deliver(chat, content, params, markup)

    def caption_content(self, params: Json) -> Json:
        if "caption" not in params and "caption_entities" not in params:
            return {}
        caption, entities = self.formatted(
            params.get("caption"), params.get("parse_mode"), params.get("caption_entities"), caption=True
        )
        content: Json = {}
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        return content

    def file_from(self, value: UploadedFile | str, kind: str) -> FileRecord:
        if isinstance(value, str):
            record = self.world.files.get(value)
            if record is None:
                if value.startswith(("http://", "https://")):
                    raise bad_request("failed to get HTTP URL content")
                raise bad_request("wrong file identifier/HTTP URL specified")
            if record.kind != kind:
                raise bad_request(f"can't use file of type {record.kind.title()} as {kind.title()}")
            return record
        if not value.data:
            raise bad_request("file must be non-empty")
        if len(value.data) > MAX_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        if kind == "photo":
            size = image_size(value.data)
            if size is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            width, height = size
            if width <= 0 or height <= 0 or width + height > 10000 or max(width, height) > 20 * min(width, height):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            return self.world.store_file(value.data, "photo", width=width, height=height)
        mime = value.content_type
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(value.filename)[0] or "application/octet-stream"
        return self.world.store_file(value.data, "document", file_name=value.filename or None, mime_type=mime)

    async def copy_message(self, params: Json) -> Json:
        source = self.copy_source(params)
        chat = self.chat_for(params["chat_id"])
        content = {
            k: copy.deepcopy(v)
            for k, v in source.data.items()
            if k in ("text", "entities", "document", "photo", "caption", "caption_entities")
        }
        if "caption" in params or "caption_entities" in params:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self.caption_content(params))
        if "reply_markup" in params:
            markup = self.inline_markup(chat, params["reply_markup"])
        else:
            markup = copy.deepcopy(source.data.get("reply_markup"))
        message = self.deliver(chat, content, params, markup)
        return {"message_id": message["message_id"]}

    async def forward_message(self, params: Json) -> Json:
        source = self.copy_source(params)
        chat = self.chat_for(params["chat_id"])
        content = {
            k: copy.deepcopy(v)
            for k, v in source.data.items()
            if k in ("text", "entities", "document", "photo", "caption", "caption_entities")
        }
        content["forward_origin"] = {
            "type": "user",
            "date": source.data["date"],
            "sender_user": copy.deepcopy(source.data["from"]),
        }
        return self.deliver(chat, content, params, None)

    def copy_source(self, params: Json) -> StoredMessage:
        from_chat = self.chat_for(params["from_chat_id"], sending=False)
        source = self.world.live_message(from_chat, params["message_id"])
        if source is None:
            raise bad_request("message to copy not found")
        return source

    async def send_chat_action(self, params: Json) -> bool:
        chat = self.chat_for(params["chat_id"])
        action = params["action"]
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat.last_action = action
        self.world.emit({"type": "chat_action", "chat_id": chat.id, "action": action})
        return True

    # -- editing ---------------------------------------------------------------------------------------

    async def edit_message_text(self, params: Json) -> Json:
        text, entities = self.formatted(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        chat, stored = self.message_for_edit(params)
        if "text" not in stored.data:
            raise bad_request("there is no text in the message to edit")
        markup = self.inline_markup(None, params.get("reply_markup"))
        return self.apply_edit(chat, stored, {"text": text, "entities": entities, "reply_markup": markup})

    async def edit_message_caption(self, params: Json) -> Json:
        caption, entities = self.formatted(
            params.get("caption"), params.get("parse_mode"), params.get("caption_entities"), caption=True
        )
        chat, stored = self.message_for_edit(params)
        if "document" not in stored.data and "photo" not in stored.data:
            raise bad_request("there is no caption in the message to edit")
        markup = self.inline_markup(None, params.get("reply_markup"))
        changes: Json = {"caption": caption or None, "caption_entities": entities, "reply_markup": markup}
        return self.apply_edit(chat, stored, changes)

    async def edit_message_reply_markup(self, params: Json) -> Json:
        chat, stored = self.message_for_edit(params)
        markup = self.inline_markup(None, params.get("reply_markup"))
        return self.apply_edit(chat, stored, {"reply_markup": markup})

    async def delete_message(self, params: Json) -> bool:
        chat = self.chat_for(params["chat_id"], sending=False)
        self.delete_one(chat, params["message_id"])
        return True

    async def delete_messages(self, params: Json) -> bool:
        chat = self.chat_for(params["chat_id"], sending=False)
        ids = params["message_ids"]
        if not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must contain 1-100 identifiers")
        for message_id in ids:
            if self.world.live_message(chat, message_id) is not None:
                self.delete_one(chat, message_id)
        return True

    def delete_one(self, chat: ChatState, message_id: int) -> None:
        stored = self.world.live_message(chat, message_id)
        if stored is None:
            raise bad_request("message to delete not found")
        if self.world.now() - int(stored.data["date"]) > DELETE_WINDOW:
            raise bad_request("message can't be deleted for everyone")
        stored.deleted = True
        self.world.touch(chat, stored, "deleted")

    # -- callback queries ------------------------------------------------------------------------------

    async def answer_callback_query(self, params: Json) -> bool:
        query = self.world.callbacks.get(params["callback_query_id"])
        expired = (
            query is not None
            and self.callback_ttl is not None
            and self.world.monotonic() - query.created > self.callback_ttl
        )
        if query is None or query.answers or expired:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text", "")
        if len(text) > MAX_ANSWER_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        answer: Json = {k: params[k] for k in ("text", "show_alert", "url", "cache_time") if k in params}
        query.answers.append(answer)
        self.world.emit({"type": "callback_answer", "chat_id": query.chat_id, "query_id": query.id, **answer})
        return True

    # -- files -----------------------------------------------------------------------------------------

    async def get_file(self, params: Json) -> Json:
        record = self.world.files.get(params["file_id"])
        if record is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        return record.file_object()

    # -- bot settings ----------------------------------------------------------------------------------

    def scope_key(self, params: Json) -> tuple[str, int | None, int | None, str]:
        scope = params.get("scope") or {"type": "default"}
        language = params.get("language_code", "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        chat_id = scope.get("chat_id")
        if isinstance(chat_id, str):
            chat_id = self.chat_for(chat_id, sending=False).id
        elif chat_id is not None and self.world.find_chat(chat_id) is None:
            raise bad_request("chat not found")
        return (scope["type"], chat_id, scope.get("user_id"), language)

    async def set_my_commands(self, params: Json) -> bool:
        commands = params["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self.scope_key(params)
        if commands:
            self.world.commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        else:
            self.world.commands.pop(key, None)
        return True

    async def get_my_commands(self, params: Json) -> list[Json]:
        return copy.deepcopy(self.world.commands.get(self.scope_key(params), []))

    async def delete_my_commands(self, params: Json) -> bool:
        self.world.commands.pop(self.scope_key(params), None)
        return True

    def set_text_setting(self, kind: str, params: Json, field: str, limit: int) -> bool:
        value = params.get(field, "")
        if len(value) > limit:
            raise bad_request(f"{field} is too long")
        key = (kind, params.get("language_code", ""))
        if value:
            self.world.descriptions[key] = value
        else:
            self.world.descriptions.pop(key, None)
        return True

    def get_text_setting(self, kind: str, params: Json, field: str) -> Json:
        language = params.get("language_code", "")
        descriptions = self.world.descriptions
        value = descriptions.get((kind, language), descriptions.get((kind, ""), ""))
        if kind == "name" and not value:
            value = self.world.bot_user["first_name"]
        return {field: value}

    async def set_my_description(self, params: Json) -> bool:
        return self.set_text_setting("description", params, "description", 512)

    async def get_my_description(self, params: Json) -> Json:
        return self.get_text_setting("description", params, "description")

    async def set_my_short_description(self, params: Json) -> bool:
        return self.set_text_setting("short_description", params, "short_description", 120)

    async def get_my_short_description(self, params: Json) -> Json:
        return self.get_text_setting("short_description", params, "short_description")

    async def set_my_name(self, params: Json) -> bool:
        return self.set_text_setting("name", params, "name", 64)

    async def get_my_name(self, params: Json) -> Json:
        return self.get_text_setting("name", params, "name")

    async def set_chat_menu_button(self, params: Json) -> bool:
        chat_id = params.get("chat_id")
        if chat_id is not None:
            chat_id = self.chat_for(chat_id, sending=False).id
        self.world.menu_buttons[chat_id] = params.get("menu_button") or {"type": "default"}
        return True

    async def get_chat_menu_button(self, params: Json) -> Json:
        buttons = self.world.menu_buttons
        chat_id = params.get("chat_id")
        return copy.deepcopy(buttons.get(chat_id, buttons.get(None, {"type": "commands"})))

    # -- chats -----------------------------------------------------------------------------------------

    async def get_chat(self, params: Json) -> Json:
        chat = self.chat_for(params["chat_id"], sending=False)
        info: Json = {k: v for k, v in chat.chat.items() if k != "all_members_are_administrators"}
        info.update({"accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": dict(NO_GIFTS)})
        return info

    async def get_chat_member(self, params: Json) -> Json:
        chat = self.chat_for(params["chat_id"], sending=False)
        user_id = params["user_id"]
        if user_id == self.world.bot_user["id"]:
            status = chat.bot_status if chat.is_group else "member"
            if status == "kicked":
                return {"status": status, "user": dict(self.world.bot_sender), "until_date": 0}
            if not chat.is_group and self.world.users[chat.id].blocked:
                return {"status": "kicked", "user": dict(self.world.bot_sender), "until_date": 0}
            return {"status": status, "user": dict(self.world.bot_sender)}
        state = self.world.users.get(user_id)
        if state is None:
            raise bad_request("PARTICIPANT_ID_INVALID")
        status = "member" if user_id in chat.members else "left"
        return {"status": status, "user": dict(state.user)}
