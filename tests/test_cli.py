"""The command line as an operator uses it: a fresh database, import all or nothing, export, bad settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from storage.sample import COMMITMENTS_FILE, UNITS_FILE

ROOT = Path(__file__).resolve().parent.parent


def qmsbot(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "ADMIN_"))}
    environment.update({"PYTHONPATH": str(ROOT), **env})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def database(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'register.db'}"


def test_db_upgrade_creates_a_fresh_database(workdir: Path) -> None:
    result = qmsbot("db", "upgrade", cwd=workdir, DATABASE_URL=database(workdir))
    assert result.returncode == 0, result.stderr
    assert (workdir / "register.db").exists()


def test_import_the_sample_then_again_changes_nothing(workdir: Path) -> None:
    first = qmsbot("import", str(UNITS_FILE), str(COMMITMENTS_FILE), cwd=workdir, DATABASE_URL=database(workdir))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "20" in first.stdout and "37" in first.stdout
    again = qmsbot("import", str(COMMITMENTS_FILE), str(UNITS_FILE), cwd=workdir, DATABASE_URL=database(workdir))
    assert again.returncode == 0
    assert "không đổi" in again.stdout or "unchanged" in again.stdout
    export = qmsbot("export", str(workdir / "out.xlsx"), cwd=workdir, DATABASE_URL=database(workdir))
    assert export.returncode == 0, export.stderr
    workbook = load_workbook(workdir / "out.xlsx", read_only=True)
    assert len(list(workbook["commitments"].iter_rows())) == 38  # the header and 37 commitments


def test_a_bad_row_writes_nothing_and_names_file_line_column(workdir: Path) -> None:
    units = workdir / "units.csv"
    units.write_text("code,name,parent_code\nVPB,Văn phòng Bộ,\nV P B,Sai mã,\n", encoding="utf-8")
    result = qmsbot("import", str(units), cwd=workdir, DATABASE_URL=database(workdir))
    assert result.returncode == 1
    assert "units.csv" in result.stdout and "3" in result.stdout and "code" in result.stdout
    export = qmsbot("export", str(workdir / "out.xlsx"), cwd=workdir, DATABASE_URL=database(workdir))
    assert export.returncode == 0
    units_sheet = load_workbook(workdir / "out.xlsx", read_only=True)["units"]
    assert len(list(units_sheet.iter_rows())) == 1  # the header only


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"REMINDER_TIME": "8h30"}, "Thiết lập REMINDER_TIME không hợp lệ:"),
        ({"DATABASE_URL": "mysql://localhost/x"}, "Thiết lập DATABASE_URL không hợp lệ:"),
        ({"SECRETARY_IDS": "12,thu-ky"}, "Thiết lập SECRETARY_IDS không hợp lệ:"),
    ],
)
def test_a_bad_setting_stops_with_one_line(workdir: Path, env: dict[str, str], needle: str) -> None:
    result = qmsbot("db", "upgrade", cwd=workdir, **env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(needle) and len(result.stderr.strip().splitlines()) == 1


def test_run_without_a_token_says_so(workdir: Path) -> None:
    result = qmsbot("run", cwd=workdir, DATABASE_URL=database(workdir))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Thiết lập TELEGRAM_BOT_TOKEN không hợp lệ: bắt buộc với qmsbot run (qmsbot sandbox không cần)"
    ]


@pytest.mark.parametrize(
    ("env", "vi", "en"),
    [
        (
            {"WORKING_DAYS_ONLY": "maybe"},
            "Thiết lập WORKING_DAYS_ONLY không hợp lệ: cần là true hoặc false (đã nhập 'maybe')",
            "Invalid setting WORKING_DAYS_ONLY: expected true or false (given 'maybe')",
        ),
        (
            {"DIGEST_CRON": "monday 8:00"},
            "Thiết lập DIGEST_CRON không hợp lệ: 'monday 8:00': cần các ngày và giờ HH:MM",
            "Invalid setting DIGEST_CRON: 'monday 8:00': expected days and a time HH:MM",
        ),
    ],
)
def test_a_bad_setting_is_one_line_in_the_operators_language(
    workdir: Path, env: dict[str, str], vi: str, en: str
) -> None:
    for language, expected in (("vi", vi), ("en", en)):
        result = qmsbot("schedule", cwd=workdir, DATABASE_URL=database(workdir), DEFAULT_LANGUAGE=language, **env)
        assert result.returncode == 2 and result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
        assert "Input should" not in result.stderr and "Traceback" not in result.stderr


def test_missing_file_and_bad_export_name(workdir: Path) -> None:
    missing = qmsbot("import", str(workdir / "none.csv"), cwd=workdir, DATABASE_URL=database(workdir))
    assert missing.returncode == 2 and "none.csv" in missing.stderr
    wrong = qmsbot("export", str(workdir / "out.csv"), cwd=workdir, DATABASE_URL=database(workdir))
    assert wrong.returncode == 2 and ".xlsx" in wrong.stderr


def test_an_unreachable_database_is_named(workdir: Path) -> None:
    result = qmsbot("db", "upgrade", cwd=workdir, DATABASE_URL="postgresql+asyncpg://nobody:x@127.0.0.1:1/none")
    assert result.returncode == 2 and "DATABASE_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_run_brings_an_empty_database_up_and_polls(tmp_path: Path) -> None:
    """`qmsbot run` on a database that does not exist yet: it creates the schema and starts polling."""
    import asyncio

    from sqlalchemy import inspect

    from sandbox.emulator.server import Emulator
    from storage.db import Database

    emulator = Emulator(token="123456:RUN-TOKEN")
    await emulator.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        TELEGRAM_BOT_TOKEN="123456:RUN-TOKEN",
        TELEGRAM_API_BASE_URL=emulator.base_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    generation = emulator.methods.poll_generation  # counts polls as they begin
    try:
        for _ in range(300):
            if emulator.methods.poll_generation != generation:
                break
            await asyncio.sleep(0.05)
        assert emulator.methods.poll_generation != generation, "the bot never polled"
    finally:
        process.terminate()
        await process.wait()
        await emulator.stop()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    await db.dispose()
    assert {"units", "commitments", "people", "outbox", "events", "alembic_version"} <= set(tables)


@pytest.mark.parametrize(
    ("args", "vi", "en"),
    [
        (
            ("export", "/no/such/dir/x.xlsx"),
            "thư mục /no/such/dir không tồn tại",
            "the folder /no/such/dir does not exist",
        ),
        (("export", "x.csv"), "Tên tệp xuất phải có đuôi .xlsx", "The export file name must end in .xlsx"),
        (("import", "/no/such/file.csv"), "Không tìm thấy tệp: /no/such/file.csv", "No such file: /no/such/file.csv"),
    ],
)
def test_operator_mistakes_get_one_localised_line(workdir: Path, args: tuple[str, ...], vi: str, en: str) -> None:
    for language, expected in (("vi", vi), ("en", en)):
        result = qmsbot(*args, cwd=workdir, DATABASE_URL=database(workdir), DEFAULT_LANGUAGE=language)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], result.stderr


def test_schedule_into_a_closed_pipe_ends_quietly(workdir: Path) -> None:
    qmsbot("import", str(UNITS_FILE), str(COMMITMENTS_FILE), cwd=workdir, DATABASE_URL=database(workdir))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "ADMIN_"))}
    environment.update({"PYTHONPATH": str(ROOT), "DATABASE_URL": database(workdir)})
    pipeline = subprocess.run(
        f"{sys.executable} -m bot.cli schedule --days 366 | head -n 1",
        shell=True,
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(pipeline.stdout.strip().splitlines()) == 1
    assert "Traceback" not in pipeline.stderr and "BrokenPipe" not in pipeline.stderr, pipeline.stderr


def test_the_sandbox_prints_its_address_last_and_nothing_else(workdir: Path) -> None:
    """`qmsbot sandbox`: the terminal shows what it is, then the address alone on the last line; the bot's own
    log (the planner's first ticks) goes to a file beside the database, and Ctrl+C ends it quietly."""
    import signal
    import time

    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "ADMIN_"))}
    environment.update({"PYTHONPATH": str(ROOT), "DEFAULT_LANGUAGE": "vi"})
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sandbox", "--port", "0", "--db", str(workdir / "sandbox.db")],
        cwd=workdir,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        time.sleep(5)  # the planner ticks every 2 s in the sandbox: it has logged by now
    finally:
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=30)
    assert rest == "" and errors == "", (rest, errors)
    assert lines[0].startswith("Sandbox đang chạy") and "sandbox.log" in lines[0]
    assert lines[1].startswith("Mở địa chỉ này trong trình duyệt")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\n", lines[2]), lines
    log = (workdir / "sandbox.log").read_text(encoding="utf-8")
    assert "scheduler.planner" in log
    assert "apscheduler" not in log.lower() and "per_message" not in log
