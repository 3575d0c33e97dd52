"""Text folded for matching: case and Vietnamese diacritics ignored (`Kế hoạch` and `ke hoach` match)."""

from __future__ import annotations

import unicodedata

# Letters that are not a base letter plus a combining mark, so NFD leaves them whole.
_LETTERS = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def words(text: str) -> list[str]:
    """The folded words of a query, each to be found somewhere."""
    return [word for word in fold(text).split() if word]
