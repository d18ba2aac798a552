"""The thin command line over the library.

Each ``cmd_*.py`` module here registers its commands with ``register(sub)``;
they are discovered, so adding a command never means editing a shared list.
Exit codes (README.md "Commands"): 0 success, 1 problems found and reported, 2 bad usage,
141 output cut off by a closed pipe (``status --json | head``: said by nobody, as ``yes``
does, since the reader chose to stop).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..config import Settings, load_settings
from ..errors import SocialPublisherError, redact
from ..units import Unit, find_unit, load_units

if TYPE_CHECKING:
    from ..store import Database

_NULL_HANDLER = logging.NullHandler()
#: the exit code of a process whose output pipe was closed (128 + SIGPIPE, as shells report it)
EXIT_BROKEN_PIPE = 141

Handler = Callable[[argparse.Namespace, "Context"], int]


class Context:
    """What a command needs, built lazily (``check`` must work without a database)."""

    def __init__(
        self, env_file: str | None, out: Any = None, err: Any = None, unit: str | None = None
    ) -> None:
        self.env_file = env_file
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        #: ``--unit ID`` (None: the only unit, or every unit where the command says so)
        self.unit_id = unit

    @cached_property
    def install_settings(self) -> Settings:
        """The settings of ``.env`` and the environment, before any unit is applied."""
        return load_settings(dotenv_path=self.env_file)

    @cached_property
    def units(self) -> list[Unit]:
        """Every unit of the install (one, built from ``.env``, without a units file)."""
        return load_units(self.install_settings)

    @cached_property
    def unit(self) -> Unit:
        """The unit the command acts for: ``--unit``, or the only one (else a Vietnamese error)."""
        return find_unit(self.units, self.unit_id)

    def chosen_units(self) -> list[Unit]:
        """``--unit``'s unit, or every unit (for commands that read naturally for all)."""
        return [self.unit] if self.unit_id is not None else self.units

    @cached_property
    def settings(self) -> Settings:
        """The settings commands run with: those of the unit they act for."""
        return self.unit.settings

    @property
    def loaded_settings(self) -> Settings | None:
        """The settings if they were read without error (never reads them again)."""
        value = self.__dict__.get("settings") or self.__dict__.get("install_settings")
        return value if isinstance(value, Settings) else None

    @cached_property
    def install_db(self) -> Database:
        """The install's database handle, made current (its unit: the default one)."""
        from ..store import Database

        database = Database(self.install_settings.database_url)
        database.ensure_current()
        return database

    @cached_property
    def db(self) -> Database:
        """The database as the unit the command acts for sees it."""
        return self.install_db.for_unit(self.unit.id)

    def db_for(self, unit: Unit) -> Database:
        return self.install_db.for_unit(unit.id)

    def close(self) -> None:
        """Close the database's connections (an open SQLite file at exit is a warning)."""
        self.__dict__.pop("db", None)
        database = self.__dict__.pop("install_db", None)
        if database is not None:
            database.dispose()

    def print(self, *parts: object, end: str = "\n") -> None:
        print(*parts, file=self.out, end=end)

    def error(self, *parts: object) -> None:
        print(*parts, file=self.err)


def command_modules() -> list[str]:
    """Names of every ``cmd_*`` module (the docs test checks each command is documented)."""
    package = Path(__file__).parent
    return sorted(
        f"{__name__}.{m.name}"
        for m in pkgutil.iter_modules([str(package)])
        if m.name.startswith("cmd_")
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="social-publisher",
        description="Đăng bài chuyển đổi số lên Fanpage Facebook và Zalo OA theo lịch.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--env-file", default=".env", help="tệp cấu hình (mặc định: .env trong thư mục hiện tại)"
    )
    parser.add_argument("--unit", metavar="ID", default=None, help=UNIT_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_modules():
        importlib.import_module(name).register(sub)
    _unit_everywhere(sub)
    return parser


UNIT_HELP = "đơn vị (xã, phường, cơ quan) mà lệnh làm việc cho, theo id trong UNITS_FILE"


def _unit_everywhere(sub: Any) -> None:
    """Every command (and sub-command) takes ``--unit ID`` after its name as well."""
    for command in dict.fromkeys(sub.choices.values()):
        nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        for action in nested:
            _unit_everywhere(action)
        if not nested and "--unit" not in command._option_string_actions:
            # documented once, as the global option it is (README "Commands")
            command.add_argument(
                "--unit", metavar="ID", dest="unit_here", default=None, help=argparse.SUPPRESS
            )


def _utf8_streams() -> None:
    # A Windows console may default to cp1252; staff read Vietnamese.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (stream.encoding or "").lower() not in ("utf-8", "utf8"):
            reconfigure(encoding="utf-8", errors="replace")


def main(argv: Sequence[str] | None = None, *, out: Any = None, err: Any = None) -> int:
    _utf8_streams()
    # Without a handler, Python's last-resort handler would print library warnings (with
    # tracebacks) on a staff member's screen; commands that log install real handlers.
    logging.getLogger("social_publisher").addHandler(_NULL_HANDLER)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(out or sys.stdout)
        return 2
    unit = getattr(args, "unit_here", None) or args.unit
    ctx = Context(args.env_file, out=out, err=err, unit=unit)
    handler: Handler = args.handler
    try:
        code = handler(args, ctx)
        ctx.out.flush()  # a closed pipe shows here, not as noise at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except SocialPublisherError as exc:
        ctx.error(f"Lỗi: {exc.message}")
        return 1
    except KeyboardInterrupt:
        ctx.error("Đã dừng theo yêu cầu.")
        return 130
    except Exception as exc:  # a bug: say so briefly, keep the traceback in the log file
        where = _log_crash(ctx, args.command)
        known = _explain(exc, ctx)
        if known is not None:  # the machine's fault (disk, database, files), not a bug
            ctx.error(f"Lỗi: {known}")
            return 1
        ctx.error(
            f"Lỗi ngoài dự kiến ({type(exc).__name__}): {redact(str(exc))}. "
            f"Chi tiết đã ghi vào {where}: gửi tệp này cho bộ phận kỹ thuật."
        )
        return 1
    finally:
        ctx.close()


def _explain(exc: BaseException, ctx: Context) -> str | None:
    try:
        from ..services.failures import explain

        return explain(exc, ctx.loaded_settings)
    except Exception:  # explaining must never hide the error itself
        return None


def _silence_stdout() -> None:
    """The reader of our output is gone (``| head``): send what is still buffered nowhere, so
    Python's final flush does not print a BrokenPipeError of its own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (tests pass a StringIO): nothing will be flushed


def _log_crash(ctx: Context, command: str) -> str:
    """Write the current exception's traceback (redacted) to the log file, never the screen.

    It never reads the settings again: reading them may be what failed.
    """
    try:
        from ..services.logs import LOG_FILE_NAME, RedactingFilter, file_formatter

        settings = ctx.loaded_settings
        log_dir = settings.log_dir if settings else Path(os.environ.get("LOG_DIR") or "logs")
        tz = settings.tz if settings else None
        path = log_dir / LOG_FILE_NAME
        crash = logging.getLogger("social_publisher.crash")
        crash.propagate = False
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except Exception:
        return "(không ghi được tệp nhật ký)"
    handler.setFormatter(file_formatter(tz, "%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactingFilter())
    crash.addHandler(handler)
    try:
        crash.exception("unexpected error in command %s", command)
    except Exception:
        return "(không ghi được tệp nhật ký)"
    finally:
        crash.removeHandler(handler)
        handler.close()
    return str(path)
