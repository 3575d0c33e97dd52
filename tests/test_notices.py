"""The notification model: every outbox kind is declared once in scheduler/notices.py, and the committee
fan-out is one rule (reachable secretaries and admins, once each)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from handlers.notify import outgoing_to_committee
from scheduler.notices import NOTICES, Grouping, committee_recipients, content_id, focal_recipients
from storage.outbox import OutboxKind
from storage.planning import PersonInfo, UnitPeople

ROOT = Path(__file__).resolve().parent.parent
# Everything that ships or drives the product (the tests may write literal kinds to read rows back).
CODE = ("core", "storage", "texts", "scheduler", "handlers", "bot", "sandbox", "bench")
# What builds an outbox row: the dataclass the outbox queues, the table's model, an insert's .values(…).
ROW_BUILDERS = {"Outgoing", "OutboxMessage", "values"}


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _is_text(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def literal_kinds(source: str, where: str = "<source>") -> list[str]:
    """Each place in `source` that gives an outbox row its kind as a string literal instead of an OutboxKind."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _name(node.func) in ROW_BUILDERS:
            given = [k.value for k in node.keywords if k.arg == "kind"]
            if _name(node.func) == "Outgoing" and len(node.args) > 1:
                given.append(node.args[1])  # Outgoing(key, kind, …)
            found += [f"{where}:{node.lineno}" for value in given if _is_text(value)]
        elif isinstance(node, ast.Dict):  # a row for insert(OutboxMessage): {"key": …, "kind": "…", "chat_id": …}
            keys = {k.value: v for k, v in zip(node.keys, node.values, strict=True) if _is_text(k)}  # type: ignore[union-attr]
            if "chat_id" in keys and _is_text(keys.get("kind")):
                found.append(f"{where}:{node.lineno}")
    return found


def test_no_outbox_kind_is_written_as_a_literal_string() -> None:
    found = []
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += literal_kinds(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


def test_the_check_sees_a_literal_kind() -> None:
    assert literal_kinds('Outgoing(key="k", kind="reminder", chat_id=1)') == ["<source>:1"]
    assert literal_kinds('Outgoing("k", "digest", 1)') == ["<source>:1"]
    assert literal_kinds('insert(OutboxMessage).values(kind="digest")') == ["<source>:1"]
    assert literal_kinds('rows = [{"key": "k", "kind": "broadcast", "chat_id": 1}]') == ["<source>:1"]
    assert literal_kinds('Outgoing(key="k", kind=OutboxKind.REMINDER, chat_id=1)') == []
    assert literal_kinds('{"kind": "units", "rows": 3}') == []  # not an outbox row


def test_every_outbox_kind_is_declared_once_as_a_notice() -> None:
    declared = {notice.kind for notice in NOTICES.values()}
    assert declared == set(OutboxKind)
    assert all(isinstance(notice.kind, OutboxKind) for notice in NOTICES.values())
    # The column keeps the values it always had.
    assert {kind.value for kind in OutboxKind} >= {"reminder", "escalation", "no_focal", "unreachable", "digest"}
    assert (OutboxKind.BROADCAST_REPORT, OutboxKind.EXTENSION_DECISION) == ("report", "decision")


def test_the_committee_and_the_heads_are_told_per_tick_and_focal_points_per_commitment() -> None:
    assert NOTICES["escalation"].grouping is Grouping.PER_TICK
    assert NOTICES["no_focal"].grouping is Grouping.PER_TICK
    assert NOTICES["unreachable"].grouping is Grouping.PER_TICK
    assert NOTICES["reminder"].grouping is Grouping.PER_COMMITMENT
    assert NOTICES["escalation"].key("abc", 7) == "escalation:abc:7"
    assert NOTICES["escalation"].key("abc", 7, 3) == "escalation:3:abc:7"
    assert content_id(["1:2026-12-11", "2:2026-12-11"]) == content_id(["2:2026-12-11", "1:2026-12-11"])
    assert content_id(["1:2026-12-11"]) != content_id(["1:2026-12-18"])


def _person(pid: int, reachable: bool = True, language: str | None = None) -> PersonInfo:
    return PersonInfo(pid, 1000 + pid, f"P{pid}", None, language, reachable)


def test_one_rule_for_the_committee_and_one_for_a_unit() -> None:
    people = [_person(1), _person(2, reachable=False), _person(1), _person(3)]
    assert [p.id for p in committee_recipients(people)] == [1, 3]
    assert [p.id for p in committee_recipients(people, exclude={3})] == [1]
    unit = UnitPeople(focal=[_person(4), _person(5, reachable=False)], heads=[_person(6)])
    assert [p.id for p in focal_recipients(unit)] == [4]


@dataclass
class _Member:
    id: int
    telegram_id: int
    language: str | None
    reachable: bool


def test_handlers_tell_only_the_reachable_members_of_the_committee() -> None:
    people = [_Member(1, 101, "en", True), _Member(2, 102, None, False), _Member(3, 103, None, True)]
    messages = outgoing_to_committee(
        people,  # type: ignore[arg-type]
        key="extension:9",
        kind=NOTICES["extension_request"].kind,
        commitment_id=5,
        render=lambda lang: f"text in {lang}",
        default_language="vi",
    )
    assert [(m.key, m.chat_id, m.text) for m in messages] == [
        ("extension:9:1", 101, "text in en"),
        ("extension:9:3", 103, "text in vi"),
    ]
