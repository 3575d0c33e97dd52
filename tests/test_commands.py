"""The one list of commands (handlers.routes): each name once, each callback the one its `@command` names."""

from __future__ import annotations

import re
from pathlib import Path

from handlers.routes import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def test_each_command_is_listed_once_with_its_own_callback() -> None:
    names = [spec.name for spec in COMMANDS]
    assert len(names) == len(set(names))
    for spec in COMMANDS:
        callback = spec.callback.__name__
        # A `@command("x")` callback is named command_x; a dialogue's entry point has a name of its own.
        assert callback == f"command_{spec.name}" or spec.dialogue is not None, (spec.name, callback)


def test_every_command_a_handler_declares_is_listed() -> None:
    declared = {
        name
        for path in (ROOT / "handlers").glob("*.py")
        for name in re.findall(r'^@command\("(\w+)"\)', path.read_text(encoding="utf-8"), re.M)
    }
    assert declared <= {spec.name for spec in COMMANDS}
