"""Scopes on SQLite and PostgreSQL: the tree's paths follow imports and moves; a ministry's secretary is told of,
counts and sees only their own subtree; the whole register's secretaries see everything as before."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from core.settings import load_settings
from scheduler.digest import plan_digests
from storage.db import Database
from storage.digest_data import DigestWindow, committee_data, committee_data_many
from storage.members import committee, mark_unreachable, resolve_actor
from storage.models import ExtensionRequest, ExtensionStatus, OutboxMessage, OutboxStatus, Role, Unit
from storage.register import open_commitments, overdue_commitments, unit_summaries
from storage.register_import import import_sources
from storage.scopes import Scope, secretaries, secretaries_of_units
from tests.test_planner import CREATED, HANOI, add_commitment, add_person, local, outbox, tick

UNITS = """code,name,parent_code
MOST,Bộ Khoa học và Công nghệ,
BNV,Bộ Nội vụ,MOST
BNV-VP,Văn phòng Bộ Nội vụ,BNV
BNV-TT,Thanh tra Bộ Nội vụ,BNV
BNV-VP-1,Phòng Tổng hợp,BNV-VP
BTC,Bộ Tài chính,MOST
BTC-VP,Văn phòng Bộ Tài chính,BTC
"""
MINISTRY = 500  # the Telegram id of Bộ Nội vụ's secretary


async def _tree(db: Database) -> dict[str, int]:
    report = await import_sources(db, [("units.csv", UNITS.encode())], now=CREATED)
    assert report.ok, report.problems
    async with db.session() as session:
        return dict((await session.execute(select(Unit.code, Unit.id))).tuples().all())


async def _paths(db: Database) -> dict[str, str]:
    async with db.session() as session:
        return dict((await session.execute(select(Unit.code, Unit.path))).tuples().all())


async def test_paths_follow_the_parents_through_imports_and_moves(db: Database) -> None:
    await _tree(db)
    paths = await _paths(db)
    assert paths["MOST"] == "/MOST/" and paths["BNV-VP-1"] == "/MOST/BNV/BNV-VP/BNV-VP-1/"
    # BNV-VP moves under BTC: its whole subtree goes with it; a unit without parent_code column keeps its own.
    moved = "code,name,parent_code\nBNV-VP,Văn phòng,BTC\n"
    assert (await import_sources(db, [("move.csv", moved.encode())], now=CREATED)).ok
    paths = await _paths(db)
    assert paths["BNV-VP"] == "/MOST/BTC/BNV-VP/" and paths["BNV-VP-1"] == "/MOST/BTC/BNV-VP/BNV-VP-1/"
    assert paths["BNV-TT"] == "/MOST/BNV/BNV-TT/"


def test_a_scope_is_its_roots_subtrees() -> None:
    scope = Scope.of([(2, "/MOST/BNV/"), (3, "/MOST/BNV/BNV-VP/"), (9, "/X/")])
    assert scope.paths == ("/MOST/BNV/", "/X/")  # a root inside another adds nothing
    assert scope.covers("/MOST/BNV/BNV-VP/BNV-VP-1/") and scope.covers("/X/")
    # BNV2 shares BNV's first letters but is not below it
    assert not scope.covers("/MOST/BNV2/") and not scope.covers("/MOST/")
    assert scope.rollup_key("/MOST/BNV/BNV-VP/BNV-VP-1/") == "/MOST/BNV/BNV-VP/"
    assert scope.rollup_key("/MOST/BNV/") == "/MOST/BNV/" and scope.rollup_key("/MOST/BTC/") is None


async def _ministry_secretary(db: Database, units: dict[str, int]) -> int:
    return await add_person(db, MINISTRY, "Thư ký Bộ Nội vụ", role=Role.SECRETARY, unit_id=units["BNV"])


async def test_a_ministry_secretary_sees_and_counts_only_the_ministry(db: Database) -> None:
    units = await _tree(db)
    await _ministry_secretary(db, units)
    for code in ("BNV-VP", "BNV-VP-1", "BTC-VP"):
        await add_commitment(db, units[code], title=f"Kế hoạch {code}", due=date(2026, 11, 1))
    today = date(2026, 11, 20)
    async with db.session() as session:
        actor = await resolve_actor(session, telegram_id=MINISTRY)
        whole = await resolve_actor(session, telegram_id=10, secretary_ids=[10])
        assert actor.is_committee and not actor.whole_register and whole.whole_register
        shown = {s.unit.code for s in await unit_summaries(session, today=today, within=actor.reach)}
        assert shown == {"BNV", "BNV-VP", "BNV-TT", "BNV-VP-1"}
        listed = await open_commitments(session, unit_ids=None, within=actor.reach)
        assert sorted(u.code for _c, u in listed) == ["BNV-VP", "BNV-VP-1"]
        rows, total = await overdue_commitments(session, today=today, limit=10, within=actor.reach)
        assert total == 2 and {u.code for _c, u in rows} == {"BNV-VP", "BNV-VP-1"}
        assert len(await open_commitments(session, unit_ids=None, within=whole.reach)) == 3
        btc = await session.get(Unit, units["BTC-VP"])
        bnv = await session.get(Unit, units["BNV-VP-1"])
        assert btc is not None and bnv is not None
        assert not actor.can_see(btc) and not actor.manages(btc) and actor.can_see(bnv) and actor.manages(bnv)
        # the secretaries of a unit's scope (extension requests go to them)
        assert {p.telegram_id for p in await committee(session, unit_id=units["BTC-VP"])} == set()
        assert {p.telegram_id for p in await committee(session, unit_id=units["BNV-VP-1"])} == {MINISTRY}


async def test_notices_reach_only_the_secretaries_of_the_units_scope(db: Database) -> None:
    units = await _tree(db)
    ministry = await _ministry_secretary(db, units)
    national = await add_person(db, 10, "Thư ký BCĐ", role=Role.SECRETARY)
    # Overdue since 11/12: at 18/12 the escalation is due, and no unit has a focal point.
    ours = await add_commitment(db, units["BNV-VP-1"], title="Kế hoạch của Bộ Nội vụ")
    theirs = await add_commitment(db, units["BTC-VP"], title="Kế hoạch của Bộ Tài chính")
    async with db.session() as session:
        assert (await secretaries_of_units(session, [units["BTC-VP"]]))[units["BTC-VP"]][0].id == national
    await tick(db, local(2026, 12, 18))
    sent = await outbox(db)
    by_kind: dict[tuple[str, int | None], OutboxMessage] = {(m.kind, m.person_id): m for m in sent}
    assert {(k, p) for k, p in by_kind if k in ("escalation", "no_focal")} == {
        ("escalation", ministry),
        ("escalation", national),
        ("no_focal", ministry),
        ("no_focal", national),
    }
    mine = by_kind["escalation", ministry]
    assert mine.commitment_id == ours and "Bộ Tài chính" not in mine.text  # one item: its card, with buttons
    both = by_kind["escalation", national].text
    assert "Bộ Nội vụ" in both and "Bộ Tài chính" in both
    assert "BNV-VP-1" in by_kind["no_focal", ministry].text and "BTC-VP" not in by_kind["no_focal", ministry].text
    assert "BTC-VP" in by_kind["no_focal", national].text
    assert theirs not in {m.commitment_id for m in sent if m.person_id == ministry}

    # People who cannot be reached: the ministry's secretary hears of the ministry's people only.
    ours_focal = await add_person(db, 601, "Lan", role=Role.FOCAL, unit_id=units["BNV-TT"])
    theirs_focal = await add_person(db, 602, "Minh", role=Role.FOCAL, unit_id=units["BTC-VP"])
    now = local(2026, 12, 18, 10)
    async with db.session() as session:
        for person in (ours_focal, theirs_focal):
            assert await mark_unreachable(session, person_id=person, now=now, reason="403")
    await tick(db, now)
    told = {m.person_id: m.text for m in await outbox(db) if m.kind == "unreachable"}
    assert set(told) == {ministry, national}
    assert "Lan" in told[ministry] and "Minh" not in told[ministry]
    assert "Lan" in told[national] and "Minh" in told[national]


async def test_the_digest_of_a_scope_rolls_each_child_up(db: Database) -> None:
    units = await _tree(db)
    await _ministry_secretary(db, units)
    await add_person(db, 10, "Thư ký BCĐ", role=Role.SECRETARY)
    now = local(2026, 11, 23, 8, 5)  # Monday, after the 08:00 slot
    for code, due in (("BNV-VP", date(2026, 11, 1)), ("BNV-VP-1", date(2026, 11, 2)), ("BNV-TT", date(2026, 12, 1))):
        await add_commitment(db, units[code], title=f"Kế hoạch {code}", due=due)
    theirs = await add_commitment(db, units["BTC-VP"], title="Kế hoạch BTC-VP", due=date(2026, 11, 3))
    # People who cannot be reached, a pending request, failed and blocked deliveries: on both sides.
    lan = await add_person(db, 601, "Lan", role=Role.FOCAL, unit_id=units["BNV-TT"])
    minh = await add_person(db, 602, "Minh", role=Role.FOCAL, unit_id=units["BTC-VP"])
    async with db.session() as session:
        for person in (lan, minh):
            await mark_unreachable(session, person_id=person, now=now - timedelta(days=1), reason="403")
        session.add(
            ExtensionRequest(
                commitment_id=theirs,
                requested_at=now,
                old_due=date(2026, 11, 3),
                new_due=date(2026, 12, 3),
                status=ExtensionStatus.PENDING,
            )
        )
        for n, (person, status) in enumerate(((lan, OutboxStatus.FAILED), (minh, OutboxStatus.BLOCKED))):
            session.add(
                OutboxMessage(
                    key=f"reminder:test:{n}",
                    kind="reminder",
                    chat_id=601 + n,
                    person_id=person,
                    status=status,
                    last_error="Timed out",
                    not_before=now - timedelta(days=1),
                    created_at=now - timedelta(days=1),
                )
            )
    window = DigestWindow(now=now, tz=HANOI)
    async with db.session() as session:
        (scope, people), *_ = (await secretaries(session)).scopes()
        assert [p.telegram_id for p in people] == [MINISTRY]
        ministry = await committee_data(session, window, scope)
        national = await committee_data(session, window)
    rows = {u.code: (u.open, u.overdue) for u in ministry.units}
    assert rows == {"BNV-VP": (2, 2), "BNV-TT": (1, 0)}  # BNV-VP holds BNV-VP-1's
    assert ministry.totals.overdue == 2 and {i.unit_code for i in ministry.overdue} == {"BNV-VP", "BNV-VP-1"}
    assert "BTC-VP" not in {u.code for u in ministry.without_focal} and ministry.scope_units == [("BNV", "Bộ Nội vụ")]
    # The whole register rolls up too: its one top-level unit (MOST) is the root, the ministries are the rows.
    assert {u.code: (u.open, u.overdue) for u in national.units} == {"BNV": (3, 2), "BTC": (1, 1)}
    assert [code for code, _name in national.scope_units] == ["MOST"] and national.totals.overdue == 3
    assert {u.code for u in national.detail or []} == {"BNV-VP", "BNV-VP-1", "BNV-TT", "BTC-VP"}

    # A slot reads every scope's figures at once: the same as one scope at a time.
    async with db.session() as session:
        scopes = [
            None,
            scope,
            Scope.of([(units["BTC"], "/MOST/BTC/")]),
            Scope.of([(units["BNV-VP"], "/MOST/BNV/BNV-VP/")]),
        ]
        many = await committee_data_many(session, window, scopes)
        for one, data in zip(scopes, many, strict=True):
            assert data == await committee_data(session, window, one)
    assert [u.code for u in many[3].units] == ["BNV-VP", "BNV-VP-1"]  # the root's own row, then its child's
    assert [p.person.full_name for p in many[1].unreachable] == ["Lan"] and many[1].failed_total == 1
    assert many[1].pending_total == 0 and many[1].blocked_total == 0
    assert [p.person.full_name for p in many[2].unreachable] == ["Minh"] and many[2].pending_total == 1
    assert many[2].blocked_total == 1 and many[0].unreachable_total == 2

    settings = load_settings(_env_file=None, digest_cron="mon 08:00")
    assert await plan_digests(db, settings=settings, now=now - timedelta(days=1)) == 0  # the installation begins
    await plan_digests(db, settings=settings, now=now)
    texts = {m.chat_id: m.text for m in await outbox(db) if m.kind == "digest" and m.media is None}
    assert "Phạm vi quản lý: <b>Bộ Nội vụ</b> (BNV)" in texts[MINISTRY] and "BTC-VP" not in texts[MINISTRY]
    national_text = texts[10]  # the whole register: the ministries as rows, every overdue item below
    assert "🔴 <b>BNV</b> — <b>2</b> quá hạn · 3 chưa hoàn thành" in national_text
    assert "<b>BTC-VP</b> · Kế hoạch BTC-VP — <b>quá hạn 20 ngày</b>" in national_text
    assert "Phạm vi quản lý: <b>Bộ Khoa học và Công nghệ</b> (MOST)" in national_text
    charts = {m.chat_id for m in await outbox(db) if m.kind == "digest" and m.media == "photo"}
    assert charts == {MINISTRY, 10}
    assert await plan_digests(db, settings=settings, now=now + timedelta(minutes=1)) == 0  # once per slot


async def test_a_scoped_import_refuses_every_row_outside_the_scope(db: Database) -> None:
    units = await _tree(db)
    async with db.session() as session:
        paths = dict((await session.execute(select(Unit.code, Unit.path))).tuples().all())
    scope = Scope.of([(units["BNV"], paths["BNV"])])
    bad = (
        "code,name,parent_code\n"
        "BNV-NEW,Vụ mới,BNV\n"  # fine: below the scope
        "BNV-TT,Thanh tra,BTC\n"  # moved out of the scope
        "BTC-VP,Văn phòng,BNV\n"  # another ministry's unit
        "LONE,Đơn vị mới,\n"  # a new top unit
        "BNV,Bộ Nội vụ,\n"  # the scope's own root, moved
    )
    commitments = "unit_code,title,kind,due\nBNV-VP,Báo cáo,internal,15/01/2027\nBTC,Báo cáo,internal,15/01/2027\n"
    files = [("units.csv", bad.encode()), ("commitments.csv", commitments.encode())]
    report = await import_sources(db, files, now=CREATED, scope=scope)
    assert not report.ok
    refused = sorted((p.file, p.line, p.column) for p in report.problems)
    assert refused == [
        ("commitments.csv", 3, "unit_code"),
        ("units.csv", 3, "parent_code"),
        ("units.csv", 4, "parent_code"),
        ("units.csv", 5, "code"),
        ("units.csv", 6, "parent_code"),
    ]
    assert await _paths(db) == paths  # nothing written
    good = "code,name,parent_code\nBNV-NEW,Vụ mới,BNV\nBNV-NEW-1,Phòng,BNV-NEW\n"
    assert (await import_sources(db, [("units.csv", good.encode())], now=CREATED, scope=scope)).ok
    assert (await _paths(db))["BNV-NEW-1"] == "/MOST/BNV/BNV-NEW/BNV-NEW-1/"


def test_the_whole_registers_digest_rows_are_its_top_level_units_or_their_children() -> None:
    from storage.scopes import register_scope

    assert register_scope([(1, "/VPB/"), (2, "/TTB/")]) is None  # flat: every unit is its own row already
    national = register_scope([(1, "/MOST/"), (2, "/MOST/BNV/"), (3, "/MOST/BNV/VP/")])
    assert national is not None and national.roots == (1,)  # one top-level unit: its children are the rows
    assert national.rollup_key("/MOST/BNV/VP/") == "/MOST/BNV/" and national.rollup_key("/MOST/") == "/MOST/"
    several = register_scope([(1, "/BNV/"), (2, "/BNV/VP/"), (3, "/BTC/")])
    assert several is not None and several.roots == ()  # the top-level units are the rows
    assert several.rollup_key("/BNV/VP/") == "/BNV/" and several.rollup_key("/BTC/") == "/BTC/"
