"""Settings from the environment and `.env` (SPEC "Settings").

A wrong setting stops the start with one line that names it, in the operator's language (DEFAULT_LANGUAGE,
Vietnamese first): see `load_settings`.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.dates import parse_date
from core.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, t_text

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line naming it."""


class SettingProblem(ValueError):
    """Why a value is wrong, as a msgid and its params: translated when the operator is told."""

    def __init__(self, msgid: str, /, **params: object) -> None:
        super().__init__(msgid.format(**params) if params else msgid)
        self.msgid = msgid
        self.params = params


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


class DigestSchedule:
    """`DIGEST_CRON`: days and a time, e.g. `mon 08:00` or `mon,thu 07:30`."""

    def __init__(self, weekdays: tuple[int, ...], at: time) -> None:
        self.weekdays = weekdays
        self.at = at

    @classmethod
    def parse(cls, text: str) -> DigestSchedule:
        match = re.fullmatch(r"\s*([a-zA-Z,\s]+?)\s+(\d{2}):(\d{2})\s*", text)
        if not match:
            raise SettingProblem(
                N_("{value}: expected days and a time HH:MM, e.g. 'mon 08:00' or 'mon,thu 07:30'"),
                value=repr(text.strip()),
            )
        days = [d.strip().lower() for d in match.group(1).split(",") if d.strip()]
        # Exactly the three-letter names: "monday" or "thứ 2" must not pass as something else silently.
        if not days or any(d not in WEEKDAYS for d in days):
            raise SettingProblem(
                N_("{value}: days must be among mon,tue,wed,thu,fri,sat,sun, e.g. 'mon 08:00'"),
                value=repr(text.strip()),
            )
        hour, minute = int(match.group(2)), int(match.group(3))
        if hour > 23 or minute > 59:
            raise SettingProblem(N_("time must be HH:MM between 00:00 and 23:59"))
        return cls(tuple(sorted({WEEKDAYS.index(d) for d in days})), time(hour, minute))

    def __str__(self) -> str:
        return f"{','.join(WEEKDAYS[d] for d in self.weekdays)} {self.at:%H:%M}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DigestSchedule) and (self.weekdays, self.at) == (other.weekdays, other.at)

    def __hash__(self) -> int:
        return hash((self.weekdays, self.at))


