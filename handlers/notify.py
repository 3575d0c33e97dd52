"""What handlers do after a change: queue notifications to the committee, wake the sender.

Reminders are not theirs to plan again: the storage services do that in the transaction of the change."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from handlers.context import Context
from scheduler.notices import committee_recipients
from storage.models import Person
from storage.outbox import OutboxKind, Outgoing


def outgoing_to_committee(
    people: Iterable[Person],
    *,
    key: str,
    kind: OutboxKind,
    commitment_id: int | None,
    render: Callable[[str], str],
    markup: Callable[[str], dict[str, Any] | None] | None = None,
    default_language: str,
) -> list[Outgoing]:
    """One outbox message per reachable secretary or admin (scheduler.notices.committee_recipients), in each one's
    language, keyed `<key>:<person id>`; `kind` is one of scheduler.notices' declarations."""
    messages = []
    for person in committee_recipients(people):
        lang = person.language or default_language
        messages.append(
            Outgoing(
                key=f"{key}:{person.id}",
                kind=kind,
                chat_id=person.telegram_id,
                person_id=person.id,
                commitment_id=commitment_id,
                text=render(lang),
                reply_markup=markup(lang) if markup else None,
            )
        )
    return messages


def wake_sender(context: Context) -> None:
    """Messages were queued: let the sender go now rather than at its next poll."""
    context.bot_data.services.wake()
