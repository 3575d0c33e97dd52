"""Texts as a reader sees them: sizes, deadline moves, mistakes echoed back safely, the import report in chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from storage.models import Kind
from storage.register_files import MSG_TITLE_EMPTY, Problem
from storage.register_import import ImportReport
from texts.extensions import deadline_move
from texts.import_report import chat_import_report
from texts.notices import escalation_text
from texts.render import file_size, user_error_text


def test_file_sizes_read_as_people_say_them() -> None:
    assert [file_size("vi", n) for n in (1, 16, 1023)] == ["1 byte", "16 byte", "1023 byte"]
    assert [file_size("en", n) for n in (16, 1024, 1025, 200_000)] == ["16 bytes", "1 KB", "2 KB", "196 KB"]
    assert file_size("vi", 1_572_864) == "1,5 MB" and file_size("en", 1_572_864) == "1.5 MB"


def test_an_extension_shows_both_dates_and_the_days_added() -> None:
    assert deadline_move("vi", date(2026, 12, 3), date(2026, 12, 10)) == "03/12/2026 → 10/12/2026 (thêm 7 ngày)"
    assert deadline_move("en", date(2026, 12, 3), date(2026, 12, 4)) == "03/12/2026 → 04/12/2026 (1 more day)"
    assert deadline_move("en", date(2026, 12, 3), date(2027, 1, 3)) == "03/12/2026 → 03/01/2027 (31 more days)"


def test_what_the_user_typed_comes_back_escaped_and_dates_as_they_write_them() -> None:
    text = user_error_text("vi", "There is no unit with the code {code}.", {"code": "<b>X&Y"})
    assert text == "Không có đơn vị nào có mã &lt;b&gt;X&amp;Y."
    past = user_error_text("en", "The due date {date} is in the past.", {"date": date(2020, 1, 1)}, usage="/help")
    assert past == "The due date 01/01/2020 is in the past.\nUsage: /help"


def test_a_register_file_sent_in_chat_is_answered_with_its_name_and_report() -> None:
    report = ImportReport(problems=[Problem("a<b>.csv", 2, "title", MSG_TITLE_EMPTY)])
    text = chat_import_report(report, "vi", file_name="a<b>.csv", limit=10)
    assert text.splitlines() == [
        "<b>a&lt;b&gt;.csv</b>",
        "Chưa nhập dữ liệu nào: có 1 lỗi. Đề nghị sửa lỗi rồi nhập lại tệp.",
        "",
        "Tệp a&lt;b&gt;.csv:",
        "Dòng 2, cột title: chưa ghi nội dung nhiệm vụ",
    ]


@dataclass(frozen=True)
class _Unit:
    code: str
    name: str


@dataclass(frozen=True)
class _Task:
    id: int
    title: str
    kind: Kind
    due_date: date
    legal_basis: str = ""
    source: str = ""


def test_a_ministrys_heads_are_addressed_as_its_leadership_and_the_secretariat_as_itself() -> None:
    ministry, task = _Unit("BYT", "Bộ Y tế"), _Task(7, "Báo cáo ISO năm 2026", Kind.INTERNAL, date(2026, 11, 20))
    to_heads = escalation_text("vi", task, ministry, [], day=date(2026, 11, 30), to_heads=True)
    to_committee = escalation_text("vi", task, ministry, [], day=date(2026, 11, 30))
    assert "Kính gửi Lãnh đạo <b>Bộ Y tế (BYT)</b>: nhiệm vụ sau của đơn vị đã quá hạn 10 ngày" in to_heads
    assert "Tổ thư ký" not in to_heads and "lãnh đạo đơn vị" not in to_heads
    assert "Kính gửi Tổ thư ký Ban chỉ đạo ISO: nhiệm vụ sau của <b>Bộ Y tế (BYT)</b>" in to_committee
    assert "Lãnh đạo" not in to_committee


def test_one_day_overdue_is_singular_in_english() -> None:
    from datetime import date

    from texts.render import due_phrase

    today = date(2026, 12, 3)
    assert due_phrase("en", date(2026, 12, 2), today) == "overdue 1 day"
    assert due_phrase("en", date(2026, 11, 30), today) == "overdue 3 days"
    assert due_phrase("vi", date(2026, 12, 2), today) == "quá hạn 1 ngày"
