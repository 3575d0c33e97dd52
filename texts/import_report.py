"""The report of an import (`qmsbot import`, a register file sent in chat): what changed, or every bad row.

storage.register_import returns plain data (an ImportReport, its Problems' msgids and plain params); here
it becomes words, plain for the command line or HTML (each value escaped) for a chat.
"""

from __future__ import annotations

from core.i18n import N_, t, t_text
from storage.register_files import file_label
from storage.register_import import ImportReport
from texts.render import esc as html_escape

MSG_FAILED_ONE = N_("Nothing was imported: 1 problem found. Correct it and import the files again.")
MSG_FAILED_MANY = N_("Nothing was imported: {count} problems found. Correct them and import the files again.")
MSG_FILE = N_("File {file}:")
MSG_AT_LINE_COLUMN = N_("Line {line}, column {column}: {reason}")
MSG_AT_LINE = N_("Line {line}: {reason}")
MSG_MORE = N_("… and {count} more problems")
MSG_DONE = N_("Import done.")
MSG_NO_CHANGE = N_("Nothing changed: the register already matches the files.")
MSG_UNITS_READ = N_("{file}: {count} units")
MSG_COMMITMENTS_READ = N_("{file}: {count} commitments")
MSG_UNITS_COUNTS = N_("Units: {created} new, {updated} updated, {unchanged} unchanged.")
MSG_COMMITMENTS_COUNTS = N_("Commitments: {created} new, {updated} updated, {unchanged} unchanged.")


def import_report(report: ImportReport, lang: str | None, *, limit: int | None = None, html: bool = False) -> str:
    """The import report in `lang`, as plain text (or HTML, every value escaped, with `html=True`).

    At most `limit` problems are listed (all when None); the rest are counted.
    """

    tr = t if html else t_text  # HTML: the templates are escaped too; plain text: nothing is

    def esc(value: object) -> object:
        return html_escape(value) if html and isinstance(value, str) else value

    lines: list[str] = []
    if report.problems:
        count = len(report.problems)
        lines.append(tr(lang, MSG_FAILED_ONE) if count == 1 else tr(lang, MSG_FAILED_MANY, count=count))
        shown = report.problems if limit is None else report.problems[:limit]
        current: str | None = None
        for problem in shown:
            if problem.where != current:
                current = problem.where
                lines.append("")
                lines.append(tr(lang, MSG_FILE, file=esc(current)))
            params = {key: esc(value) for key, value in problem.params.items()}
            reason = tr(lang, problem.msgid, **params)
            if problem.line and problem.column:
                lines.append(tr(lang, MSG_AT_LINE_COLUMN, line=problem.line, column=problem.column, reason=reason))
            elif problem.line:
                lines.append(tr(lang, MSG_AT_LINE, line=problem.line, reason=reason))
            else:
                lines.append(reason[:1].upper() + reason[1:])
        if len(shown) < count:
            lines.append(tr(lang, MSG_MORE, count=count - len(shown)))
        return "\n".join(lines)

    lines.append(tr(lang, MSG_DONE) if report.changed else tr(lang, MSG_NO_CHANGE))
    for table in report.tables:
        msgid = MSG_UNITS_READ if table.kind == "units" else MSG_COMMITMENTS_READ
        lines.append(tr(lang, msgid, file=esc(file_label(table.file, table.sheet)), count=table.rows))
    lines.append(
        tr(
            lang,
            MSG_UNITS_COUNTS,
            created=report.units_created,
            updated=report.units_updated,
            unchanged=report.units_unchanged,
        )
    )
    lines.append(
        tr(
            lang,
            MSG_COMMITMENTS_COUNTS,
            created=report.commitments_created,
            updated=report.commitments_updated,
            unchanged=report.commitments_unchanged,
        )
    )
    return "\n".join(lines)


def chat_import_report(report: ImportReport, lang: str, *, file_name: str, limit: int) -> str:
    """The answer to a register file sent in chat: its name, then the report (HTML)."""
    return f"<b>{html_escape(file_name)}</b>\n" + import_report(report, lang, limit=limit, html=True)
