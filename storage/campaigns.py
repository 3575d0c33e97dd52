"""Campaigns: the same commitment for many units at once (`/add @…`), and how each unit stands in it (/campaign).

A campaign is previewed first (a draft that holds the units it named, no commitment), then "Confirm" creates one
commitment per unit in bulk (one executemany of the rows, one of their events), each with its own number and
the campaign's `C<n>`, in the caller's transaction.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.batches import chunks
from storage.models import Campaign, CampaignStatus, Commitment, Event, Evidence, Kind, Status, Unit
from storage.register import code_key

CHUNK = 1000


@dataclass(frozen=True)
class Target:
    """One item of `@VPB,TTB/*`: a unit code, and whether every unit below it is meant too."""

    code: str
    subtree: bool = False


@dataclass(frozen=True)
class UnitRef:
    id: int
    code: str
    name: str


@dataclass
class Resolution:
    """The units a selector names (each once, in the order named), and the codes that name no unit."""

    units: list[UnitRef] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


async def resolve_targets(session: AsyncSession, targets: Sequence[Target] | None) -> Resolution:
    """The units of `targets` (None: every unit of the register, by code). A `subtree` target is the unit and
    every unit below it (by parent), the unit first, then each level's units by code."""
    found = Resolution()
    if targets is None:
        every = await session.execute(select(Unit.id, Unit.code, Unit.name).order_by(Unit.code_key))
        found.units = [UnitRef(*row) for row in every.tuples()]
        return found
    keys = list(dict.fromkeys(code_key(t.code) for t in targets))
    named: dict[str, UnitRef] = {}
    for chunk in chunks(keys, CHUNK):
        rows = await session.execute(
            select(Unit.code_key, Unit.id, Unit.code, Unit.name).where(Unit.code_key.in_(chunk))
        )
        named.update({key: UnitRef(i, code, name) for key, i, code, name in rows.tuples()})
    found.unknown = list(dict.fromkeys(t.code for t in targets if code_key(t.code) not in named))
    if found.unknown:
        return found
    roots = [named[code_key(t.code)].id for t in targets if t.subtree]
    children = await _descendants(session, roots) if roots else {}
    seen: set[int] = set()
    for target in targets:
        top = named[code_key(target.code)]
        level = [top]
        while level:
            below: list[UnitRef] = []
            for unit in level:
                if unit.id not in seen:
                    seen.add(unit.id)
                    found.units.append(unit)
                if target.subtree:
                    below.extend(children.get(unit.id, ()))
            level = [u for u in below if u.id not in seen]
    return found


async def _descendants(session: AsyncSession, roots: Sequence[int]) -> dict[int, list[UnitRef]]:
    """Every unit below `roots`, by parent id, each parent's children by code (one recursive query; UNION, not
    UNION ALL, so a loop in the parents ends)."""
    tree = select(Unit.id).where(Unit.id.in_(list(roots))).cte("tree", recursive=True)
    tree = tree.union(select(Unit.id).join(tree, Unit.parent_id == tree.c.id))
    rows = await session.execute(
        select(Unit.parent_id, Unit.id, Unit.code, Unit.name)
        .where(Unit.id.in_(select(tree.c.id)), Unit.parent_id.is_not(None))
        .order_by(Unit.code_key)
    )
    children: dict[int, list[UnitRef]] = defaultdict(list)
    for parent_id, unit_id, code, name in rows.tuples():
        if parent_id is not None:
            children[parent_id].append(UnitRef(unit_id, code, name))
    return children


async def create_draft(
    session: AsyncSession,
    *,
    title: str,
    kind: Kind,
    due: date,
    selector: str,
    unit_ids: Sequence[int],
    created_by_id: int | None,
    chat_id: int,
    now: datetime,
) -> Campaign:
    """The preview's campaign: nothing else is written until `confirm`."""
    draft = Campaign(
        status=CampaignStatus.DRAFT,
        title=title,
        kind=kind,
        due_date=due,
        selector=selector,
        unit_ids=list(unit_ids),
        created_by_id=created_by_id,
        chat_id=chat_id,
        created_at=now,
    )
    session.add(draft)
    await session.flush()
    return draft


