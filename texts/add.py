"""The /add dialogue's texts and the confirmation of a new commitment."""

from __future__ import annotations

from datetime import date

from core.i18n import t
from storage.models import Kind
from texts.render import esc, fmt_date, kind_label, shorten


def added_text(lang: str, *, commitment_id: int, unit_code: str, title: str, due: date, kind: Kind) -> str:
    return t(
        lang,
        "Added #{id} for {unit}: {title}, due {due} ({kind}).",
        id=commitment_id,
        unit=f"<b>{esc(unit_code)}</b>",
        title=esc(shorten(title, 200)),
        due=fmt_date(due),
        kind=kind_label(lang, kind),
    )


def unknown_unit_in_dialogue(lang: str, code: str) -> str:
    """Step 1 of /add with a code the register does not know: say so, and how to go on."""
    return (
        t(lang, "There is no unit with the code {code}.", code=esc(code))
        + "\n"
        + t(lang, "Send the unit code again (e.g. VPB), or /cancel to stop.")
    )
