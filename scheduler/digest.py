"""The weekly digest: planned like a reminder, into the outbox (SPEC "Weekly digest", "Sending").

`plan_digests` runs with every planner tick; `build_digest_for` makes the same messages for `/digest`.
Keys and catch-up: docs/ARCHITECTURE.md, "Digests".
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import normalise_language
from core.settings import DigestSchedule, Settings
from scheduler import notices
from storage import digest_data, planning
from storage.db import Database
from storage.digest_data import CommitteeData, DigestItem, DigestWindow
from storage.groups import unit_groups
from storage.members import Actor
from storage.models import OutboxMessage, Unit
from storage.outbox import OutboxKind, Outgoing, enqueue
from storage.planning import PersonInfo
from storage.scopes import Scope
from texts.digest import chart_caption, committee_digest_text, nothing_due_text, unit_digest_text
from texts.render import split_message

log = logging.getLogger(__name__)

DIGEST_KIND = notices.DIGEST.kind
UNIT_DIGEST_KIND = notices.UNIT_DIGEST.kind
# After reminders and escalations (priority 0): 60,000 weekly lists must not hold up a due reminder.
DIGEST_PRIORITY = 5
STATE_UNITS = "digest_units"
# When this installation began (its first digest planning): slots before it are not caught up (SPEC).
STATE_SINCE = "digests_since"
LONG_AGO = "1970-01-01T00:00:00+00:00"
UNIT_BATCH = 2000
CHART_NAME = "digest.png"
CHART_WORKERS = max(1, min(4, os.cpu_count() or 1))  # processes drawing a slot's charts


def latest_slot(schedule: DigestSchedule, tz: ZoneInfo, now: datetime) -> datetime | None:
    """The latest DIGEST_CRON instant at or before `now` (aware, in `tz`); None when the schedule has no day."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(tz)
    for back in range(8):
        day = local.date() - timedelta(days=back)
        if day.weekday() in schedule.weekdays:
            slot = datetime.combine(day, schedule.at, tzinfo=tz)
            if slot <= local:
                return slot
    return None


@dataclass(frozen=True)
class DigestRecipient:
    chat_id: int
    person_id: int | None
    language: str


def _recipients(people: Iterable[PersonInfo], settings: Settings) -> dict[int, DigestRecipient]:
    found: dict[int, DigestRecipient] = {}
    for person in notices.committee_recipients(people):
        if person.telegram_id not in found:
            language = normalise_language(person.language, settings.default_language)
            found[person.telegram_id] = DigestRecipient(person.telegram_id, person.id, language)
    return found


async def committee_recipients(session: AsyncSession, settings: Settings) -> list[DigestRecipient]:
    """The national digest's: every reachable admin and whole-register secretary, then DIGEST_CHAT_ID (unless it
    is one of them), once each."""
    found = _recipients((await notices.scope_committee(session)).whole, settings)
    if settings.digest_chat_id is not None and settings.digest_chat_id not in found:
        found[settings.digest_chat_id] = DigestRecipient(settings.digest_chat_id, None, settings.default_language)
    return list(found.values())


async def scoped_recipients(session: AsyncSession, settings: Settings) -> list[tuple[Scope, list[DigestRecipient]]]:
    """Each scope of the scoped secretaries with its reachable secretaries (one digest per scope)."""
    committee = await notices.scope_committee(session)
    found = []
    for scope, people in committee.scopes():
        recipients = list(_recipients(people, settings).values())
        if recipients:
            found.append((scope, recipients))
    return found


def _part_key(base: str, number: int) -> str:
    return base if number == 1 else f"{base}:{number}"


def _texts(
    base: str, text: str, *, kind: OutboxKind, recipient: DigestRecipient, priority: int = DIGEST_PRIORITY
) -> list[Outgoing]:
    return [
        Outgoing(
            key=_part_key(base, number),
            kind=kind,
            chat_id=recipient.chat_id,
            person_id=recipient.person_id,
            text=part,
            priority=priority,
        )
        for number, part in enumerate(split_message(text), start=1)
    ]


Rendered = dict[str, tuple[str, str, bytes | None]]


def _chart_pool(workers: int = 1) -> ProcessPoolExecutor:
    # The charts are drawn in short-lived processes of their own: CPU work (~50 ms each, one per scope and
    # language), spread over the cores, out of the event loop and gone with its memory afterwards.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


