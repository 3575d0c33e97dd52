"""What every handler and job shares: settings, the database and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.settings import Settings
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    # The only clock: tests and the sandbox's time travel pass their own.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())

    def now(self) -> datetime:
        return self.clock().astimezone(self.settings.tz)

    def today(self) -> date:
        return self.now().date()