IdList = Annotated[list[int], NoDecode]
DayList = Annotated[list[int], NoDecode]
DateList = Annotated[list[date], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    telegram_bot_token: str | None = Field(default=None, repr=False)  # a secret: never in a repr or a log
    telegram_api_base_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///qmsbot.db"
    timezone: str = "Asia/Ho_Chi_Minh"
    admin_ids: IdList = Field(default_factory=list)
    secretary_ids: IdList = Field(default_factory=list)
    default_language: str = "vi"
    invite_ttl_days: int = Field(default=7, ge=1, le=365)
    digest_chat_id: int | None = None
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object per line
    webhook_secret: str | None = Field(
        default=None, repr=False
    )  # required with `qmsbot run --webhook`; the same on every instance

    reminder_days_legal: DayList = Field(default_factory=lambda: [30, 14, 7, 3, 1, 0])
    reminder_days_internal: DayList = Field(default_factory=lambda: [7, 3, 1, 0])
    reminder_time: time = time(8, 30)
    overdue_every_days: int = Field(default=3, ge=1, le=365)
    escalate_after_days: int = Field(default=7, ge=1, le=3650)
    working_days_only: bool = True
    extra_days_off: DateList = Field(default_factory=list)
    extra_working_days: DateList = Field(default_factory=list)
    plan_interval_seconds: int = Field(default=60, ge=1, le=86400)
    send_rate_per_second: float = Field(default=25, gt=0, le=30)
    # Beyond the free rate, bulk sending may use Telegram's paid broadcasts (allow_paid_broadcast, Stars).
    paid_broadcast: bool = False
    paid_send_rate_per_second: float = Field(default=100, gt=0, le=1000)
    undo_minutes: int = Field(default=10, ge=0, le=1440)
    snooze_days: int = Field(default=1, ge=1, le=365)
    digest_cron: Annotated[DigestSchedule, NoDecode] = Field(default_factory=lambda: DigestSchedule.parse("mon 08:00"))

    model_config["arbitrary_types_allowed"] = True

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _token(cls, value: Any) -> Any:
        if value is None or str(value).strip() == "":
            return None
        if not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", str(value).strip()):
            raise SettingProblem(N_("expected the form 123456789:AAE… given by @BotFather"))
        return str(value).strip()

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _webhook_secret(cls, value: Any) -> Any:
        if value is None or str(value).strip() == "":
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(value).strip()):
            raise SettingProblem(N_("expected 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule for secret_token)"))
        return str(value).strip()

    @field_validator("telegram_api_base_url", mode="before")
    @classmethod
    def _base_url(cls, value: Any) -> Any:
        text = str(value).strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", text):
            raise SettingProblem(N_("expected an http(s) URL such as https://api.telegram.org"))
        return text

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        text = str(value).strip()
        if not (text.startswith("sqlite+aiosqlite://") or text.startswith("postgresql+asyncpg://")):
            raise SettingProblem(N_("expected sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB"))
        return text

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: Any) -> Any:
        try:
            ZoneInfo(str(value).strip())
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingProblem(N_("unknown time zone {value}"), value=repr(value)) from exc
        return str(value).strip()

    @field_validator("admin_ids", "secretary_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        ids = []
        for part in _split(value):
            if not re.fullmatch(r"-?\d+", part):
                raise SettingProblem(N_("{value} is not a Telegram user id (a whole number)"), value=repr(part))
            ids.append(int(part))
        return ids

    @field_validator("reminder_days_legal", "reminder_days_internal", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        days = []
        for part in _split(value):
            if not re.fullmatch(r"\d+", part) or int(part) > 3650:
                raise SettingProblem(N_("{value} is not a number of days (0-3650)"), value=repr(part))
            days.append(int(part))
        return sorted(set(days), reverse=True)

    @field_validator("extra_days_off", "extra_working_days", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        dates = []
        for part in _split(value):
            try:
                dates.append(parse_date(part))
            except ValueError as exc:
                raise SettingProblem(N_("{value} is not a date (DD/MM/YYYY or YYYY-MM-DD)"), value=repr(part)) from exc
        return dates

    @field_validator("reminder_time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        if isinstance(value, time):
            return value
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(value))
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise SettingProblem(N_("{value} is not a time of day HH:MM"), value=repr(value))
        return time(int(match.group(1)), int(match.group(2)))

    @field_validator("default_language", mode="before")
    @classmethod
    def _language(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text not in LANGUAGES:
            raise SettingProblem(N_("expected one of {choices}"), choices=", ".join(LANGUAGES))
        return text

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text not in ("text", "json"):
            raise SettingProblem(N_("expected text or json"))
        return text

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        text = str(value).strip().upper()
        if text not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise SettingProblem(N_("expected DEBUG, INFO, WARNING, ERROR or CRITICAL"))
        return text

    @field_validator("digest_chat_id", mode="before")
    @classmethod
    def _digest_chat(cls, value: Any) -> Any:
        if value is None or str(value).strip() == "":
            return None
        if not re.fullmatch(r"-?\d+", str(value).strip()):
            raise SettingProblem(N_("{value} is not a Telegram chat id (a whole number)"), value=repr(value))
        return int(str(value).strip())

    @field_validator("digest_cron", mode="before")
    @classmethod
    def _cron(cls, value: Any) -> Any:
        if isinstance(value, DigestSchedule):
            return value
        return DigestSchedule.parse(str(value))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning any validation error into one line naming the setting, in the operator's
    language (DEFAULT_LANGUAGE when it is itself valid, else Vietnamese)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        lang = _operator_language(overrides)
        raise SettingsError(
            t_text(lang, "Invalid setting {name}: {reason}", name=name, reason=_plain(error, lang))
        ) from None


class _LanguageOnly(BaseSettings):
    """DEFAULT_LANGUAGE alone, read as Settings reads it: the language to report the other settings' errors in."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)
    default_language: str = DEFAULT_LANGUAGE


def _operator_language(overrides: dict[str, Any]) -> str:
    value = overrides.get("default_language")
    if value is None:
        try:
            value = _LanguageOnly(**{k: v for k, v in overrides.items() if k == "_env_file"}).default_language
        except (ValidationError, OSError, UnicodeDecodeError):  # an unreadable .env is reported in Vietnamese
            value = DEFAULT_LANGUAGE
    text = str(value).strip().lower()
    return text if text in LANGUAGES else DEFAULT_LANGUAGE


# pydantic's own wording ("Input should be a valid boolean, unable to interpret input") names its internals;
# the operator gets what the setting expects and what was given.
_EXPECTED = {
    "bool_parsing": N_("expected true or false"),
    "bool_type": N_("expected true or false"),
    "int_parsing": N_("expected a whole number"),
    "int_type": N_("expected a whole number"),
    "int_from_float": N_("expected a whole number"),
    "float_parsing": N_("expected a number"),
    "float_type": N_("expected a number"),
    "time_parsing": N_("expected a time HH:MM"),
    "time_type": N_("expected a time HH:MM"),
    "missing": N_("required"),
}
_BOUNDS = {
    "greater_than_equal": N_("must be at least {limit}"),
    "greater_than": N_("must be more than {limit}"),
    "less_than_equal": N_("must be at most {limit}"),
    "less_than": N_("must be less than {limit}"),
}


def _plain(error: Any, lang: str) -> str:
    kind = str(error.get("type", ""))
    given = error.get("input")
    ctx = error.get("ctx") or {}
    problem = ctx.get("error")
    if isinstance(problem, SettingProblem):  # our validators say it themselves
        return t_text(lang, problem.msgid, **problem.params)
    shown = (
        t_text(lang, " (given {value})", value=repr(given))
        if isinstance(given, (str, int, float)) and kind != "missing"
        else ""
    )
    if kind in _EXPECTED:
        return t_text(lang, _EXPECTED[kind]) + shown
    if kind in _BOUNDS:
        return t_text(lang, _BOUNDS[kind], limit=next(iter(ctx.values()), "?")) + shown
    return t_text(lang, "not a valid value") + shown  # never pydantic's English
