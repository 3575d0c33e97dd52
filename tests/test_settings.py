"""Settings: defaults from SPEC, and one clear line naming a wrong setting."""

from __future__ import annotations

from datetime import date, time

import pytest

from core.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no .env of the developer's leaks in
    for name in ("TELEGRAM_BOT_TOKEN", "ADMIN_IDS", "SECRETARY_IDS", "DATABASE_URL", "DIGEST_CRON", "TIMEZONE"):
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
    assert message.startswith(f"Invalid setting {name}:") and "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WORKING_DAYS_ONLY", "maybe", "expected true or false (given 'maybe')"),
        ("DIGEST_CRON", "monday 8:00", "expected days and a time HH:MM"),
        ("DIGEST_CRON", "monday 08:00", "days must be among mon,tue,wed,thu,fri,sat,sun"),
        ("PLAN_INTERVAL_SECONDS", "0", "must be at least 1"),
        ("SEND_RATE_PER_SECOND", "abc", "expected a number"),
    ],
)
def test_a_wrong_setting_says_what_it_expects(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert expected in str(info.value)
    assert "Input should be" not in str(info.value)  # none of pydantic's own wording


def test_digest_cron_keeps_accepting_the_documented_forms() -> None:
    assert str(load_settings(_env_file=None, digest_cron="mon 08:00").digest_cron) == "mon 08:00"
    assert str(load_settings(_env_file=None, digest_cron="Mon, Thu 07:30").digest_cron) == "mon,thu 07:30"
