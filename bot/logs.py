"""The process's log: plain text or one JSON object a line (`LOG_FORMAT`), secrets masked, warnings included."""

from __future__ import annotations

import json
import logging
import warnings
from datetime import UTC, datetime

from telegram.warnings import PTBUserWarning

# One request, migration step or job run per line drowns what matters (the sandbox's address, a warning).
NOISY = ("httpx", "alembic", "apscheduler", "telegram.ext.Application")
MASK = "***"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class MaskSecrets(logging.Filter):
    """The bot token is in every Bot API URL (httpx logs them at DEBUG): it never reaches the log."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, MASK)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str, log_format: str, *, secrets: list[str | None]) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskSecrets([s for s in secrets if s]))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Warnings go through the log too (one JSON line each with LOG_FORMAT=json).
    logging.captureWarnings(True)
    # The /add dialogue's buttons belong to the chat, not to one message: per_message=False is intended.
    warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)
