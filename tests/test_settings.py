"""Settings: defaults from SPEC, and one clear line naming a wrong setting."""

from __future__ import annotations

from datetime import date, time

import pytest

from core.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no .env of the developer's leaks in
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "ADMIN_IDS",
        "SECRETARY_IDS",
        "DATABASE_URL",
        "DIGEST_CRON",
        "TIMEZONE",
        "DEFAULT_LANGUAGE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_spec() -> None:
    s = load_settings()
    assert s.reminder_days_legal == [30, 14, 7, 3, 1, 0]
    assert s.reminder_days_internal == [7, 3, 1, 0]
    assert s.reminder_time == time(8, 30)
    assert (s.overdue_every_days, s.escalate_after_days, s.invite_ttl_days) == (3, 7, 7)
    assert s.working_days_only and s.send_rate_per_second == 25 and s.plan_interval_seconds == 60
    assert str(s.digest_cron) == "mon 08:00"
    assert s.database_url == "sqlite+aiosqlite:///qmsbot.db" and s.timezone == "Asia/Ho_Chi_Minh"
    assert s.telegram_api_base_url == "https://api.telegram.org" and s.default_language == "vi"
    assert s.admin_ids == [] and s.secretary_ids == []


def test_lists_dates_and_cron(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "1, 22")
    monkeypatch.setenv("SECRETARY_IDS", "")
    monkeypatch.setenv("EXTRA_DAYS_OFF", "02/01/2026,2026-04-30")
    monkeypatch.setenv("DIGEST_CRON", "mon,thu 07:30")
    s = load_settings()
    assert s.admin_ids == [1, 22] and s.secretary_ids == []
    assert s.extra_days_off == [date(2026, 1, 2), date(2026, 4, 30)]
    assert s.digest_cron.weekdays == (0, 3) and s.digest_cron.at == time(7, 30)


def test_dotenv_file_is_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("SECRETARY_IDS=42\nREMINDER_TIME=09:15\n")
    s = load_settings()
    assert s.secretary_ids == [42] and s.reminder_time == time(9, 15)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REMINDER_TIME", "25:00"),
        ("ADMIN_IDS", "12,abc"),
        ("DIGEST_CRON", "someday 08:00"),
        ("TIMEZONE", "Mars/Olympus"),
        ("INVITE_TTL_DAYS", "0"),
        ("DATABASE_URL", "mysql://x"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token"),
        ("EXTRA_DAYS_OFF", "31/02/2026"),
        ("WORKING_DAYS_ONLY", "maybe"),
        ("SEND_RATE_PER_SECOND", "100"),
        ("DEFAULT_LANGUAGE", "fr"),
        ("TELEGRAM_API_BASE_URL", "ftp://x"),
    ],
)
def test_a_wrong_setting_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"Thiết lập {name} không hợp lệ:") and "\n" not in message
    assert "Input should" not in message and "Value error" not in message


@pytest.mark.parametrize(
    ("name", "value", "vi", "en"),
    [
        (
            "WORKING_DAYS_ONLY",
            "maybe",
            "Thiết lập WORKING_DAYS_ONLY không hợp lệ: cần là true hoặc false (đã nhập 'maybe')",
            "Invalid setting WORKING_DAYS_ONLY: expected true or false (given 'maybe')",
        ),
        (
            "DIGEST_CRON",
            "monday 8:00",
            "Thiết lập DIGEST_CRON không hợp lệ: 'monday 8:00': cần các ngày và giờ HH:MM, ví dụ 'mon 08:00'"
            " hoặc 'mon,thu 07:30'",
            "Invalid setting DIGEST_CRON: 'monday 8:00': expected days and a time HH:MM, e.g. 'mon 08:00'"
            " or 'mon,thu 07:30'",
        ),
        (
            "DIGEST_CRON",
            "monday 08:00",
            "Thiết lập DIGEST_CRON không hợp lệ: 'monday 08:00': các ngày phải thuộc mon,tue,wed,thu,fri,sat,sun,"
            " ví dụ 'mon 08:00'",
            "Invalid setting DIGEST_CRON: 'monday 08:00': days must be among mon,tue,wed,thu,fri,sat,sun,"
            " e.g. 'mon 08:00'",
        ),
        (
            "PLAN_INTERVAL_SECONDS",
            "0",
            "Thiết lập PLAN_INTERVAL_SECONDS không hợp lệ: phải từ 1 trở lên (đã nhập '0')",
            "Invalid setting PLAN_INTERVAL_SECONDS: must be at least 1 (given '0')",
        ),
        (
            "SEND_RATE_PER_SECOND",
            "abc",
            "Thiết lập SEND_RATE_PER_SECOND không hợp lệ: cần là một số (đã nhập 'abc')",
            "Invalid setting SEND_RATE_PER_SECOND: expected a number (given 'abc')",
        ),
        (
            "ADMIN_IDS",
            "12,thu-ky",
            "Thiết lập ADMIN_IDS không hợp lệ: 'thu-ky' không phải mã người dùng Telegram (một số nguyên)",
            "Invalid setting ADMIN_IDS: 'thu-ky' is not a Telegram user id (a whole number)",
        ),
    ],
)
def test_a_wrong_setting_says_what_it_expects_in_the_operators_language(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, vi: str, en: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == vi  # Vietnamese first
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == en


def test_the_operators_language_comes_from_dotenv_too_and_a_wrong_one_is_told_in_vietnamese(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("DEFAULT_LANGUAGE=en\nREMINDER_TIME=8h30\n")
    with pytest.raises(SettingsError, match=r"^Invalid setting REMINDER_TIME: '8h30' is not a time of day HH:MM$"):
        load_settings()
    (tmp_path / ".env").write_text("DEFAULT_LANGUAGE=fr\n")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == "Thiết lập DEFAULT_LANGUAGE không hợp lệ: cần là một trong: vi, en"


def test_digest_cron_keeps_accepting_the_documented_forms() -> None:
    assert str(load_settings(_env_file=None, digest_cron="mon 08:00").digest_cron) == "mon 08:00"
    assert str(load_settings(_env_file=None, digest_cron="Mon, Thu 07:30").digest_cron) == "mon,thu 07:30"
