"""One-time invite codes: a deep link that links whoever opens it to a unit (or to the committee)."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import events
from storage.members import add_membership
from storage.models import Invite, Role, Unit
from storage.planning import replan


def new_code() -> str:
    # 24 random bytes → 32 characters of A-Z a-z 0-9 _ -: 192 bits, within Telegram's 64-character limit.
    return secrets.token_urlsafe(24)


async def create_invite(
    session: AsyncSession,
    *,
    role: Role,
    unit_id: int | None,
    created_by_id: int | None,
    now: datetime,
    ttl_days: int,
) -> Invite:
    invite = Invite(
        code=new_code(),
        role=role,
        unit_id=unit_id,
        created_by_id=created_by_id,
        created_at=now,
        expires_at=now + timedelta(days=ttl_days),
    )
    session.add(invite)
    await session.flush()
    return invite


class Redeem(enum.Enum):
    LINKED = "linked"
    ALREADY = "already"  # the person already had that role; the invite is still used up
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Redemption:
    outcome: Redeem
    role: Role | None = None
    unit: Unit | None = None


async def redeem_invite(session: AsyncSession, *, code: str, person_id: int, now: datetime) -> Redemption:
    invite = await session.scalar(select(Invite).where(Invite.code == code))
    if invite is None:
        return Redemption(Redeem.UNKNOWN)
    unit = await session.get(Unit, invite.unit_id) if invite.unit_id is not None else None
    if invite.used_at is not None:
        return Redemption(Redeem.USED, invite.role, unit)
    if invite.expires_at <= now:
        return Redemption(Redeem.EXPIRED, invite.role, unit)
    # Claim the code with a conditional update so two people opening it at once cannot both use it.
    claimed = await session.execute(
        update(Invite).where(Invite.id == invite.id, Invite.used_at.is_(None)).values(used_at=now, used_by_id=person_id)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return Redemption(Redeem.USED, invite.role, unit)
    added = await add_membership(session, person_id=person_id, role=invite.role, unit_id=invite.unit_id, now=now)
    await replan(session, unit_ids=[invite.unit_id])  # the new person's catch-up reminders, at the next tick
    events.record(
        session,
        at=now,
        action="linked",
        actor_id=person_id,
        unit_id=invite.unit_id,
        field="role",
        new_value=invite.role.value,
    )
    return Redemption(Redeem.LINKED if added else Redeem.ALREADY, invite.role, unit)
