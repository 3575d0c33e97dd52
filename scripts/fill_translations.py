"""Fill Vietnamese translations into core/locale/vi/bot.po from a Python dict file (msgid → msgstr).

Usage: python scripts/fill_translations.py TRANSLATIONS.py   (the file defines VI = {...})
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "bot" / "locale" / "vi" / "bot.po"


def main(source: str) -> int:
    mapping: dict[str, str] = runpy.run_path(source)["VI"]
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="vi")
    filled = 0
    for msgid, msgstr in mapping.items():
        message = catalog.get(msgid)
        if message is None:
            catalog.add(msgid, msgstr)
        else:
            message.string = msgstr
        filled += 1
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=0, no_location=True)
    print(f"{filled} translations written to {PO}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
