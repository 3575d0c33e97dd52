"""The register's tables: units, people, memberships, invites, commitments and the event log.

Datetimes are stored in UTC and come back timezone-aware; a deadline is a local date.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.i18n import N_

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    ADMIN = "admin"
    SECRETARY = "secretary"
    HEAD = "head"
    FOCAL = "focal"


UNIT_ROLES = (Role.FOCAL, Role.HEAD)


class Kind(enum.StrEnum):
    LEGAL = "legal"
    INTERNAL = "internal"


class Status(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


OPEN_STATUSES = (Status.OPEN, Status.IN_PROGRESS)
# A status in words (msgids), the one list: chat texts (texts.render.status_label) and the export's sheets.
STATUS_LABELS: dict[Status, str] = {
    Status.OPEN: N_("not started"),
    Status.IN_PROGRESS: N_("in progress"),
    Status.DONE: N_("done"),
    Status.CANCELLED: N_("cancelled"),
}


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings so migrations stay simple on both databases.
    return Enum(cls, name=name, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


def _root_path(context: Any) -> str:
    return f"/{context.get_current_parameters()['code_key']}/"


# Binary order on both databases: a scope is a range of paths (storage.scopes), which a locale's collation
# (punctuation ignored) would break on PostgreSQL.
PATH_TYPE = Text().with_variant(Text(collation="C"), "postgresql")


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    # Codes are unique regardless of case: the key is the upper-cased code.
    code_key: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    parent: Mapped[Unit | None] = relationship(remote_side=[id], lazy="raise")
    # Where the unit sits in the tree: the code keys from the root down, "/MOST/BNV/VPB/" (storage.scopes). A
    # new unit starts as a root; storage.scopes.refresh_paths follows the parents after an import.
    path: Mapped[str] = mapped_column(PATH_TYPE, default=_root_path, index=True)
    # Planner (scheduler/planner.py): when the secretaries were told the unit has no reachable focal point
    # (NULL: not told, or told and a focal point has been seen since), and how many times so far.
    no_focal_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    no_focal_notices: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    # False after Telegram answered 403 (blocked, or never started the bot); True again when they write.
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    has_started: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The "unreachable" event (events.id) the secretaries have not been told about yet: set when the person
    # becomes unreachable (storage.members.mark_unreachable), cleared by the planning tick that tells them.
    unreachable_notice_event: Mapped[int | None] = mapped_column(Integer, index=True)


class Membership(Base):
    """A role: focal/head of a unit, or secretary/admin of the committee (unit_id NULL)."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("person_id", "role", "unit_id"),
        Index("ix_memberships_unit_id_role", "unit_id", "role"),
        Index("ix_memberships_role_unit_id", "role", "unit_id"),  # the committee, read at every tick
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    # "config" for ADMIN_IDS / SECRETARY_IDS (kept in step with the settings), "invite" otherwise.
    origin: Mapped[str] = mapped_column(String(16), default="invite")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    person: Mapped[Person] = relationship(lazy="raise")
    unit: Mapped[Unit | None] = relationship(lazy="raise")


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))


