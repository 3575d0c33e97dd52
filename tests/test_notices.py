"""The notification model: every outbox kind is declared once in scheduler/notices.py, and the committee
fan-out is one rule (reachable secretaries and admins, once each)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from handlers.notify import outgoing_to_committee
from scheduler.notices import NOTICES, Grouping, committee_recipients, content_id, focal_recipients
from storage.planning import PersonInfo, UnitPeople

ROOT = Path(__file__).resolve().parent.parent
CODE = ("core", "storage", "texts", "scheduler", "handlers", "bot")


def _kinds_written() -> dict[str, list[str]]:
    """Every literal `kind="…"` given to Outgoing(…) in the code."""
    found: dict[str, list[str]] = {}
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Outgoing":
                    for keyword in node.keywords:
                        if keyword.arg == "kind" and isinstance(keyword.value, ast.Constant):
                            found.setdefault(str(keyword.value.value), []).append(str(path.relative_to(ROOT)))
    return found


def test_every_outbox_kind_in_the_code_is_declared() -> None:
    declared = {notice.kind for notice in NOTICES.values()}
    assert {"reminder", "escalation", "no_focal", "unreachable", "digest", "unit_digest"} <= declared
    undeclared = {kind: where for kind, where in _kinds_written().items() if kind not in declared}
    assert undeclared == {}


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