async def render_committee(
    data: CommitteeData, languages: Iterable[str], pool: ProcessPoolExecutor | None = None
) -> Rendered:
    """Text, chart caption and chart PNG (None when no unit has anything to draw) of each language; the charts
    in `pool` (a slot's digests of every scope share one), or in a thread (one digest: `/digest`)."""
    from texts.chart import chart_rows, render_chart

    rows = chart_rows(data.active_units)
    rendered: Rendered = {}
    loop = asyncio.get_running_loop()
    for lang in sorted(set(languages)):
        chart = None
        if rows:
            draw = partial(render_chart, lang, rows, day=data.window.today, units_total=len(data.active_units))
            chart = await (loop.run_in_executor(pool, draw) if pool is not None else asyncio.to_thread(draw))
        rendered[lang] = (committee_digest_text(lang, data), chart_caption(lang, data), chart)
    return rendered


def committee_messages(
    rendered: Rendered,
    recipients: Sequence[DigestRecipient],
    key: Callable[[DigestRecipient], str],
    *,
    priority: int = DIGEST_PRIORITY,
) -> list[Outgoing]:
    """The rows of each recipient: the text parts, then the chart photo."""
    messages: list[Outgoing] = []
    for recipient in recipients:
        text, caption, chart = rendered[recipient.language]
        base = key(recipient)
        messages += _texts(base, text, kind=DIGEST_KIND, recipient=recipient, priority=priority)
        if chart is not None:
            messages.append(
                Outgoing(
                    key=f"{base}:chart",
                    kind=DIGEST_KIND,
                    chat_id=recipient.chat_id,
                    person_id=recipient.person_id,
                    text=caption,
                    media="photo",
                    file_name=CHART_NAME,
                    file_data=chart,
                    priority=priority,
                )
            )
    return messages


async def _existing(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        found.update(
            await session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(keys[start : start + 500])))
        )
    return found


