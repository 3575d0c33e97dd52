"""`qmsbot db backup FILE`: a consistent copy of a live SQLite database (WAL: a plain file copy can miss data)."""

from __future__ import annotations

from pathlib import Path

from storage.db import Database


class BackupError(Exception):
    """One line for the operator: why no copy was written (a msgid and its plain parameters; the CLI translates)."""

    def __init__(self, msgid: str, **params: str) -> None:
        super().__init__(msgid.format(**params))
        self.msgid = msgid
        self.params = params


async def backup_sqlite(db: Database, target: Path) -> int:
    """`VACUUM INTO target`: one read transaction, so the copy is the database as of one instant, taken while
    the bot goes on writing (WAL readers do not block writers). Returns the copy's size in bytes."""
    if db.dialect != "sqlite":
        raise BackupError(
            "qmsbot db backup copies SQLite databases; for PostgreSQL use pg_dump, e.g. "
            'pg_dump --format=custom --file=qmsbot.dump "$DATABASE_URL" (without the +asyncpg)'
        )
    target = target.expanduser()  # noqa: ASYNC240
    if target.exists():
        raise BackupError("{file} already exists: choose a new file name (a backup never overwrites)", file=str(target))
    if not target.parent.is_dir():
        raise BackupError("{folder} is not a directory", folder=str(target.parent))
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            await autocommit.exec_driver_sql("VACUUM INTO ?", (str(target),))
        except Exception as error:
            target.unlink(missing_ok=True)
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise BackupError("Cannot write {file}: {reason}", file=str(target), reason=reason) from None
    return target.stat().st_size