async def get_draft(session: AsyncSession, *, campaign_id: int, created_by_id: int | None) -> Campaign | None:
    """The campaign previewed by this person (another's, or none: None, the same answer to a forged button)."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None or created_by_id is None or campaign.created_by_id != created_by_id:
        return None
    return campaign


class Confirmed(enum.Enum):
    CREATED = "created"
    ALREADY = "already"  # confirmed before (a second press, or two at once): nothing more is created
    CANCELLED = "cancelled"


@dataclass
class Confirmation:
    outcome: Confirmed
    campaign: Campaign
    commitment_ids: list[int] = field(default_factory=list)


async def confirm(session: AsyncSession, *, campaign: Campaign, actor_id: int | None, now: datetime) -> Confirmation:
    """Create the campaign's commitments once: the draft → created change is conditional (a second press, even at
    the same moment, finds it made) and gives the campaign its number, the next after the highest one.

    One commitment per unit still in the register, with its "created" event, in bulk; planned by the planner at
    its next tick (next_slot_at NULL). The caller tells the units (scheduler.announce) in this transaction.
    """
    numbered = select(func.coalesce(func.max(Campaign.number), 0) + 1).scalar_subquery()
    claimed = await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.DRAFT)
        .values(status=CampaignStatus.CREATED, number=numbered, confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(campaign)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        outcome = Confirmed.CANCELLED if campaign.status == CampaignStatus.CANCELLED else Confirmed.ALREADY
        return Confirmation(outcome, campaign)
    unit_ids: list[int] = []
    for ids in chunks(sorted(set(campaign.unit_ids)), CHUNK):
        unit_ids.extend(await session.scalars(select(Unit.id).where(Unit.id.in_(ids))))
    table = cast(Table, Commitment.__table__)
    rows = [_commitment_row(campaign, unit_id, now) for unit_id in unit_ids]
    created: list[tuple[int, int]] = []
    for part in chunks(rows, CHUNK):
        result = await session.execute(insert(table).returning(table.c.id, table.c.unit_id), part)
        created.extend((int(i), int(u)) for i, u in result.tuples())
    events = [
        # The same row storage.status.add_commitment writes for a lone /add.
        {
            "at": now,
            "action": "created",
            "actor_id": actor_id,
            "actor_label": "",
            "commitment_id": commitment_id,
            "unit_id": unit_id,
            "field": "due_date",
            "old_value": None,
            "new_value": campaign.due_date.isoformat(),
            "note": campaign.title,
        }
        for commitment_id, unit_id in created
    ]
    for batch in chunks(events, CHUNK * 5):  # the table, not the ORM entity: Core's executemany is ~3x faster
        await session.execute(insert(cast(Table, Event.__table__)), batch)
    return Confirmation(Confirmed.CREATED, campaign, sorted(i for i, _ in created))


def _commitment_row(campaign: Campaign, unit_id: int, now: datetime) -> dict[str, Any]:
    return {
        "ref": None,
        "unit_id": unit_id,
        "title": campaign.title,
        "kind": campaign.kind,
        "due_date": campaign.due_date,
        "legal_basis": "",
        "source": "",
        "recurrence": "",
        "previous_id": None,
        "status": Status.OPEN,
        "progress": 0,
        "done_at": None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "campaign_id": campaign.id,
        # NULL is "plan me" (storage.planning): a new row is replanned by being inserted, in this transaction.
        "next_slot_at": None,
    }


async def cancel(session: AsyncSession, *, campaign: Campaign) -> bool:
    """Drop a preview: True if it was still a draft (nothing was ever created for it)."""
    result = await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.DRAFT)
        .values(status=CampaignStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(campaign)
    return result.rowcount == 1  # type: ignore[attr-defined]


# --- How each unit stands ------------------------------------------------------------------------------------


class Standing(enum.StrEnum):
    """Where one unit's commitment of a campaign is, in the order /campaign lists them (what needs a look first)."""

    OVERDUE = "overdue"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE_LATE = "done_late"
    DONE_ON_TIME = "done_on_time"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class UnitLine:
    commitment_id: int
    unit_id: int
    unit_code: str
    unit_name: str
    standing: Standing
    progress: int
    due: date
    done_on: date | None
    evidence: tuple[str, ...]  # the evidence files' names, oldest first


@dataclass
class CampaignReport:
    campaign: Campaign
    lines: list[UnitLine]

    def count(self, standing: Standing) -> int:
        return sum(1 for line in self.lines if line.standing == standing)

    @property
    def evidence_files(self) -> int:
        return sum(len(line.evidence) for line in self.lines)


def standing(status: Status, due: date, done_on: date | None, today: date) -> Standing:
    """On time: done by the end of the due date, local time (as the digest's on-time rate counts it)."""
    if status == Status.DONE:
        return Standing.DONE_LATE if done_on is not None and done_on > due else Standing.DONE_ON_TIME
    if status == Status.CANCELLED:
        return Standing.CANCELLED
    if due < today:
        return Standing.OVERDUE
    return Standing.IN_PROGRESS if status == Status.IN_PROGRESS else Standing.OPEN


async def find_campaign(session: AsyncSession, *, number: int) -> Campaign | None:
    return await session.scalar(select(Campaign).where(Campaign.number == number))


async def get_campaign(session: AsyncSession, *, campaign_id: int) -> Campaign | None:
    campaign = await session.get(Campaign, campaign_id)
    return campaign if campaign is not None and campaign.status == CampaignStatus.CREATED else None


async def campaign_report(session: AsyncSession, *, campaign: Campaign, today: date, tz: ZoneInfo) -> CampaignReport:
    """Every unit's commitment of the campaign with its standing and evidence, most urgent first, then by code."""
    rows = await session.execute(
        select(
            Commitment.id,
            Commitment.unit_id,
            Unit.code,
            Unit.name,
            Commitment.status,
            Commitment.progress,
            Commitment.due_date,
            Commitment.done_at,
        )
        .join(Unit, Unit.id == Commitment.unit_id)
        .where(Commitment.campaign_id == campaign.id)
        .order_by(Unit.code_key, Commitment.id)
    )
    found = list(rows.tuples())
    files: dict[int, list[str]] = defaultdict(list)
    evidence = await session.execute(
        select(Evidence.commitment_id, Evidence.file_name, Evidence.media)
        .join(Commitment, Commitment.id == Evidence.commitment_id)
        .where(Commitment.campaign_id == campaign.id)
        .order_by(Evidence.at, Evidence.id)
    )
    for commitment_id, file_name, media in evidence.tuples():
        files[commitment_id].append(file_name or media)
    order = list(Standing)
    lines = []
    for commitment_id, unit_id, code, name, status, progress, due, done_at in found:
        done_on = done_at.astimezone(tz).date() if done_at is not None else None
        lines.append(
            UnitLine(
                commitment_id=commitment_id,
                unit_id=unit_id,
                unit_code=code,
                unit_name=name,
                standing=standing(Status(status), due, done_on, today),
                progress=progress,
                due=due,
                done_on=done_on,
                evidence=tuple(files.get(commitment_id, ())),
            )
        )
    lines.sort(key=lambda line: order.index(line.standing))  # stable: by code within each standing
    return CampaignReport(campaign, lines)
