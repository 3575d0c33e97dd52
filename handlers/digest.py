"""/digest: the weekly digest, now, to the one who asks (the committee's, or their units' lists)."""

from __future__ import annotations

from telegram import InputFile

from handlers.base import Request, command, expect_args
from scheduler.digest import build_digest_for


@command("digest")
async def digest(req: Request) -> None:
    expect_args(req, req.command("digest"), 0, 0)
    services = req.services
    messages = await build_digest_for(services.db, actor=req.actor, settings=services.settings, now=services.now())
    for message in messages:
        if message.media == "photo" and message.file_data is not None:
            await req.context.bot.send_photo(
                req.chat_id,
                InputFile(message.file_data, filename=message.file_name or "digest.png"),
                caption=message.text or None,
            )
        else:
            await req.reply(message.text)
