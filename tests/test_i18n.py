"""Every message the bot can send exists in Vietnamese and English, with the same placeholders."""

from __future__ import annotations

import string

import pytest

from core.i18n import LANGUAGES, read_catalog, t
from core.i18n_catalog import extract_messages, missing


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_messages_are_found_in_the_code() -> None:
    messages = extract_messages()
    assert "There is no unit with the code {code}." in messages
    assert "Deadline" in messages  # a call inside an f-string is found too


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_has_a_translation(lang: str) -> None:
    assert missing(lang) == [], f"untranslated in {lang}: run python -m core.i18n_catalog"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders(lang: str) -> None:
    wrong = {msgid: msgstr for msgid, msgstr in read_catalog(lang).items() if _fields(msgid) != _fields(msgstr)}
    assert wrong == {}


def test_vietnamese_is_the_default_and_english_the_second() -> None:
    assert t(None, "Deadline") == "Thời hạn"
    assert t("vi", "overdue {days} days", days=3) == "quá hạn 3 ngày"
    assert t("en", "overdue {days} days", days=3) == "overdue 3 days"
    assert t("en-US", "Deadline") == "Deadline"
