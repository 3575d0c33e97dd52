"""The register through chat: /export as an .xlsx, and a .csv or .xlsx sent by a secretary imported."""

from __future__ import annotations

import io
from pathlib import PurePath

from telegram import Document

from handlers.base import Request, UserError, command, expect_args
from handlers.notify import wake_sender
from scheduler.announce import announce_new
from storage.register_import import import_sources
from texts.export import export_caption, export_file_name
from texts.import_report import chat_import_report

REGISTER_SUFFIXES = (".csv", ".xlsx")
MAX_IMPORT_BYTES = 20 * 1024 * 1024  # what a bot may download from Telegram
REPORT_LIMIT = 40


def is_register_file(document: Document | None) -> bool:
    return document is not None and PurePath(document.file_name or "").suffix.lower() in REGISTER_SUFFIXES


@command("export")
async def export(req: Request) -> None:
    expect_args(req, req.command("export"), 0, 0)
    services = req.services
    from storage.register_export import export_register  # openpyxl is loaded when a secretary needs it

    progress = await req.reply(req.tr("Preparing the register as an Excel file…"))
    buffer = io.BytesIO()
    await export_register(
        services.db, buffer, tz=services.settings.tz, lang=req.lang, now=services.now(), within=req.actor.reach
    )
    now, tz = services.now(), services.settings.tz
    await req.context.bot.send_document(
        req.chat_id, buffer.getvalue(), filename=export_file_name(now, tz), caption=export_caption(req.lang, now, tz)
    )
    await progress.edit_text(req.tr("The register is ready."))


async def import_document(req: Request, document: Document) -> None:
    """All or nothing, exactly like `qmsbot import`, with the row-by-row report as the answer."""
    if not req.actor.is_committee:
        raise UserError("Only the committee secretary can import the register.")
    if not req.is_private:
        raise UserError("Send register files to me in a private chat.")
    if document.file_size and document.file_size > MAX_IMPORT_BYTES:
        raise UserError("The file is too large (at most 20 MB).")
    services = req.services
    file = await req.context.bot.get_file(document.file_id)
    content = bytes(await file.download_as_bytearray())
    name = document.file_name or "register"
    report = await import_sources(
        services.db,
        [(name, content)],
        now=services.now(),
        actor_label="chat import",
        actor_id=req.actor.person_id,
        on_created=lambda session, ids: announce_new(
            session,
            ids,
            now=services.now(),
            today=services.today(),
            default_language=services.settings.default_language,
        ),
        scope=None if req.actor.whole_register else req.actor.scope,
    )
    if report.created_ids:
        wake_sender(req.context)
    await req.reply(chat_import_report(report, req.lang, file_name=name, limit=REPORT_LIMIT))
