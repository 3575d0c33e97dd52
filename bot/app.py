"""Application assembly: python-telegram-bot with the project's defaults, handlers and start-up steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
)
from telegram.ext import filters as f

from bot.jobs import install_jobs, notify_outbox
from bot.ratelimit import TelegramRateLimiter
from core.i18n import normalise_language, t, t_text
from core.settings import Settings
from handlers import add, buttons, fallback, groups, membership, start, status
from handlers.base import GROUP_SETUP
from handlers.commands import Audience, menu
from handlers.context import CONTEXT_TYPES, BotApplication, Context
from handlers.routes import COMMANDS
from handlers.services import Services
from storage.db import Database
from storage.members import bootstrap_roles, committee, get_person

log = logging.getLogger(__name__)

DEFAULT_MENU_LANGUAGE = "en"  # Telegram's default scope is shown to everyone without a "vi" entry


def api_urls(settings: Settings) -> tuple[str, str]:
    root = settings.telegram_api_base_url.rstrip("/")
    return f"{root}/bot", f"{root}/file/bot"


def build_application(
    settings: Settings,
    db: Database,
    *,
    token: str | None = None,
    clock: Callable[[], datetime] | None = None,
    jobs: bool = True,
) -> BotApplication:
    token = token or settings.telegram_bot_token
    if not token:
        raise ValueError("TELEGRAM_BOT_TOKEN is required to build the bot")
    base_url, base_file_url = api_urls(settings)
    defaults = Defaults(
        parse_mode=ParseMode.HTML,
        tzinfo=settings.tz,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    application = (
        ApplicationBuilder()
        .context_types(CONTEXT_TYPES)
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        .defaults(defaults)
        .rate_limiter(
            TelegramRateLimiter(
                settings.send_rate_per_second,
                paid_per_second=settings.paid_send_rate_per_second if settings.paid_broadcast else None,
            )
        )
        .post_init(_post_init)
        .build()
    )
    services = Services(settings=settings, db=db)
    if clock is not None:
        services.clock = clock
    application.bot_data.services = services
    register_handlers(application)
    if jobs:  # the planner and the sender; tests of chat alone leave them out
        install_jobs(application)
        services.wake = lambda: notify_outbox(application)
    return application


def register_handlers(application: BotApplication) -> None:
    application.add_handler(membership.handler())  # my_chat_member: blocked / unblocked, removed from a group
    application.add_handler(MessageHandler(f.StatusUpdate.MIGRATE, groups.migrated))  # a group became a supergroup
    application.bot_data.set_commands(COMMANDS)
    # Each listed command (handlers.routes); /add's dialogue, while it runs, takes the secretary's plain text and
    # buttons: it comes before the handlers of plain text and buttons below.
    for spec in COMMANDS:
        for handler in spec.handlers():
            application.add_handler(handler)
    application.add_handler(CommandHandler("cancel", add.nothing_to_cancel))
    application.add_handler(MessageHandler((f.Document.ALL | f.PHOTO) & f.ChatType.PRIVATE, status.evidence_message))
    application.add_handler(MessageHandler((f.Document.ALL | f.PHOTO) & f.ChatType.GROUPS, status.group_file))
    application.add_handler(start.language_handler())  # anyone's own language, strangers too
    application.add_handler(CallbackQueryHandler(buttons.on_button))
    application.add_handler(MessageHandler(f.COMMAND, fallback.unknown_command))
    application.add_handler(MessageHandler(f.TEXT & f.ChatType.PRIVATE, fallback.plain_text))
    application.add_error_handler(_on_error)


async def _post_init(application: BotApplication) -> None:
    services = application.bot_data.services
    settings = services.settings
    async with services.db.session() as session:
        await bootstrap_roles(
            session, admin_ids=settings.admin_ids, secretary_ids=settings.secretary_ids, now=services.now()
        )
        committee_people = await committee(session)
    bot = application.bot
    # Everyone sees the focal points' menu; the committee gets its longer one in its own chats. /linkgroup and
    # /unlinkgroup are in the menu of group chats only, with what a unit's people may run there.
    for scope, private in ((BotCommandScopeDefault(), True), (BotCommandScopeAllGroupChats(), False)):
        for lang in ("vi", DEFAULT_MENU_LANGUAGE):
            await bot.set_my_commands(
                _menu(Audience.MEMBER, lang, private=private), scope=scope, language_code="vi" if lang == "vi" else None
            )
    for person in committee_people:
        if not person.has_started:
            continue
        audience = Audience.ADMIN if person.telegram_id in settings.admin_ids else Audience.COMMITTEE
        lang = person.language or settings.default_language
        try:
            await bot.set_my_commands(_menu(audience, lang), scope=BotCommandScopeChat(person.telegram_id))
        except TelegramError as error:  # a chat that no longer exists must not stop the start
            log.warning("could not set the committee menu for %s: %s", person.telegram_id, error)


def _menu(audience: Audience, lang: str, *, private: bool = True) -> list[BotCommand]:
    found = menu(COMMANDS, audience, lang)
    return [c for c in found if c.command not in GROUP_SETUP] if private else found


async def _on_error(update: object, context: Context) -> None:
    log.error("update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    services = context.bot_data.services
    lang = services.settings.default_language
    if update.effective_user is not None:
        try:
            async with services.db.session() as session:
                person = await get_person(session, telegram_id=update.effective_user.id)
            lang = normalise_language(person.language if person else None, lang)
        except Exception:  # the database may be what failed: the default language will do
            log.warning("could not read the language of %s", update.effective_user.id)
    text = t(lang, "Something went wrong on my side and nothing was changed. Please try again.")
    try:
        if update.callback_query is not None:  # a pressed button stops spinning
            await update.callback_query.answer(
                t_text(lang, "Something went wrong on my side and nothing was changed. Please try again."),
                show_alert=True,
            )
        else:
            await context.bot.send_message(update.effective_chat.id, text)
    except TelegramError:
        log.warning("could not tell chat %s about the error", update.effective_chat.id)
