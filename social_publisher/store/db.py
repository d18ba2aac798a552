"""Engine, sessions and schema migrations.

SQLite (the office PC default) gets WAL, foreign keys and a busy timeout on
every connection; PostgreSQL (a province running many towns) needs nothing
special here. The schema is only ever made through Alembic: a new database is
created from the models and stamped at the head, an older one is upgraded in
place by the migrations, and a test keeps both ways to the same schema.

A migration is atomic and serialised. On SQLite it runs on a connection whose
driver issues no transaction of its own, inside one ``BEGIN IMMEDIATE``: the DDL
is transactional (a kill leaves the file as it was) and the write lock is taken
first, so processes starting together on an empty file wait for one another and
the later ones find the schema made. On PostgreSQL (transactional DDL too) a
transaction-level advisory lock serialises them. A database half made by an
older release (tables present, ``alembic_version`` empty) is recognised; ``init``
rebuilds it when it holds no data, or stamps it when it is the whole 0001
schema (:func:`recover_half_made`).

:func:`describe_db_error` turns the failures an office can fix itself (read-only
or damaged file, full disk, server down) into Vietnamese cause-and-fix text.
"""

from __future__ import annotations

import errno
import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, StaticPool

from ..errors import StoreError
from .tenancy import DEFAULT_UNIT

if TYPE_CHECKING:
    from alembic.config import Config

#: The newest migration. ``ensure_current`` compares against it with one query, so a
#: process whose schema is current never imports Alembic (about 12 MB resident); a
#: test keeps it equal to Alembic's own head.
SCHEMA_HEAD = "i18_0004"
#: the first schema: what an older release may have left half made
BASE_REVISION = "0001"
#: a connection PostgreSQL drops while a command starts is tried again this often
START_RETRIES = 5

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


log = logging.getLogger("social_publisher.store")

_URL_HELP = (
    "Dùng sqlite:///data/social_publisher.db (một máy văn phòng) hoặc "
    "postgresql+psycopg://người_dùng:mật_khẩu@máy_chủ:5432/tên_csdl, trong tệp .env."
)


