"""Logging for the daemon and the commands: console plus a rotating UTF-8 file.

Every record passes through :class:`RedactingFilter` on its way to a handler,
so a token that slips into a message, an argument or a traceback is masked
wherever it would be written (``errors.redact`` knows every registered secret).

Times are the office's (``TIMEZONE``), not the machine clock's: a server runs on
UTC while every post time staff write is Vietnam time. The console shows
``HH:MM:SS``; the file keeps ISO 8601 with the offset, unambiguous anywhere.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TextIO

from ..errors import redact

LOG_FILE_NAME = "social-publisher.log"
LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 5
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
CONSOLE_FORMAT = "%(asctime)s %(message)s"
_HANDLER_MARK = "_social_publisher_handler"


_VIETNAMESE = re.compile(
    "[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.IGNORECASE
)


class ZonedFormatter(logging.Formatter):
    """``%(asctime)s`` in ``tz`` (None: the machine's zone); ISO 8601 with offset when
    ``datefmt`` is None."""

    def __init__(self, fmt: str, datefmt: str | None = None, tz: tzinfo | None = None) -> None:
        super().__init__(fmt, datefmt)
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        when = datetime.fromtimestamp(record.created, self.tz)
        if self.tz is None:
            when = when.astimezone()
        if datefmt:
            return when.strftime(datefmt)
        return when.isoformat(timespec="milliseconds")


def file_formatter(tz: tzinfo | None = None, fmt: str = FILE_FORMAT) -> logging.Formatter:
    """The log file's formatter (the crash log of the CLI uses it too)."""
    return ZonedFormatter(fmt, None, tz)


class StaffConsoleFilter(logging.Filter):
    """Lets through to the console only what staff read: Vietnamese lines, and errors.

    The project's rule is that staff-facing text is Vietnamese and engineering text
    English, so the format string itself says who a line is for. It is checked before
    arguments are merged in, so an English line quoting a Vietnamese title stays in the
    file. The file handler keeps every line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or bool(_VIETNAMESE.search(str(record.msg)))


class RedactingFilter(logging.Filter):
    """Bakes the final message (and any traceback) into the record, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def setup_logging(
    log_dir: Path | None,
    *,
    console: TextIO | None = None,
    level: int = logging.INFO,
    console_level: int = logging.INFO,
    tz: tzinfo | None = None,
) -> Path | None:
    """Install the project's handlers on the ``social_publisher`` logger (idempotent).

    ``tz`` is the office's zone (``settings.tz``) for every time written. Returns the log
    file path (None when ``log_dir`` is None).
    """
    teardown_logging()
    logger = logging.getLogger("social_publisher")
    logger.setLevel(min(level, console_level))
    logger.propagate = False
    redactor = RedactingFilter()

    stream = logging.StreamHandler(console or sys.stderr)
    stream.setLevel(console_level)
    stream.setFormatter(ZonedFormatter(CONSOLE_FORMAT, "%H:%M:%S", tz))
    stream.addFilter(StaffConsoleFilter())  # before redaction: it reads the format string
    stream.addFilter(redactor)
    setattr(stream, _HANDLER_MARK, True)
    logger.addHandler(stream)

    path: Path | None = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / LOG_FILE_NAME
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
        file_handler.setLevel(level)
        file_handler.setFormatter(file_formatter(tz))
        file_handler.addFilter(redactor)
        setattr(file_handler, _HANDLER_MARK, True)
        logger.addHandler(file_handler)
    # APScheduler logs job failures with tracebacks: route them through the same redaction.
    aps = logging.getLogger("apscheduler")
    aps.setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is the tick meeting a long pass.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    for handler in logger.handlers:
        if getattr(handler, _HANDLER_MARK, False):
            aps.addHandler(handler)
    aps.propagate = False
    return path


def teardown_logging() -> None:
    """Close the project's handlers (tests and the demo call this to release files)."""
    for name in ("social_publisher", "apscheduler"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if getattr(handler, _HANDLER_MARK, False):
                logger.removeHandler(handler)
                handler.close()
