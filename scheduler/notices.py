"""Every kind of notification, declared once: its outbox kind, its key, who gets it, how it groups, its text.

Each outbox kind (storage.outbox.OutboxKind) gets its meaning here; docs/ARCHITECTURE.md, "One notification model".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.policy import delivery_key
from storage import planning, scopes
from storage.outbox import OutboxKind
from storage.planning import PersonInfo, UnitPeople
from storage.scopes import Secretaries
from texts import digest as digest_texts
from texts import notices as notice_texts
from texts import render

__all__ = [
    "BROADCAST",
    "BROADCAST_REPORT",
    "DIGEST",
    "DUE_CHANGED",
    "ESCALATION",
    "EXTENSION_CLOSED",
    "EXTENSION_DECISION",
    "EXTENSION_REQUEST",
    "GROUP_UNLINKED",
    "NEW_COMMITMENT",
    "NOTICES",
    "NO_FOCAL",
    "OVERDUE",
    "REMINDER",
    "SNOOZE",
    "UNIT_DIGEST",
    "UNREACHABLE",
    "Grouping",
    "NoticeKind",
    "Recipients",
    "committee_recipients",
    "content_id",
    "focal_recipients",
    "head_recipients",
    "notice",
    "reachable_committee",
    "scope_committee",
    "unit_committees",
]


class Grouping(StrEnum):
    PER_COMMITMENT = "per commitment"  # one message per commitment (and occurrence, slot) per recipient
    PER_TICK = "per recipient per tick"  # gathered: one message per recipient per planning tick (heads: per unit)
    PER_EVENT = "per event"  # one message per event (a digest slot, a broadcast, a request, a decision)


class Recipients(StrEnum):
    FOCAL = "reachable focal points of the unit"
    COMMITTEE = "reachable secretaries and admins whose scope holds the unit"
    HEADS_AND_COMMITTEE = (
        "reachable heads of the unit (one message per unit) and reachable secretaries and admins whose scope holds it"
    )
    COMMITTEE_AND_CHAT = "reachable secretaries and admins (each for their own scope), and DIGEST_CHAT_ID"
    FOCAL_OF_EACH_UNIT = "reachable focal points of each unit (one message per unit)"
    CHOSEN = "the people the secretary chose"
    AUTHOR = "the one who asked (the secretary who sent the broadcast, the focal point who asked to extend)"
    SELF = "the person who pressed Remind me later (or sent /snooze)"


@dataclass(frozen=True)
class NoticeKind:
    """One kind of notification. `key` builds the outbox key from the parts named in its docstring."""

    kind: OutboxKind  # the outbox `kind`
    recipients: Recipients
    grouping: Grouping
    key: Callable[..., str]
    render: Callable[..., Any] | None  # the function of texts/ that writes it in one language (None: see there)


def content_id(parts: Iterable[object]) -> str:
    """A short stable id of what a grouped message lists: the same items give the same key, new items a new one."""
    return hashlib.sha256(repr(sorted(map(str, parts))).encode()).hexdigest()[:16]


def _escalation_key(content: str, person_id: int, unit_id: int | None = None) -> str:
    """`escalation:{content id}:{person}` (committee) or `escalation:{unit}:{content id}:{person}` (heads)."""
    return f"escalation:{content}:{person_id}" if unit_id is None else f"escalation:{unit_id}:{content}:{person_id}"


REMINDER = NoticeKind(
    OutboxKind.REMINDER, Recipients.FOCAL, Grouping.PER_COMMITMENT, delivery_key, notice_texts.reminder_text
)
# An overdue reminder is a reminder (same key, same kind in the outbox: the sender treats them alike); it is
# declared for the record: its slots are the policy's negative offsets.
OVERDUE = NoticeKind(
    OutboxKind.REMINDER, Recipients.FOCAL, Grouping.PER_COMMITMENT, delivery_key, notice_texts.reminder_text
)
ESCALATION = NoticeKind(
    OutboxKind.ESCALATION,
    Recipients.HEADS_AND_COMMITTEE,
    Grouping.PER_TICK,
    _escalation_key,
    notice_texts.escalation_group_text,  # one item: notice_texts.escalation_text, with the task's buttons
)
NO_FOCAL = NoticeKind(
    OutboxKind.NO_FOCAL,
    Recipients.COMMITTEE,
    Grouping.PER_TICK,
    lambda first_unit, number, person_id: f"nofocal:{first_unit}:{number}:{person_id}",
    notice_texts.no_focal_text,
)
UNREACHABLE = NoticeKind(
    OutboxKind.UNREACHABLE,
    Recipients.COMMITTEE,
    Grouping.PER_TICK,
    lambda content, person_id: f"unreachable:{content}:{person_id}",
    notice_texts.unreachable_text,
)
DIGEST = NoticeKind(
    OutboxKind.DIGEST,
    Recipients.COMMITTEE_AND_CHAT,
    Grouping.PER_EVENT,
    lambda stamp, chat_id: f"digest:{stamp}:{chat_id}",
    digest_texts.committee_digest_text,
)
UNIT_DIGEST = NoticeKind(
    OutboxKind.UNIT_DIGEST,
    Recipients.FOCAL_OF_EACH_UNIT,
    Grouping.PER_EVENT,
    lambda stamp, person_id, unit_id: f"unitdigest:{stamp}:{person_id}:{unit_id}",
    digest_texts.unit_digest_text,
)
BROADCAST = NoticeKind(
    OutboxKind.BROADCAST,
    Recipients.CHOSEN,
    Grouping.PER_EVENT,
    lambda batch, person_id, part: f"{batch}:{person_id}:{part}",  # batch: `broadcast:{id}:{n}` (storage.broadcasts)
    render.broadcast_parts,
)
BROADCAST_REPORT = NoticeKind(
    OutboxKind.BROADCAST_REPORT,
    Recipients.AUTHOR,
    Grouping.PER_EVENT,
    lambda broadcast_id, part: f"broadcast-report:{broadcast_id}:{part}",
    render.broadcast_report,
)
EXTENSION_REQUEST = NoticeKind(
    OutboxKind.EXTENSION_REQUEST,
    Recipients.COMMITTEE,
    Grouping.PER_EVENT,
    lambda request_id, person_id: f"extension:{request_id}:{person_id}",
    None,  # texts.extensions.request_text (written by handlers/status.py, next to the request)
)
EXTENSION_DECISION = NoticeKind(
    OutboxKind.EXTENSION_DECISION,
    Recipients.AUTHOR,
    Grouping.PER_EVENT,
    lambda request_id: f"extension-decision:{request_id}",
    None,  # texts.extensions.decision_text (written by handlers/notify.py, next to the decision)
)
# "Remind me later": a reminder (the drain treats it as one: dropped when the commitment is closed or its
# deadline moved) for the one who asked, at a later day; its key keeps the occurrence in third place.
SNOOZE = NoticeKind(
    OutboxKind.REMINDER,
    Recipients.SELF,
    Grouping.PER_COMMITMENT,
    lambda commitment_id, occurrence, day, person_id: f"reminder:{commitment_id}:{occurrence}:snooze-{day}:{person_id}",
    notice_texts.reminder_text,
)
# A moved deadline (/edit), to the unit's reachable focal points.
DUE_CHANGED = NoticeKind(
    OutboxKind.DUE_CHANGED,
    Recipients.FOCAL,
    Grouping.PER_EVENT,
    lambda commitment_id, version, person_id: f"due-changed:{commitment_id}:{version}:{person_id}",
    None,  # texts.corrections.due_changed (written by handlers/corrections.py, next to the edit)
)
# A pending request made moot (done, cancelled, deadline edited), to the one who asked.
EXTENSION_CLOSED = NoticeKind(
    OutboxKind.EXTENSION_DECISION,
    Recipients.AUTHOR,
    Grouping.PER_EVENT,
    lambda request_id: f"extension-closed:{request_id}",
    None,  # texts.extensions.closed_text
)
# "A new commitment was registered for your unit": one message per unit per /add or import.
NEW_COMMITMENT = NoticeKind(
    OutboxKind.NEW_COMMITMENT,
    Recipients.FOCAL,
    Grouping.PER_EVENT,  # one message per unit per /add or import (scheduler/announce.py)
    lambda content, person_id: f"new:{content}:{person_id}",
    notice_texts.new_commitments_text,
)
# A unit's group chat was unlinked (/unlinkgroup, or the bot removed from it), to the unit's focal points. The
# reminders, new-commitment notices and weekly lists that also go to a linked group are the kinds above, keyed
# with the group's chat id (negative) where a person's id would be (storage.groups).
GROUP_UNLINKED = NoticeKind(
    OutboxKind.GROUP_UNLINKED,
    Recipients.FOCAL,
    Grouping.PER_EVENT,
    lambda event_id, person_id: f"group-unlinked:{event_id}:{person_id}",
    None,  # texts.groups.group_unlinked_text (written by handlers/groups.py, next to the unlink)
)

NOTICES: dict[str, NoticeKind] = {
    name: kind
    for name, kind in (
        ("reminder", REMINDER),
        ("overdue", OVERDUE),
        ("escalation", ESCALATION),
        ("no_focal", NO_FOCAL),
        ("unreachable", UNREACHABLE),
        ("digest", DIGEST),
        ("unit_digest", UNIT_DIGEST),
        ("broadcast", BROADCAST),
        ("broadcast_report", BROADCAST_REPORT),
        ("extension_request", EXTENSION_REQUEST),
        ("extension_decision", EXTENSION_DECISION),
        ("new_commitment", NEW_COMMITMENT),
        ("snooze", SNOOZE),
        ("due_changed", DUE_CHANGED),
        ("extension_closed", EXTENSION_CLOSED),
        ("group_unlinked", GROUP_UNLINKED),
    )
}


def notice(name: str) -> NoticeKind:
    """The declaration of one kind, by its name in `NOTICES`."""
    return NOTICES[name]


# --- Recipients -------------------------------------------------------------------------------------------


class _Reachable(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def reachable(self) -> bool: ...


P = TypeVar("P", bound=_Reachable)


def committee_recipients(people: Iterable[P], *, exclude: Container[int] = ()) -> list[P]:
    """THE rule for the committee: its secretaries and admins who are reachable, once each, in the given order.

    `people` are the committee's members (storage.planning.committee_people, storage.members.committee);
    `exclude` person ids (e.g. the person a notice is about).
    """
    found: dict[int, P] = {}
    for person in people:
        if person.reachable and person.id not in exclude and person.id not in found:
            found[person.id] = person
    return list(found.values())


async def reachable_committee(session: AsyncSession, *, exclude: Container[int] = ()) -> list[PersonInfo]:
    """The secretaries and admins who are reachable, read from the database, by name."""
    return committee_recipients(await planning.committee_people(session), exclude=exclude)


async def scope_committee(session: AsyncSession) -> Secretaries:
    """The committee with its scopes (read once per planning tick): who has the whole register, who a subtree."""
    return await scopes.secretaries(session)


async def unit_committees(
    session: AsyncSession, unit_ids: Iterable[int], committee: Secretaries, *, exclude: Container[int] = ()
) -> dict[int, list[PersonInfo]]:
    """THE rule for the committee of a unit: its reachable secretaries and admins whose scope holds the unit (the
    whole register's and those of a subtree above it), for escalations, "no focal point" and unreachable people.
    A ministry's secretary hears only of their own subtree."""
    found = await scopes.secretaries_of_units(session, unit_ids, committee)
    return {unit_id: committee_recipients(people, exclude=exclude) for unit_id, people in found.items()}


T = TypeVar("T")


def per_recipient(
    items: Iterable[T], unit_of: Callable[[T], int], committees: dict[int, list[PersonInfo]]
) -> list[tuple[list[T], list[PersonInfo]]]:
    """Grouped notices under scopes: the items each recipient hears of (those of the units in their scope), and
    the recipients who hear of exactly the same items together, so one text serves them (in given order)."""
    listed: dict[int, list[T]] = {}
    people: dict[int, PersonInfo] = {}
    for item in items:
        for person in committees.get(unit_of(item), ()):
            people.setdefault(person.id, person)
            listed.setdefault(person.id, []).append(item)
    groups: dict[tuple[int, ...], tuple[list[T], list[PersonInfo]]] = {}
    for pid, person in people.items():
        mine = listed[pid]
        group = groups.setdefault(tuple(id(i) for i in mine), (mine, []))
        group[1].append(person)
    return list(groups.values())


def focal_recipients(people: UnitPeople) -> list[PersonInfo]:
    """THE rule for a unit: its focal points who are reachable."""
    return [p for p in people.focal if p.reachable]


def head_recipients(people: UnitPeople, *, exclude: Container[int] = ()) -> list[PersonInfo]:
    """A unit's heads who are reachable (those in `exclude`, e.g. secretaries who get the committee's list, not)."""
    return committee_recipients(people.heads, exclude=exclude)
