"""Texts in two languages through gettext catalogs (Vietnamese first, English second).

`.po` files under `core/locale/<lang>/`, merged and compiled in memory; `t()` for HTML, `t_text` for plain text,
`N_` marks a msgid translated later.
"""

from __future__ import annotations

import html
import io
from functools import cache
from gettext import GNUTranslations
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"


def N_(msgid: str) -> str:
    return msgid


def read_catalog(lang: str) -> dict[str, str]:
    """Every translated message of a language, merged from all its .po files."""
    merged: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / lang).glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=lang):
                if message.id and isinstance(message.id, str) and message.string and not message.fuzzy:
                    merged[message.id] = str(message.string)
    return merged


@cache
def translations(lang: str) -> GNUTranslations:
    catalog = Catalog(locale=lang)
    for msgid, msgstr in read_catalog(lang).items():
        catalog.add(msgid, msgstr)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return GNUTranslations(buffer)


def normalise_language(lang: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    if lang:
        short = lang.split("-")[0].lower()
        if short in LANGUAGES:
            return short
    return default


def t_text(lang: str | None, msgid: str, /, **params: object) -> str:
    """Plain text (command line, spreadsheets): nothing is escaped."""
    text = translations(normalise_language(lang)).gettext(msgid)
    return text.format(**params) if params else text


def t(lang: str | None, msgid: str, /, **params: object) -> str:
    """Text for a Telegram HTML message: the translated template is escaped, the params are inserted as given.

    Params are already HTML: callers escape user-supplied strings (texts.render.esc) and may pass markup.
    """
    text = html.escape(translations(normalise_language(lang)).gettext(msgid), quote=False)
    return text.format(**params) if params else text
