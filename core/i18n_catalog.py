"""Keeping the catalogs complete: every message id in the code, and `python -m core.i18n_catalog`.

The command adds new ids to `core/locale/<lang>/bot.po` (English: the id itself; Vietnamese: empty, for a
translator) and lists what still lacks a translation; the test suite fails while anything does.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from core.i18n import LANGUAGES, LOCALE_DIR, read_catalog

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("core", "storage", "texts", "scheduler", "handlers", "bot", "sandbox")
# t(lang, msgid), t_text(lang, msgid), req.tr(msgid), N_(msgid), UserError(msgid), UsageError(spec, msgid)
KEYWORDS = {"t": (2,), "t_text": (2,), "tr": (1,), "N_": (1,), "UserError": (1,), "UsageError": (2,)}


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def extract_messages(root: Path = ROOT) -> dict[str, list[str]]:
    """Message ids of every t/tr/N_/UserError/UsageError call, f-strings included (hence ast, not Babel)."""
    found: dict[str, list[str]] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or _call_name(node) not in KEYWORDS:
                    continue
                position = KEYWORDS[_call_name(node)][0] - 1
                if len(node.args) > position:
                    arg = node.args[position]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                        where = f"{path.relative_to(root)}:{node.lineno}"
                        found.setdefault(arg.value, []).append(where)
    return found


def missing(lang: str, root: Path = ROOT) -> list[str]:
    catalog = read_catalog(lang)
    return sorted(msgid for msgid in extract_messages(root) if msgid not in catalog)


def update(root: Path = ROOT) -> dict[str, list[str]]:
    messages = extract_messages(root)
    still_missing: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        known = read_catalog(lang)
        path = LOCALE_DIR / lang / "bot.po"
        from babel.messages.pofile import read_po

        own = read_po(path.open("rb"), locale=lang) if path.exists() else Catalog(locale=lang)
        for msgid in messages:
            if msgid in known or msgid in own:
                continue
            own.add(msgid, msgid if lang == "en" else "", locations=[])
        own.project, own.fuzzy = "qmsbot", False
        with path.open("wb") as handle:
            write_po(handle, own, width=0, omit_header=False, no_location=True, sort_output=False)
        still_missing[lang] = missing(lang, root)
    return still_missing


if __name__ == "__main__":
    result = update()
    for lang, ids in result.items():
        for msgid in ids:
            print(f"{lang}: untranslated: {msgid}")
    sys.exit(1 if any(result.values()) else 0)