class Commitment(Base):
    __tablename__ = "commitments"
    __table_args__ = (
        Index("ix_commitments_status_due_date", "status", "due_date"),
        Index("ix_commitments_unit_id_status", "unit_id", "status"),
        Index("ix_commitments_unit_id_title_due_date", "unit_id", "title", "due_date"),
        # The planner's claims, in the order they read (next slot, then id): no sort, whatever the statistics.
        Index("ix_commitments_next_slot_at_id", "next_slot_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The committee's own key for upserts on import; NULL when the file had none.
    ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[Kind] = mapped_column(_enum(Kind, "kind"))
    due_date: Mapped[date] = mapped_column(Date)
    legal_basis: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    recurrence: Mapped[str] = mapped_column(String(200), default="")
    # The occurrence this row is, for recurring commitments: the row it follows.
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("commitments.id", ondelete="SET NULL"))
    status: Mapped[Status] = mapped_column(_enum(Status, "status"), default=Status.OPEN)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Bumped on every change: a button made for an older version is stale.
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship(lazy="raise")
    # Planner (scheduler/planner.py): the instant the planner must look at this commitment again — its next
    # reminder slot. NULL: needs planning (new, or changed: see storage.planning.replan); closed ones get
    # storage.planning.NEVER.
    next_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The due date whose escalation was queued: an escalation goes out once per occurrence.
    escalated_for: Mapped[date | None] = mapped_column(Date)
    # The campaign (one request to many units) this commitment is the unit's part of; NULL for a lone one.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Event(Base):
    """Append-only log of every change: who, when, what changed (from → to), and a note."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_commitment_id_at", "commitment_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # Who, in words, when there is no person (the importer, the planner).
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    commitment_id: Mapped[int | None] = mapped_column(ForeignKey("commitments.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    field: Mapped[str] = mapped_column(String(32), default="")
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[Person | None] = relationship(lazy="raise")


class Evidence(Base):
    """A file a focal point sent as proof: kept by its Telegram file id, so the secretary can get it back."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    media: Mapped[str] = mapped_column(String(16))  # document or photo
    file_id: Mapped[str] = mapped_column(String(256))
    file_unique_id: Mapped[str] = mapped_column(String(64), default="")
    file_name: Mapped[str] = mapped_column(String(256), default="")
    mime_type: Mapped[str] = mapped_column(String(128), default="")
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")

    person: Mapped[Person | None] = relationship(lazy="raise")


class ExtensionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CLOSED = "closed"  # moot: the commitment was done, cancelled or its deadline edited while it waited


class ExtensionRequest(Base):
    __tablename__ = "extension_requests"
    __table_args__ = (Index("ix_extension_requests_status_commitment_id", "status", "commitment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    old_due: Mapped[date] = mapped_column(Date)
    new_due: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ExtensionStatus] = mapped_column(
        _enum(ExtensionStatus, "extension_status"), default=ExtensionStatus.PENDING
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    requested_by: Mapped[Person | None] = relationship(foreign_keys=[requested_by_id], lazy="raise")


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by the sender; found so after a crash, it is sent again (at most this one)
    SENT = "sent"
    FAILED = "failed"  # gave up after retries, or Telegram refused it for good; the error is kept
    BLOCKED = "blocked"  # the person blocked the bot (403): not retried


class OutboxMessage(Base):
    """One notification to one chat, written before Telegram sees it; `key` makes every delivery unique."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_not_before", "status", "not_before"),
        Index("ix_outbox_batch", "batch"),
        Index("ix_outbox_chat_id_message_id", "chat_id", "telegram_message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # e.g. "reminder:<commitment>:<occurrence>:<offset>:<person>", "digest:<week>:<chat>", "broadcast:<id>:<person>"
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    commitment_id: Mapped[int | None] = mapped_column(ForeignKey("commitments.id", ondelete="SET NULL"), index=True)
    # A group of deliveries reported on together (a broadcast).
    batch: Mapped[str | None] = mapped_column(String(64))
    # Already rendered: the sender only sends. Telegram HTML; reply_markup as Bot API JSON.
    text: Mapped[str] = mapped_column(Text, default="")
    reply_markup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A document or photo to send instead of a text message (text is then the caption).
    media: Mapped[str | None] = mapped_column(String(16))
    file_name: Mapped[str | None] = mapped_column(String(256))
    file_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    file_id: Mapped[str | None] = mapped_column(String(256))
    priority: Mapped[int] = mapped_column(Integer, default=0)  # lower goes first
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str] = mapped_column(Text, default="")


class PlannerState(Base):
    """Small named values the planner keeps (e.g. the fingerprint of the reminder settings it planned with)."""

    __tablename__ = "planner_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"  # previewed, waiting for "Send"
    SENDING = "sending"  # queued in the outbox
    REPORTED = "reported"  # every delivery ended and the secretary got the report
    CANCELLED = "cancelled"


class Broadcast(Base):
    """A message from the secretary to every linked person of all or some units; sent only after "Send"."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    chat_id: Mapped[int] = mapped_column(BigInteger)  # where the preview and the report go
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text, default="")
    unit_codes: Mapped[list[str] | None] = mapped_column(JSON)  # None: every unit
    media: Mapped[str | None] = mapped_column(String(16))
    file_id: Mapped[str | None] = mapped_column(String(256))
    file_name: Mapped[str | None] = mapped_column(String(256))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[BroadcastStatus] = mapped_column(
        _enum(BroadcastStatus, "broadcast_status"), default=BroadcastStatus.DRAFT, index=True
    )
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"  # previewed, waiting for "Confirm": no commitment exists yet
    CREATED = "created"  # confirmed: one commitment per unit, each with campaign_id
    CANCELLED = "cancelled"


class Campaign(Base):
    """The same commitment for many units (`/add @…`): a preview (draft) first, then one commitment per unit.

    `number` is the `C<n>` people see, given at "Confirm" so that cancelled previews leave no gaps.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int | None] = mapped_column(Integer, unique=True)
    status: Mapped[CampaignStatus] = mapped_column(
        _enum(CampaignStatus, "campaign_status"), default=CampaignStatus.DRAFT
    )
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[Kind] = mapped_column(_enum(Kind, "kind"))
    due_date: Mapped[date] = mapped_column(Date)
    # What the secretary typed (`@VPB/*`), shown back; the units it named when previewed are `unit_ids`.
    selector: Mapped[str] = mapped_column(String(500), default="")
    unit_ids: Mapped[list[int]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UnitGroup(Base):
    """A unit's Telegram group chat: its reminders, new-commitment notices and weekly list go there too.

    One group per unit and one unit per group (both unique); unlinking deletes the row (the event log keeps it).
    """

    __tablename__ = "unit_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)  # negative, as every Telegram group's
    title: Mapped[str] = mapped_column(String(256), default="")
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


def row_dict(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


# At most one pending extension request per commitment, even when two people ask at the same moment: the
# second INSERT fails with an IntegrityError (storage.status answers "a request is already pending").
_PENDING_EXTENSION = ExtensionRequest.status == ExtensionStatus.PENDING
Index(
    "uq_extension_requests_pending_commitment_id",
    ExtensionRequest.commitment_id,
    unique=True,
    sqlite_where=_PENDING_EXTENSION,
    postgresql_where=_PENDING_EXTENSION,
)