async def _unit_names(session: AsyncSession, unit_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    names: dict[int, tuple[str, str]] = {}
    for start in range(0, len(unit_ids), 500):
        rows = await session.execute(
            select(Unit.id, Unit.code, Unit.name).where(Unit.id.in_(unit_ids[start : start + 500]))
        )
        names.update((uid, (code, name)) for uid, code, name in rows.tuples())
    return names


async def unit_messages(
    session: AsyncSession,
    window: DigestWindow,
    items: dict[int, list[DigestItem]],
    *,
    recipients: dict[int, list[DigestRecipient]],
    key: Callable[[DigestRecipient, int], str],
    priority: int = DIGEST_PRIORITY,
) -> list[Outgoing]:
    """The list of each unit in `items` (its open commitments due up to today + 14) to each of its `recipients`."""
    listed = sorted(unit_id for unit_id in items if recipients.get(unit_id))
    names = await _unit_names(session, listed)
    messages: list[Outgoing] = []
    for unit_id in listed:
        code, name = names[unit_id]
        texts: dict[str, str] = {}
        for recipient in recipients[unit_id]:
            if recipient.language not in texts:
                texts[recipient.language] = unit_digest_text(
                    recipient.language, code=code, name=name, items=items[unit_id], window=window
                )
            messages += _texts(
                key(recipient, unit_id),
                texts[recipient.language],
                kind=UNIT_DIGEST_KIND,
                recipient=recipient,
                priority=priority,
            )
    return messages


async def _plan_unit_digests(db: Database, *, stamp: str, window: DigestWindow, settings: Settings) -> int:
    """Every unit's list to its reachable focal points and its group: the items in one query, then batches of
    units."""
    async with db.session() as session:
        items = await digest_data.unit_items(session, window)
    unit_ids = sorted(items)
    default = settings.default_language
    queued = 0
    for start in range(0, len(unit_ids), UNIT_BATCH):
        part = unit_ids[start : start + UNIT_BATCH]
        async with db.session() as session:
            focal = await digest_data.reachable_focal(session, part)
            recipients = {
                unit_id: [
                    DigestRecipient(p.telegram_id, p.person_id, normalise_language(p.language, default)) for p in people
                ]
                for unit_id, people in focal.items()
            }
            # A unit's linked group gets the list too, keyed by its chat id where a person's id would be.
            for unit_id, group in (await unit_groups(session, part)).items():
                recipients.setdefault(unit_id, []).append(DigestRecipient(group.chat_id, None, default))
            messages = await unit_messages(
                session,
                window,
                {unit_id: items[unit_id] for unit_id in part},
                recipients=recipients,
                key=lambda r, unit_id: notices.UNIT_DIGEST.key(stamp, r.person_id or r.chat_id, unit_id),
            )
            queued += await enqueue(session, messages, now=window.now)
    return queued


async def plan_digests(db: Database, *, settings: Settings, now: datetime) -> int:
    """Queue the digests of the latest DIGEST_CRON slot at or before `now` that are not queued yet (see the module
    text); returns how many outbox rows were new. Cheap when everything is queued: two small reads."""
    tz = settings.tz
    slot = latest_slot(settings.digest_cron, tz, now)
    if slot is None:
        return 0
    stamp = slot.date().isoformat()
    window = DigestWindow(now=now, tz=tz)
    async with db.session() as session:
        since = await planning.get_state(session, STATE_SINCE)
        if since is None:
            # A database that already sent digests (before this marker existed) goes on; a new one starts now.
            started = LONG_AGO if await planning.get_state(session, STATE_UNITS) else now.astimezone(UTC).isoformat()
            since = await planning.first_state(session, STATE_SINCE, started)
    if slot < datetime.fromisoformat(since):
        return 0
    async with db.session() as session:
        recipients = await committee_recipients(session, settings)
        # Scopes: None, the whole register (its own recipients and DIGEST_CHAT_ID), then each scoped secretariat.
        digests: list[tuple[Scope | None, list[DigestRecipient]]] = [(None, recipients)]
        digests += await scoped_recipients(session, settings)
        keys = {r.chat_id: notices.DIGEST.key(stamp, r.chat_id) for _scope, group in digests for r in group}
        have = await _existing(session, list(keys.values()))
        units_planned = await planning.get_state(session, STATE_UNITS) == stamp
    queued = 0
    pending = [(scope, [r for r in group if keys[r.chat_id] not in have]) for scope, group in digests]
    pending = [(scope, missing) for scope, missing in pending if missing]
    if pending:
        async with db.session() as session:
            figures = await digest_data.committee_data_many(session, window, [scope for scope, _missing in pending])
        # A chart takes ~0.5 s of CPU: a slot's charts (one per scope and language) are drawn side by side.
        with _chart_pool(min(CHART_WORKERS, len(pending))) as pool:
            drawn = await asyncio.gather(
                *(
                    render_committee(data, (r.language for r in missing), pool)
                    for data, (_s, missing) in zip(figures, pending, strict=True)
                )
            )
        for rendered, (_scope, missing) in zip(drawn, pending, strict=True):
            messages = committee_messages(rendered, missing, lambda r: keys[r.chat_id])
            async with db.session() as session:
                queued += await enqueue(session, messages, now=now)
        log.info(
            "weekly digest of %s queued for %d committee recipient(s), %d scope(s)",
            stamp,
            sum(len(missing) for _scope, missing in pending),
            len(pending),
        )
    if not units_planned:
        if not any(group for _scope, group in digests):
            log.warning(
                "weekly digest of %s: no reachable secretary or admin and no DIGEST_CHAT_ID: the committee digest"
                " goes to nobody",
                stamp,
            )
        unit_rows = await _plan_unit_digests(db, stamp=stamp, window=window, settings=settings)
        async with db.session() as session:
            await planning.set_state(session, STATE_UNITS, stamp)
        queued += unit_rows
        log.info("weekly unit lists of %s: %d message(s) queued", stamp, unit_rows)
    return queued


async def build_digest_for(db: Database, *, actor: Actor, settings: Settings, now: datetime) -> list[Outgoing]:
    """`/digest`: the digest now, for the one who asks, as rendered messages (text parts, then the chart).

    Secretaries and admins get the committee digest; focal points and heads the lists of their units (or a
    short "nothing overdue or due in the next 14 days"). Keys `digestnow:{UTC instant}:{chat id}…` are unique
    per request, so the messages may be queued (storage.outbox.enqueue) or sent directly; priority 0.
    """
    window = DigestWindow(now=now, tz=settings.tz)
    lang = normalise_language(actor.language, settings.default_language)
    recipient = DigestRecipient(actor.telegram_id, actor.person_id, lang)
    base = f"digestnow:{now.astimezone(UTC):%Y%m%dT%H%M%S%f}:{actor.telegram_id}"
    if actor.is_committee:
        async with db.session() as session:
            data = await digest_data.committee_data(session, window, None if actor.whole_register else actor.scope)
        rendered = await render_committee(data, [lang])
        return committee_messages(rendered, [recipient], lambda _r: base, priority=0)
    units = sorted(actor.unit_ids)
    async with db.session() as session:
        items = await digest_data.unit_items(session, window, units) if units else {}
        messages = await unit_messages(
            session,
            window,
            items,
            recipients={unit_id: [recipient] for unit_id in units},
            key=lambda _r, unit_id: f"{base}:{unit_id}",
            priority=0,
        )
    if messages:
        return messages
    return _texts(base, nothing_due_text(lang, window), kind=UNIT_DIGEST_KIND, recipient=recipient, priority=0)


__all__ = [
    "DIGEST_KIND",
    "UNIT_DIGEST_KIND",
    "DigestRecipient",
    "build_digest_for",
    "committee_recipients",
    "latest_slot",
    "plan_digests",
    "scoped_recipients",
]
