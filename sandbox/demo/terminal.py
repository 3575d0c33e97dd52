"""`qmsbot sandbox --terminal`: act as the secretary or a unit's focal point against the emulator, in a terminal.

Type a message or a command as the current persona; `:as KEY` switches persona, `:press N` presses the
N-th button of the persona's last message with buttons, `:jump 1d` moves the clock, `:who` lists the
personas, `:quit` stops.
"""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.settings import Settings
from sandbox.demo.world import BotRunner, Persona, World, start_world

HELP = """Commands of the sandbox (anything else is sent to the bot as the current persona):
  :who            list the personas          :as KEY    act as a persona (secretary, a unit code)
  :press N        press button N of the last message with buttons
  :jump 1d|3h|1w  move the clock ahead        :help      this text        :quit   stop"""


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def _show(world: World, chat_id: int, message: dict[str, Any]) -> None:
    persona = next((p for p in world.personas if p.user_id == chat_id), None)
    who = persona.key if persona else str(chat_id)
    print(f"\n[bot → {who}]\n{message.get('text') or message.get('caption') or '(file)'}")
    for index, button in enumerate(_buttons(message), start=1):
        print(f"  [{index}] {button.get('text')}")


async def _printer(world: World) -> None:
    queue = world.emulator.subscribe()
    while True:
        event = await queue.get()
        message = event.get("message")
        if event.get("type") in ("message", "edited") and message and (message.get("from") or {}).get("is_bot"):
            _show(world, int(event["chat_id"]), message)


def _parse_jump(text: str) -> timedelta | None:
    match = re.fullmatch(r"(\d+)\s*([dhwm])", text.strip())
    if not match:
        return None
    amount, unit = int(match.group(1)), match.group(2)
    return {
        "d": timedelta(days=amount),
        "h": timedelta(hours=amount),
        "w": timedelta(weeks=amount),
        "m": timedelta(minutes=amount),
    }[unit]


async def _repl(world: World) -> None:
    current: Persona = world.personas[0]
    print(HELP)
    print(f"\nYou are {current.name} ({current.key}). The bot is @{world.emulator.bot_user['username']}.")
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, input, f"{current.key}> ")
        line = line.strip()
        if not line:
            continue
        if line in (":quit", ":q", ":exit"):
            return
        if line == ":help":
            print(HELP)
        elif line == ":who":
            for persona in world.personas:
                state = "" if persona.linked else " (not linked yet: ask the secretary for /invite)"
                print(f"  {persona.key:<10} {persona.name}{state}")
        elif line.startswith(":as "):
            found = world.persona(line[4:])
            if found is None:
                print("no such persona; :who lists them")
            else:
                current = found
        elif line.startswith(":press "):
            await _press(world, current, line[7:])
        elif line.startswith(":jump "):
            delta = _parse_jump(line[6:])
            if delta is None:
                print("say how far, e.g. :jump 1d, :jump 3h, :jump 1w")
            else:
                world.clock.jump(delta)
                print(f"the clock now reads {world.clock():%d/%m/%Y %H:%M}")
        else:
            await world.emulator.send_message(current.user_id, line)
            await asyncio.sleep(0.3)


async def _press(world: World, persona: Persona, which: str) -> None:
    with_buttons = [m for m in world.emulator.bot_messages(persona.user_id) if _buttons(m)]
    if not with_buttons or not which.strip().isdigit():
        print("no message with buttons, or no button number")
        return
    message = with_buttons[-1]
    buttons = _buttons(message)
    index = int(which) - 1
    if not 0 <= index < len(buttons):
        print(f"choose a button from 1 to {len(buttons)}")
        return
    await world.emulator.press_button(persona.user_id, message["message_id"], buttons[index]["callback_data"])
    await asyncio.sleep(0.3)


async def _main(settings: Settings, runner: BotRunner, db_path: Path) -> None:
    world = await start_world(settings, db_path=db_path, runner=runner)
    printer = asyncio.create_task(_printer(world))
    try:
        if not sys.stdin.isatty():
            print("The sandbox is running; no terminal to type in. Stop it with Ctrl+C.")
            await asyncio.Event().wait()
        await _repl(world)
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        printer.cancel()
        await world.stop()


def run_sandbox(settings: Settings, runner: BotRunner, *, db_path: Path) -> int:
    try:
        asyncio.run(_main(settings, runner, db_path))
    except KeyboardInterrupt:
        pass
    return 0
