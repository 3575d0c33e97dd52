"""`qmsbot` command line: run, import, export, schedule, db upgrade, sandbox.

Every command brings the database up to the current schema first. A wrong setting or an unreachable
database stops the command with one line naming the cause and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from bot.logs import configure_logging
from core.i18n import t_text
from core.settings import Settings, SettingsError, load_settings
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
    run.add_argument(
        "--health-port", type=int, metavar="N", help="polling mode: serve /healthz and /metrics on this port"
    )

    imp = commands.add_parser("import", help="import register files (CSV or one .xlsx); all or nothing")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")

    exp = commands.add_parser("export", help="export the register with statuses and history to .xlsx")
    exp.add_argument("file", type=Path, metavar="FILE.xlsx")

    schedule = commands.add_parser("schedule", help="print the reminders planned in the next N days, sending nothing")
    schedule.add_argument("--days", default="7", metavar="N", help="how many days ahead (1-366, default 7)")
    schedule.add_argument(
        "--now", metavar="ISO-DATETIME", help="plan from this instant instead of now (no offset: local TIMEZONE)"
    )

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply the Alembic migrations")
    backup = db_commands.add_parser(
        "backup", help="write a consistent copy of the SQLite database, even while the bot runs"
    )
    backup.add_argument("file", type=Path, metavar="FILE")

    sandbox = commands.add_parser(
        "sandbox",
        help="try the bot without Telegram: a web chat on http://127.0.0.1:8765 against the built-in emulator",
    )
    sandbox.add_argument(
        "--db", type=Path, default=Path("qmsbot-sandbox.db"), help="SQLite file to use (recreated at each start)"
    )
    sandbox.add_argument("--port", type=int, default=8765, help="port of the web chat on 127.0.0.1 (default 8765)")
    sandbox.add_argument("--terminal", action="store_true", help="type in the terminal instead of the web chat")
    return parser


async def _open_database(settings: Settings) -> Database:
    db: Database | None = None
    try:
        db = Database(settings.database_url)
        await db.upgrade()
    except Exception as exc:  # any driver error: say which database and why, in one line
        if db is not None:
            await db.dispose()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Fatal(
            t_text(settings.default_language, "Cannot open the database at DATABASE_URL: {reason}", reason=reason)
        ) from None
    return db


async def _import(settings: Settings, files: Sequence[Path]) -> int:
    from core.i18n import t_text
    from scheduler.announce import announce_new
    from storage.register_import import import_files
    from texts.import_report import import_report

    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise Fatal(t_text(settings.default_language, "No such file: {files}", files=", ".join(missing)))
    db = await _open_database(settings)
    try:
        now = datetime.now(settings.tz)
        report = await import_files(
            db,
            files,
            now=now,
            actor_label="qmsbot import",
            # the units are told of their new commitments when the bot next sends
            on_created=lambda session, ids: announce_new(
                session, ids, now=now, today=now.date(), default_language=settings.default_language
            ),
        )
    finally:
        await db.dispose()
    print(import_report(report, settings.default_language))
    return 0 if report.ok else 1


async def _export(settings: Settings, path: Path) -> int:
    from core.i18n import t_text
    from storage.register_export import export_register

    lang = settings.default_language
    if path.suffix.lower() != ".xlsx":
        raise Fatal(t_text(lang, "The export file name must end in .xlsx"))
    if not path.parent.is_dir():
        raise Fatal(
            t_text(lang, "Cannot write {file}: the folder {folder} does not exist", file=path, folder=path.parent)
        )
    if path.is_dir():  # noqa: ASYNC240 (one stat before any work)
        raise Fatal(t_text(lang, "Cannot write {file}: it is a folder", file=path))
    db = await _open_database(settings)
    try:
        await export_register(db, path, tz=settings.tz, lang=settings.default_language, now=datetime.now(settings.tz))
    except OSError as error:  # no permission, disk full: one line, no traceback
        raise Fatal(t_text(lang, "Cannot write {file}: {reason}", file=path, reason=error.strerror or error)) from None
    finally:
        await db.dispose()
    print(path)
    return 0


async def _schedule(settings: Settings, days_text: str, now_text: str | None) -> int:
    from core.i18n import t_text
    from texts.cli import schedule_table

    lang = settings.default_language
    days_text = days_text.strip()
    if not days_text.isdigit() or not 1 <= int(days_text) <= 366:
        raise Fatal(
            t_text(lang, "Invalid --days {value}: expected a whole number of days from 1 to 366", value=days_text)
        )
    if now_text is None:
        now = datetime.now(settings.tz)
    else:
        try:
            now = datetime.fromisoformat(now_text.strip())
        except ValueError:
            raise Fatal(
                t_text(lang, "Invalid --now {value}: expected a date and time such as 2026-11-20T08:30", value=now_text)
            ) from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=settings.tz)
    from scheduler.calendar import WorkCalendar
    from scheduler.planner import planned_reminders
    from scheduler.policy import ReminderPolicy

    db = await _open_database(settings)
    try:
        planned = await planned_reminders(
            db,
            policy=ReminderPolicy.from_settings(settings),
            calendar=WorkCalendar(settings.extra_days_off, settings.extra_working_days),
            start=now,
            end=now + timedelta(days=int(days_text)),
        )
    finally:
        await db.dispose()
    for line in schedule_table(lang, planned, tz=settings.tz, days=int(days_text), start=now):
        print(line)
    return 0


async def _upgrade(settings: Settings) -> int:
    db = await _open_database(settings)
    await db.dispose()
    print(t_text(settings.default_language, "The database is up to date."))
    return 0


async def _backup(settings: Settings, target: Path) -> int:
    from storage.backup import BackupError, backup_sqlite

    db = await _open_database(settings)
    try:
        size = await backup_sqlite(db, target)
    except BackupError as error:
        raise Fatal(t_text(settings.default_language, error.msgid, **error.params)) from None
    finally:
        await db.dispose()
    print(
        t_text(
            settings.default_language,
            "{file} ({size} bytes)",
            file=target,
            size=_thousands(size, settings.default_language),
        )
    )
    return 0


def _masked(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _thousands(number: int, lang: str) -> str:
    """12,345 in English, 12.345 in Vietnamese."""
    return f"{number:,}".replace(",", ".") if lang == "vi" else f"{number:,}"


def _run(settings: Settings, args: argparse.Namespace) -> int:
    lang = settings.default_language
    if not settings.telegram_bot_token:
        raise Fatal(
            t_text(
                lang,
                "Invalid setting {name}: {reason}",
                name="TELEGRAM_BOT_TOKEN",
                reason=t_text(lang, "required for qmsbot run (qmsbot sandbox needs none)"),
            )
        )
    webhook_path = None
    if args.webhook:
        if not settings.webhook_secret:
            raise Fatal(
                t_text(
                    lang,
                    "Invalid setting {name}: {reason}",
                    name="WEBHOOK_SECRET",
                    reason=t_text(lang, "required with --webhook (the same on every instance)"),
                )
            )
        parsed = urlsplit(args.webhook)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise Fatal(
                t_text(
                    lang,
                    "Invalid --webhook {value}: expected a URL such as https://bot.example.org/hook",
                    value=repr(args.webhook),
                )
            )
        webhook_path = parsed.path or "/"
        if webhook_path in ("/healthz", "/metrics"):
            raise Fatal(
                t_text(
                    lang,
                    "Invalid --webhook {value}: {path} is the health/metrics path",
                    value=repr(args.webhook),
                    path=webhook_path,
                )
            )
    for name in ("port", "health_port"):
        port = getattr(args, name)
        if port is not None and not 1 <= port <= 65535:
            raise Fatal(
                t_text(lang, "Invalid --{option} {value}: expected 1-65535", option=name.replace("_", "-"), value=port)
            )
    from telegram.error import InvalidToken, NetworkError, TelegramError

    token = settings.telegram_bot_token
    try:
        return asyncio.run(_serve(settings, args, webhook_path))
    except InvalidToken:  # its message quotes the token: never printed
        raise Fatal(
            t_text(
                lang,
                "Invalid TELEGRAM_BOT_TOKEN: the Bot API server at {url} rejected it",
                url=settings.telegram_api_base_url,
            )
        ) from None
    except NetworkError as error:  # (a timeout too) the server is down, or the address is wrong
        raise Fatal(
            t_text(
                lang,
                "Cannot reach the Bot API server at {url} (TELEGRAM_API_BASE_URL): {reason}",
                url=settings.telegram_api_base_url,
                reason=_masked(str(error), token),
            )
        ) from None
    except TelegramError as error:  # e.g. setWebhook refused the URL
        raise Fatal(t_text(lang, "The Bot API server refused: {reason}", reason=_masked(str(error), token))) from None
    except OSError as error:  # the port is taken, the address is not ours
        raise Fatal(t_text(lang, "Cannot listen: {reason}", reason=error.strerror or error)) from None


async def _serve(settings: Settings, args: argparse.Namespace, webhook_path: str | None) -> int:
    from bot.app import build_application
    from bot.runtime import ALLOWED_UPDATES
    from bot.web import start_site, web_app

    db = await _open_database(settings)
    application = build_application(settings, db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await application.initialize()
    runner = None
    try:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        if webhook_path is not None:
            # Every instance sets the same URL and secret: whichever starts last changes nothing.
            await application.bot.set_webhook(
                args.webhook, secret_token=settings.webhook_secret, allowed_updates=ALLOWED_UPDATES
            )
            app = web_app(application, webhook_path=webhook_path, secret=settings.webhook_secret)
            runner = await start_site(app, host=args.listen, port=args.port)
            log.warning(
                "serving Telegram's updates at %s on %s:%s (and /healthz, /metrics)",
                webhook_path,
                args.listen,
                args.port,
            )
        else:
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            if args.health_port is not None:
                runner = await start_site(web_app(application), host=args.listen, port=args.health_port)
                log.info("serving /healthz and /metrics on %s:%s", args.listen, args.health_port)
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        await db.dispose()
    return 0


def _log_to_file(path: Path) -> Path:
    """The sandbox's terminal shows only its address (and errors): what the bot does goes to a file beside its
    database, so the planner's first lines do not bury the one line the user needs."""
    root = logging.getLogger()
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    for console in root.handlers:
        handler.setFormatter(console.formatter)
        for log_filter in console.filters:
            handler.addFilter(log_filter)
        console.setLevel(logging.ERROR)
    root.addHandler(handler)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level, settings.log_format, secrets=[settings.telegram_bot_token, settings.webhook_secret]
    )
    try:
        if args.command == "run":
            return _run(settings, args)
        if args.command == "import":
            return asyncio.run(_import(settings, args.files))
        if args.command == "export":
            return asyncio.run(_export(settings, args.file))
        if args.command == "schedule":
            return asyncio.run(_schedule(settings, args.days, args.now))
        if args.command == "db":
            if args.db_command == "backup":
                return asyncio.run(_backup(settings, args.file))
            return asyncio.run(_upgrade(settings))
        if args.command == "sandbox":
            from bot.runtime import sandbox_runner

            if args.terminal:
                from sandbox.demo.terminal import run_sandbox

                return run_sandbox(settings, sandbox_runner(), db_path=args.db)
            from sandbox.demo.webchat import run_webchat

            log_path = _log_to_file(args.db.with_suffix(".log"))
            return run_webchat(settings, sandbox_runner(), db_path=args.db, port=args.port, log_path=log_path)
    except Fatal as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `qmsbot schedule | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
