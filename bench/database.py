"""Where a benchmark builds its register: a SQLite file (the default) or a PostgreSQL database it empties first.

`--database-url postgresql+asyncpg://…` (or QMSBOT_BENCH_POSTGRES_URL for `python -m bench --small`) runs the
same benchmark on PostgreSQL; every table in that database's `public` schema is dropped before the build.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import Database

ENV = "QMSBOT_BENCH_POSTGRES_URL"


@dataclass(frozen=True)
class Target:
    """A SQLite file or a PostgreSQL URL; `label` says which in the benchmark's output."""

    path: Path | None = None
    url: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    @property
    def database_url(self) -> str:
        return self.url if self.url is not None else f"sqlite+aiosqlite:///{self.path}"

    @property
    def label(self) -> str:
        return "PostgreSQL " + self.url.rsplit("@", 1)[-1] if self.url is not None else f"SQLite {self.path}"

    def size_mb(self) -> float:
        if self.path is None:
            return 0.0
        files = (self.path, Path(f"{self.path}-wal"))
        return sum(p.stat().st_size for p in files if p.exists()) / 1e6


def postgres_url(argument: str | None) -> str | None:
    """The URL given, checked: only PostgreSQL (SQLite is the `--db FILE` option)."""
    if argument is None:
        return None
    if not argument.startswith("postgresql+asyncpg://"):
        raise SystemExit("--database-url must be postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB")
    return argument


def small_run_urls() -> list[str | None]:
    """`python -m bench --small`: SQLite, and PostgreSQL too when QMSBOT_BENCH_POSTGRES_URL is set."""
    url = os.environ.get(ENV, "").strip()
    return [None, url] if url else [None]


async def fresh(target: Target, *, keep: bool = False) -> Database:
    """A Database on an empty register (unless `keep`: an earlier run's, as it is)."""
    if not keep:
        if target.url is not None:
            engine = create_async_engine(target.url)
            try:
                async with engine.begin() as connection:
                    await connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
                    await connection.execute(sa.text("CREATE SCHEMA public"))
            finally:
                await engine.dispose()
        elif target.path is not None:
            _remove_sqlite(target.path)
    return Database(target.database_url)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
