"""What handlers do after a change: queue notifications to the committee, wake the sender.

Reminders are not theirs to plan again: the storage services do that in the transaction of the change."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from handlers.context import Context
from scheduler.notices import EXTENSION_CLOSED, EXTENSION_DECISION, committee_recipients
from storage.models import Commitment, ExtensionRequest, ExtensionStatus, Person
from storage.outbox import OutboxKind, Outgoing
from storage.status import ClosedNotice, RequesterNotice
from texts.extensions import closed_text, decision_text
from texts.keyboards import commitment_keyboard


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


def closed_request_notice(default_language: str) -> ClosedNotice:
    """The notice to whoever asked to extend a commitment that was then done, cancelled or edited."""

    def build(request: ExtensionRequest, commitment: Commitment, requester: Person, why: str) -> Outgoing:
        lang = requester.language or default_language
        return Outgoing(
            key=EXTENSION_CLOSED.key(request.id),
            kind=EXTENSION_CLOSED.kind,
            chat_id=requester.telegram_id,
            person_id=requester.id,
            commitment_id=commitment.id,
            text=closed_text(lang, commitment, request.new_due, why),
        )

    return build


def decision_notice(default_language: str) -> RequesterNotice:
    """The decision, to the person who asked, with the buttons of the commitment as it now stands."""

    def build(request: ExtensionRequest, commitment: Commitment, requester: Person, reason: str) -> Outgoing:
        lang = requester.language or default_language
        approved = request.status == ExtensionStatus.APPROVED
        return Outgoing(
            key=EXTENSION_DECISION.key(request.id),
            kind=EXTENSION_DECISION.kind,
            chat_id=requester.telegram_id,
            person_id=requester.id,
            commitment_id=commitment.id,
            text=decision_text(lang, approved, commitment, request.old_due, reason),
            reply_markup=commitment_keyboard(lang, commitment),
        )

    return build
