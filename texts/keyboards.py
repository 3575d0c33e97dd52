"""Inline keyboards as Bot API JSON (plain dicts), so the planner can queue them without Telegram objects.

callback_data carries only what was pressed, never authority (formats: docs/ARCHITECTURE.md, "Handlers").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.i18n import t_text
from storage.models import Commitment, Evidence, Kind

PROGRESS_STEPS = (25, 50, 75)

# done, in progress (at its current percentage: wip; or at N %), ask to extend, details, remind me later, undo a
# done, keep a file as evidence only
_COMMITMENT = re.compile(r"c:(\d{1,12}):(done|wip|p25|p50|p75|ext|info|snz|undo|keep):(\d{1,9})")
_DECISION = re.compile(r"x:(\d{1,12}):(ok|no)")
_EVIDENCE = re.compile(r"f:(\d{1,12})")
_BROADCAST = re.compile(r"b:(\d{1,12}):(send|cancel)")
# a campaign (by its row id): confirm or cancel the preview, or get the report as .xlsx
_CAMPAIGN = re.compile(r"k:(\d{1,12}):(ok|no|xlsx)")


@dataclass(frozen=True)
class CommitmentPress:
    commitment_id: int
    action: str
    version: int

    @property
    def percent(self) -> int | None:
        return int(self.action[1:]) if self.action.startswith("p") else None


@dataclass(frozen=True)
class DecisionPress:
    request_id: int
    approve: bool


@dataclass(frozen=True)
class EvidencePress:
    evidence_id: int


@dataclass(frozen=True)
class BroadcastPress:
    broadcast_id: int
    send: bool


@dataclass(frozen=True)
class CampaignPress:
    campaign_id: int
    action: str  # ok (create it), no (cancel the preview), xlsx (the report as a workbook)


Press = CommitmentPress | DecisionPress | EvidencePress | BroadcastPress | CampaignPress


def parse_callback(data: str | None) -> Press | None:
    """What a button says was pressed, or None for anything malformed or forged beyond recognition."""
    if not data or any(len(number) > 9 for number in re.findall(r"\d+", data)):
        return None  # ids beyond the database's range are forged
    if match := _COMMITMENT.fullmatch(data):
        return CommitmentPress(int(match.group(1)), match.group(2), int(match.group(3)))
    if match := _DECISION.fullmatch(data):
        return DecisionPress(int(match.group(1)), match.group(2) == "ok")
    if match := _EVIDENCE.fullmatch(data):
        return EvidencePress(int(match.group(1)))
    if match := _BROADCAST.fullmatch(data):
        return BroadcastPress(int(match.group(1)), match.group(2) == "send")
    if match := _CAMPAIGN.fullmatch(data):
        return CampaignPress(int(match.group(1)), match.group(2))
    return None


def _button(text: str, data: str) -> dict[str, str]:
    assert len(data.encode()) <= 64
    return {"text": text, "callback_data": data}


def commitment_keyboard(lang: str, commitment: Commitment) -> dict[str, Any] | None:
    """Done, In progress (and a few percentages), Ask to extend (internal deadlines only: a legal one cannot be
    moved by the committee), Remind me later, Details — for an open commitment."""
    if not commitment.is_open:
        return {"inline_keyboard": [[_button("ℹ️ " + t_text(lang, "Details"), data(commitment, "info"))]]}
    progress = [_button(f"🕑 {p}%", data(commitment, f"p{p}")) for p in PROGRESS_STEPS]
    second = [_button("⏰ " + t_text(lang, "Remind me later"), data(commitment, "snz"))]
    if commitment.kind != Kind.LEGAL:
        second.insert(0, _button("📅 " + t_text(lang, "Ask to extend"), data(commitment, "ext")))
    return {
        "inline_keyboard": [
            [
                _button("✅ " + t_text(lang, "Done"), data(commitment, "done")),
                _button("🕑 " + t_text(lang, "In progress"), data(commitment, "wip")),
            ],
            progress,
            [*second, _button("ℹ️ " + t_text(lang, "Details"), data(commitment, "info"))],
        ]
    }


def undo_keyboard(lang: str, commitment: Commitment) -> dict[str, Any]:
    """Under a done: Undo (for UNDO_MINUTES; the press is checked on the server), and Details."""
    return {
        "inline_keyboard": [
            [
                _button("↩️ " + t_text(lang, "Undo"), data(commitment, "undo")),
                _button("ℹ️ " + t_text(lang, "Details"), data(commitment, "info")),
            ]
        ]
    }


def evidence_question_keyboard(lang: str, commitment: Commitment) -> dict[str, Any]:
    """After a file sent as a reply: is the commitment also done? Nothing is marked done without the answer."""
    return {
        "inline_keyboard": [
            [_button("✅ " + t_text(lang, "Done, with this evidence"), data(commitment, "done"))],
            [_button("📎 " + t_text(lang, "Only keep the evidence"), data(commitment, "keep"))],
        ]
    }


def with_evidence(keyboard: dict[str, Any] | None, evidence: list[Evidence], limit: int = 5) -> dict[str, Any] | None:
    """Add a button per evidence file (the latest few) that sends the file back to whoever presses it."""
    rows = [[_button("📎 " + (e.file_name or e.media)[:40], f"f:{e.id}")] for e in evidence[-limit:]]
    if not rows:
        return keyboard
    return {"inline_keyboard": [*(keyboard or {}).get("inline_keyboard", []), *rows]}


def data(commitment: Commitment, action: str) -> str:
    return f"c:{commitment.id}:{action}:{commitment.version}"


def broadcast_keyboard(lang: str, broadcast_id: int, recipients: int) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [
                _button("📤 " + t_text(lang, "Send to {count} recipients", count=recipients), f"b:{broadcast_id}:send"),
                _button("✖ " + t_text(lang, "Cancel"), f"b:{broadcast_id}:cancel"),
            ]
        ]
    }


def campaign_preview_keyboard(lang: str, campaign_id: int, units: int) -> dict[str, Any]:
    """Under a campaign's preview: create it for that many units, or cancel (nothing is written before)."""
    return {
        "inline_keyboard": [
            [
                _button("✅ " + t_text(lang, "Create for {count} units", count=units), f"k:{campaign_id}:ok"),
                _button("✖ " + t_text(lang, "Cancel"), f"k:{campaign_id}:no"),
            ]
        ]
    }


