"""Answers to what no command took: an unknown command, plain text."""

from __future__ import annotations

from core.i18n import t
from texts.render import esc


def unknown_command_text(lang: str, command: str) -> str:
    return (
        t(lang, "I do not know the command {command}.", command=esc(command))
        + "\n"
        + t(lang, "Send /help to see the commands you can use.")
    )
