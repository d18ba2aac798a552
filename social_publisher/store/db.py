"""Engine, sessions and schema migrations.

SQLite (the office PC default) gets WAL, foreign keys and a busy timeout on
every connection; PostgreSQL (a province running many towns) needs nothing
special here. The schema is only ever created by Alembic, so an older
database is upgraded in place by the same code that creates a new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

#: The newest migration. ``ensure_current`` compares against it with one query, so a
#: process whose schema is current never imports Alembic (about 12 MB resident); a
#: test keeps it equal to Alembic's own head.
SCHEMA_HEAD = "i11_0002"

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 15_000


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases / in-memory."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder if needed."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


@contextmanager
def _committing(session: Session) -> Iterator[Session]:
    """Commit ``session`` on success, roll it back on any exception, close it either way."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Database:
    """The engine plus a session factory; the one handle services receive."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AbstractContextManager[Session]:
        """A session committed on success and rolled back on any exception."""
        return _committing(self.sessions())

    @contextmanager
    def durable_session(self) -> Iterator[Session]:
        """Like :meth:`session`, but the commit is fsync'd on SQLite (synchronous=FULL).

        The project runs SQLite with WAL + synchronous=NORMAL, which survives a process
        crash but may lose the last commits on a power cut: not acceptable for the only
        copy of a rotated refresh token.
        """
        with self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                conn.exec_driver_sql("PRAGMA synchronous=FULL")
                conn.commit()
            try:
                with _committing(Session(bind=conn, expire_on_commit=False)) as session:
                    yield session
            finally:
                if sqlite:
                    conn.rollback()
                    conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                    conn.commit()

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` (creates the schema on an empty database)."""
        from alembic import command

        try:
            command.upgrade(alembic_config(self.engine), revision)
        except OperationalError as exc:
            raise StoreError(
                f"Không mở được cơ sở dữ liệu {self.safe_url}: {exc.orig}. "
                "Kiểm tra DATABASE_URL và quyền ghi thư mục."
            ) from None

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()

    def is_current(self) -> bool:
        return self.current_revision() == SCHEMA_HEAD

    def ensure_current(self) -> None:
        """Upgrade in place when behind; every command that touches the DB calls this."""
        if not self.is_current():
            self.upgrade()

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