def campaign_report_keyboard(lang: str, campaign_id: int) -> dict[str, Any]:
    """Under /campaign: the same report as an Excel file, with the evidence files' names."""
    return {"inline_keyboard": [[_button("📊 " + t_text(lang, "Excel file (.xlsx)"), f"k:{campaign_id}:xlsx")]]}


def decision_keyboard(lang: str, request_id: int) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [
                _button("✅ " + t_text(lang, "Approve"), f"x:{request_id}:ok"),
                _button("❌ " + t_text(lang, "Reject"), f"x:{request_id}:no"),
            ]
        ]
    }


# The /add dialogue's buttons: `add:<choice>`, read back by handlers.add.on_button.
ADD_CANCEL = "add:cancel"


def _add_cancel_row(lang: str) -> list[dict[str, str]]:
    return [_button("✖ " + t_text(lang, "Cancel"), ADD_CANCEL)]


def add_cancel_keyboard(lang: str) -> dict[str, Any]:
    """Under every step of the /add dialogue: Cancel."""
    return {"inline_keyboard": [_add_cancel_row(lang)]}


def add_kind_keyboard(lang: str) -> dict[str, Any]:
    """Step 3 of /add: legal or internal deadline, or Cancel."""
    return {
        "inline_keyboard": [
            [
                _button(t_text(lang, "legal deadline"), "add:legal"),
                _button(t_text(lang, "internal deadline"), "add:internal"),
            ],
            _add_cancel_row(lang),
        ]
    }


def add_basis_keyboard(lang: str) -> dict[str, Any]:
    """Step 5 of /add: no legal basis, or Cancel."""
    return {"inline_keyboard": [[_button(t_text(lang, "None"), "add:nobasis")], _add_cancel_row(lang)]}
