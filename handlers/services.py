"""What every handler and job shares: settings, the database and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from core.settings import Settings
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    # The only clock: tests and the sandbox's time travel pass their own.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())
    # Messages were queued: let the sender look at the outbox now. The assembly (bot.app) sets it; without a
    # sender (tests of chat alone) it does nothing and the sender, if any, polls anyway.
    wake: Callable[[], None] = field(default=lambda: None)

    def now(self) -> datetime:
        return self.clock().astimezone(self.settings.tz)

    def today(self) -> date:
        return self.now().date()
