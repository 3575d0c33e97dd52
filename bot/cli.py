"""`qmsbot` command line: run, import, export, db upgrade, sandbox.

Every command brings the database up to the current schema first. A wrong setting or an unreachable
database stops the command with one line naming the cause and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings
from storage.db import Database

log = logging.getLogger("qmsbot")


class Fatal(Exception):
    """Stops the command with one line naming the cause."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qmsbot", description="ISO committee reminder bot")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (long polling, or a webhook with --webhook)")
    run.add_argument("--webhook", metavar="URL", help="public HTTPS URL Telegram should post updates to")
    run.add_argument("--listen", default="127.0.0.1", help="address the webhook server binds (default loopback)")
    run.add_argument("--port", type=int, default=8443, help="port the webhook server binds (default 8443)")

    imp = commands.add_parser("import", help="import register files (CSV or one .xlsx); all or nothing")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")

    exp = commands.add_parser("export", help="export the register with statuses and history to .xlsx")
    exp.add_argument("file", type=Path, metavar="FILE.xlsx")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply the Alembic migrations")

    sandbox = commands.add_parser("sandbox", help="try the bot without Telegram, against the built-in emulator")
    sandbox.add_argument("--db", type=Path, default=Path("qmsbot-sandbox.db"), help="SQLite file to use")
    return parser


async def _open_database(settings: Settings) -> Database:
    db = Database(settings.database_url)
    try:
        await db.upgrade()
    except Exception as exc:  # any driver error: say which database and why, in one line
        await db.dispose()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Fatal(f"Cannot open the database at DATABASE_URL: {reason}") from None
    return db


async def _import(settings: Settings, files: Sequence[Path]) -> int:
    from storage.register_import import import_files, render_report

    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise Fatal(f"No such file: {', '.join(missing)}")
    db = await _open_database(settings)
    try:
        report = await import_files(db, files, now=datetime.now(settings.tz), actor_label="qmsbot import")
    finally:
        await db.dispose()
    print(render_report(report, settings.default_language))
    return 0 if report.ok else 1


async def _export(settings: Settings, path: Path) -> int:
    from storage.register_export import export_register

    if path.suffix.lower() != ".xlsx":
        raise Fatal("The export file name must end in .xlsx")
    db = await _open_database(settings)
    try:
        await export_register(db, path, tz=settings.tz, lang=settings.default_language)
    finally:
        await db.dispose()
    print(path)
    return 0


async def _upgrade(settings: Settings) -> int:
    db = await _open_database(settings)
    await db.dispose()
    print("database is up to date")
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_application
    from bot.runtime import ALLOWED_UPDATES

    if not settings.telegram_bot_token:
        raise Fatal("Invalid setting TELEGRAM_BOT_TOKEN: required for qmsbot run (qmsbot sandbox needs none)")
    db = asyncio.run(_open_database(settings))
    application = build_application(settings, db)
    if args.webhook:
        application.run_webhook(listen=args.listen, port=args.port, webhook_url=args.webhook)
    else:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        if args.command == "run":
            return _run(settings, args)
        if args.command == "import":
            return asyncio.run(_import(settings, args.files))
        if args.command == "export":
            return asyncio.run(_export(settings, args.file))
        if args.command == "db":
            return asyncio.run(_upgrade(settings))
        if args.command == "sandbox":
            from sandbox.terminal import run_sandbox

            return run_sandbox(settings, db_path=args.db)
    except Fatal as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