def _parse_url(url: str) -> URL:
    """``url`` parsed, or a Vietnamese :class:`StoreError` saying how to write it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        message = f"DATABASE_URL không đúng dạng địa chỉ cơ sở dữ liệu. {_URL_HELP}"
        raise StoreError(message) from None
    backend = parsed.get_backend_name()
    if backend == "postgres":
        raise StoreError(
            "DATABASE_URL bắt đầu bằng postgres:// là cách viết cũ: viết "
            f"postgresql+psycopg:// thay cho postgres://. {_URL_HELP}"
        )
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"DATABASE_URL dùng loại cơ sở dữ liệu '{backend}' mà công cụ không hỗ trợ: chỉ "
            f"dùng SQLite hoặc PostgreSQL. {_URL_HELP}"
        )
    return parsed


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder if needed.

    A URL the tool cannot use (an unknown dialect, a driver not installed) is a
    Vietnamese :class:`StoreError`, not an import error.
    """
    parsed = _parse_url(url)
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Không tạo được thư mục {path.parent} cho cơ sở dữ liệu "
                f"({exc.strerror or type(exc).__name__}): kiểm tra DATABASE_URL và quyền ghi."
            ) from None
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    elif parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
    try:
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        driver = parsed.get_driver_name()
        if parsed.get_backend_name() == "postgresql" and driver != "psycopg":
            fix = "viết postgresql+psycopg:// (thư viện psycopg 3) ở đầu DATABASE_URL."
        elif parsed.get_backend_name() == "postgresql":
            fix = "cài thư viện PostgreSQL: pip install 'social-publisher[postgres]'."
        else:
            fix = _URL_HELP
        raise StoreError(
            f"DATABASE_URL dùng trình kết nối '{driver}' chưa có trên máy này "
            f"({type(exc).__name__}): {fix}"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _no_driver_transactions(dbapi_connection: Any, connection_record: Any) -> None:
    # pysqlite begins transactions only before DML, so DDL would run in autocommit mode
    # and a kill would leave half a schema: take transaction control away from it.
    dbapi_connection.isolation_level = None


def _foreign_keys_off(dbapi_connection: Any, connection_record: Any) -> None:
    # A migration rebuilds tables (drop the old, rename the new): with foreign keys on,
    # dropping ``posts`` would cascade into every table pointing at it. The migration
    # checks the keys itself before it commits (``migrations/env.py``).
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def database_place(url: str) -> str:
    """The database as staff know it: the SQLite file, or PostgreSQL's host:port/name."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "DATABASE_URL"
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    if parsed.get_backend_name() == "sqlite":
        return "SQLite (bộ nhớ)"
    host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return f"PostgreSQL {host}/{parsed.database or ''}"


def describe_db_error(exc: BaseException, url: str) -> str | None:
    """Vietnamese cause and fix for a database failure the office can fix itself, or None.

    Matched on the driver's own words (SQLite and libpq say the same things on every
    platform); anything else is left to the caller as an unexpected error.
    """
    orig = getattr(exc, "orig", None) or exc
    message = str(orig).lower()
    where = database_place(url)
    if isinstance(orig, OSError) and orig.errno == errno.ENOSPC:
        message = "no space left on device"
    if "readonly database" in message or "read-only transaction" in message:
        return (
            f"Cơ sở dữ liệu {where} chỉ cho đọc, không ghi được: cấp quyền ghi cho tệp này và "
            "thư mục chứa nó (bỏ thuộc tính Chỉ đọc/Read-only), rồi chạy lại."
        )
    if (
        "disk is full" in message
        or "no space left" in message
        or "could not extend file" in message
        or "disk full" in message
    ):
        return (
            f"Ổ đĩa chứa cơ sở dữ liệu {where} đã đầy nên không ghi được: giải phóng chỗ trống "
            "trên ổ đó (xóa tệp không cần, dọn thư mục logs và data/media_cache), rồi chạy lại."
        )
    if "malformed" in message or "not a database" in message or "file is encrypted" in message:
        return (
            f"Tệp cơ sở dữ liệu {where} bị hỏng (hoặc không phải tệp SQLite). Dừng "
            "social-publisher, đổi tên tệp này để giữ lại, chép bản sao lưu gần nhất vào đúng "
            "chỗ cũ rồi chạy lại; không có bản sao lưu thì chạy 'social-publisher init' để tạo "
            "tệp mới (công cụ sẽ tìm trên Facebook và Zalo các bài đã đăng trước khi đăng)."
        )
    if "unable to open database file" in message:
        return (
            f"Không mở được tệp cơ sở dữ liệu {where}: kiểm tra thư mục chứa tệp có tồn tại, "
            "có quyền ghi, và DATABASE_URL trong tệp .env."
        )
    if "database is locked" in message:
        return (
            f"Cơ sở dữ liệu {where} đang bị chương trình khác giữ khóa quá lâu: đóng chương "
            "trình đang mở tệp này (DB Browser, bản sao lưu đang chạy…), rồi chạy lại."
        )
    if (
        "connection refused" in message
        or "could not connect" in message
        or "no route to host" in message
        or "timeout expired" in message
        or "could not translate host name" in message
        or "name or service not known" in message
    ):
        return (
            f"Không kết nối được {where}: máy chủ PostgreSQL chưa chạy, bị tường lửa chặn "
            "hoặc sai địa chỉ. Kiểm tra dịch vụ PostgreSQL đang chạy và địa chỉ, cổng trong "
            "DATABASE_URL (tệp .env), rồi chạy lại."
        )
    if "password authentication failed" in message or "pg_hba.conf" in message:
        return (
            f"{where} từ chối đăng nhập: kiểm tra tên người dùng và mật khẩu trong "
            "DATABASE_URL (tệp .env), và quyền truy cập trong pg_hba.conf của máy chủ."
        )
    if "does not exist" in message and "database" in message:
        return (
            f"Chưa có cơ sở dữ liệu {where}: tạo nó trên máy chủ PostgreSQL (createdb), hoặc "
            "sửa tên ở cuối DATABASE_URL (tệp .env), rồi chạy lại."
        )
    if "lock timeout" in message:
        return (
            f"Chưa nâng cấp được cơ sở dữ liệu {where}: các tiến trình social-publisher đang "
            "chạy giữ bảng quá 30 giây. Chưa có gì thay đổi (lần nâng cấp được hủy trọn). Dừng "
            "mọi tiến trình (systemctl stop 'social-publisher@*' trên từng máy), chạy "
            "'social-publisher init' một lần, rồi khởi động lại các tiến trình."
        )
    if getattr(exc, "connection_invalidated", False) or (
        "terminating connection" in message or "server closed the connection" in message
    ):
        return (
            f"Kết nối tới {where} bị ngắt giữa chừng (máy chủ khởi động lại hoặc mạng chập "
            "chờn): kiểm tra máy chủ PostgreSQL và mạng, rồi chạy lại."
        )
    return None


_LOST = (
    "terminating connection",
    "server closed the connection",
    "connection refused",
    "the connection is closed",
    "connection is lost",
    "consuming input failed",
    "could not receive data",
    "the database system is starting up",
    "the database system is shutting down",
    "connection reset",
    "broken pipe",
)


def is_connection_loss(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is the database connection going away (a
    PostgreSQL restart, ``pg_terminate_backend``, the network): worth a reconnection."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, DBAPIError | ConnectionError):
            text_ = str(getattr(current, "orig", None) or current).lower()
            if any(words in text_ for words in _LOST):
                return True
        current = current.__cause__ or current.__context__
    return False


def _store_error(exc: BaseException, url: str) -> StoreError:
    described = describe_db_error(exc, url)
    if described is None:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        described = (
            f"Lỗi cơ sở dữ liệu {database_place(url)}: "
            f"{first[0] if first else type(exc).__name__}. "
            "Kiểm tra DATABASE_URL trong tệp .env; nếu lỗi còn lặp lại, gửi tệp nhật ký "
            "(logs) cho bộ phận kỹ thuật."
        )
    return StoreError(described)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


@functools.cache
def reference_schema() -> tuple[tuple[str, frozenset[str]], ...]:
    """The tables (in creation order) and columns of revision 0001, made once in memory.

    The revision's own ``upgrade()`` is run through ``Operations`` directly, not through an
    Alembic command: this is called from inside one (``env.py``), and commands do not nest.
    """
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(BASE_REVISION)
    assert script is not None
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with engine.begin() as conn:
            with Operations.context(MigrationContext.configure(conn)):
                script.module.upgrade()
            names = [
                row[0]
                for row in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid"
                )
            ]
            insp = inspect(conn)
            return tuple(
                (name, frozenset(c["name"] for c in insp.get_columns(name))) for name in names
            )
    finally:
        engine.dispose()


def recover_half_made(
    connection: Connection, *, repair: bool, notes: list[str], place: str
) -> None:
    """Inside the migration's transaction: deal with a database an older release left half
    made (its tables there, ``alembic_version`` missing or empty), before Alembic runs.

    Without ``repair`` it is a :class:`StoreError` pointing at ``init``. With it: no row in
    any of those tables means nothing was ever recorded (every start failed since), so they
    are dropped and made again; the whole 0001 schema with data is stamped 0001; anything
    else is refused, since only a person can tell what that database holds.
    """
    insp = inspect(connection)
    tables = set(insp.get_table_names())
    if not tables - {"alembic_version"}:
        return  # a new database
    if "alembic_version" in tables and (
        connection.execute(text("SELECT version_num FROM alembic_version")).first() is not None
    ):
        return
    reference = reference_schema()
    ours = [name for name, _ in reference if name in tables]
    if not ours:
        return
    if not repair:
        raise StoreError(
            f"Cơ sở dữ liệu {place} được tạo dở dang (lần khởi tạo trước bị ngắt giữa chừng): "
            "chạy 'social-publisher init' để sửa, rồi chạy lại lệnh này."
        )
    quote = connection.dialect.identifier_preparer.quote
    empty = all(
        connection.execute(text(f"SELECT 1 FROM {quote(name)} LIMIT 1")).first() is None
        for name in ours
    )
    if empty:
        cascade = " CASCADE" if connection.dialect.name == "postgresql" else ""
        for name, _ in reversed(reference):
            if name in tables:
                connection.execute(text(f"DROP TABLE {quote(name)}{cascade}"))
        notes.append(
            f"Cơ sở dữ liệu {place} được tạo dở dang từ lần khởi tạo trước (bị ngắt giữa chừng) "
            "và chưa có dữ liệu nào: đã tạo lại từ đầu."
        )
        return
    complete = all(
        name in tables and columns <= {c["name"] for c in insp.get_columns(name)}
        for name, columns in reference
    )
    if complete:
        if "alembic_version" not in tables:
            connection.execute(
                text(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                )
            )
        connection.execute(
            text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": BASE_REVISION}
        )
        notes.append(
            f"Cơ sở dữ liệu {place} có đủ các bảng của phiên bản {BASE_REVISION} nhưng thiếu dấu "
            f"phiên bản: đã ghi nhận là phiên bản {BASE_REVISION} và nâng cấp tiếp."
        )
        return
    missing = [name for name, _ in reference if name not in tables]
    raise StoreError(
        f"Cơ sở dữ liệu {place} được tạo dở dang (thiếu bảng {', '.join(missing)}) nhưng đã có "
        "dữ liệu, nên không tự sửa được. Dừng social-publisher, chuyển tệp (hoặc cơ sở dữ "
        "liệu) này sang chỗ khác để giữ lại, khôi phục bản sao lưu hoặc để trống, rồi chạy "
        "lại 'social-publisher init'."
    )


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
    """The engine plus a session factory; the one handle services receive.

    A handle belongs to one unit (:mod:`.tenancy`): its sessions read and write only that
    unit's rows, so every service written for one office is right for each of a hundred.
    ``Database(url)`` is the default unit's; :meth:`for_unit` gives another unit's handle
    on the same engine and :meth:`everywhere` the install's (reads all units' rows).
    """

    def __init__(self, url: str, *, unit: str | None = DEFAULT_UNIT, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.unit = unit
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info={"unit": unit})
        self._owner = True

    def for_unit(self, unit: str | None) -> Database:
        """This install's handle for ``unit`` (None: every unit), sharing the engine."""
        if unit == self.unit:
            return self
        other = object.__new__(Database)
        other.url = self.url
        other.engine = self.engine
        other.unit = unit
        other.sessions = sessionmaker(self.engine, expire_on_commit=False, info={"unit": unit})
        other._owner = False
        return other

    def everywhere(self) -> Database:
        """The install-wide handle: reads every unit's rows, writes name their unit."""
        return self.for_unit(None)

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
                session = Session(bind=conn, expire_on_commit=False, info={"unit": self.unit})
                with _committing(session) as session:
                    yield session
            finally:
                if sqlite:
                    conn.rollback()
                    conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                    conn.commit()

    def upgrade(self, revision: str = "head", *, repair: bool = False) -> list[str]:
        """Apply migrations up to ``revision`` (creates the schema on an empty database).

        Atomic and serialised (see the module docstring). ``repair`` (``init``) lets a
        database half made by an older release be rebuilt or stamped; the notes say what
        was done, in Vietnamese. Database failures are Vietnamese :class:`StoreError`.
        """
        try:
            return self._upgrade(revision, repair=repair)
        except SQLAlchemyError as exc:
            raise _store_error(exc, self.url) from None

    def _upgrade(self, revision: str, *, repair: bool) -> list[str]:
        from alembic import command

        notes: list[str] = []
        engine = self._migration_engine()
        try:
            cfg = alembic_config(engine)
            cfg.attributes["repair"] = repair
            cfg.attributes["notes"] = notes
            cfg.attributes["place"] = database_place(self.url)
            command.upgrade(cfg, revision)
        finally:
            if engine is not self.engine:
                engine.dispose()
        return notes

    def _migration_engine(self) -> Engine:
        """The engine migrations run on: for a SQLite file, one whose driver leaves every
        transaction to us and whose transactions are ``BEGIN IMMEDIATE``."""
        if self.dialect != "sqlite" or sqlite_path(self.url) is None:
            return self.engine
        engine = make_engine(self.url, poolclass=NullPool)
        event.listen(engine, "connect", _foreign_keys_off)
        event.listen(engine, "connect", _no_driver_transactions)
        event.listen(engine, "begin", _begin_immediate)
        return engine

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

    def ensure_current(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        """Upgrade in place when behind; every command that touches the DB calls this.

        A connection PostgreSQL drops meanwhile (a restart, an administrator's
        ``pg_terminate_backend``) is opened again a few times before giving up.
        """
        for attempt in range(START_RETRIES):
            try:
                if not self.is_current():
                    self._refuse_newer()
                    self._upgrade("head", repair=False)
                return
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt == START_RETRIES - 1:
                    raise _store_error(exc, self.url) from None
                log.warning(
                    "database connection dropped while starting (%s); connecting again",
                    type(exc.orig).__name__,
                )
                sleep(min(0.5 * 2**attempt, 4.0))
            except SQLAlchemyError as exc:
                raise _store_error(exc, self.url) from None

    def _refuse_newer(self) -> None:
        """A schema a newer release made (a worker left on the old release): refuse, never
        run against it or try to migrate it."""
        current = self.current_revision()
        if current is None:
            return
        from alembic.script import ScriptDirectory

        known = {s.revision for s in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
        if current not in known:
            raise StoreError(
                f"Cơ sở dữ liệu {database_place(self.url)} đã được một phiên bản "
                f"social-publisher mới hơn nâng cấp (phiên bản dữ liệu {current}): cài bản "
                "mới đó trên máy này (pip install -U social-publisher) rồi chạy lại."
            )

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
