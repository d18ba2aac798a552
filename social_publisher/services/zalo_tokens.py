"""The Zalo OA token pair, kept in the database so that it is never lost.

Zalo's refresh token is single-use and rotates at every refresh: whoever holds
the newest one holds the OA. Losing it (a crash between Zalo's answer and our
commit, two processes refreshing at once) cuts the town off until an OA admin
re-consents. So, for every refresh:

1. take an exclusive lock held across the HTTP call: a file lock beside the
   SQLite file, or a transaction-level advisory lock on PostgreSQL (many daemons
   on many hosts share the database);
2. re-read the row: if the pair changed since the caller saw its stale token,
   another process already refreshed: use its token, do not refresh again;
3. commit ``refresh_started_at`` (crash evidence) BEFORE the call;
4. call Zalo; commit the new pair (fsync'd on SQLite) BEFORE anyone uses it,
   clearing the evidence in the same commit.

Under the lock, a set ``refresh_started_at`` can only mean that an earlier
refresh never completed (locks die with their process): the stored refresh
token is tried once more; if Zalo refuses it, the newest token was lost, and
that is reported loudly (ERROR log, ``ChannelHealth`` "zalo" = auth_failed with
a Vietnamese reason telling staff how to re-consent).

Why not a ``SELECT ... FOR UPDATE`` row lock across the call on PostgreSQL: the
evidence of step 3 must be committed while the lock is held, and that commit
would release a row lock on the same row (or deadlock against it). The
advisory lock is held by its own connection; short ``FOR UPDATE`` transactions
still guard each read-modify-write of the row.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ..channels.base import Diagnosis
from ..channels.zalo import TokenPair
from ..config import Settings
from ..errors import (
    AuthError,
    ChannelError,
    ConfigError,
    OutcomeUnknownError,
    StoreError,
    TransientError,
    register_secret,
)
from ..states import HealthState
from ..store import Database, PlatformToken, utcnow
from ..store.db import sqlite_path
from ..store.lifecycle import health_of, set_health

log = logging.getLogger("social_publisher.zalo.tokens")

PLATFORM = "zalo"
#: the actor of the audit rows this module writes
ACTOR = "zalo-tokens"
#: the access token lives 25 h: refresh when 80 % of it is gone (about 20 h in)
REFRESH_AT_FRACTION = 0.8
ACCESS_LIFETIME = timedelta(hours=25)
#: the refresh token lives 3 months; warn staff from day 80
REFRESH_LIFETIME = timedelta(days=90)
REFRESH_WARN_AFTER = timedelta(days=80)
#: attempts at committing a new pair before giving up (a busy SQLite file, a DB failover)
SAVE_ATTEMPTS = 5
SET_COMMAND = "`social-publisher zalo token set`"
RECONSENT = (
    "Quản trị viên OA cần vào developers.zalo.me cấp lại quyền cho ứng dụng (hoặc lấy cặp "
    f"token mới ở API Explorer), rồi nhập cặp token mới bằng lệnh {SET_COMMAND}."
)

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(key: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


def account_name(settings: Settings) -> str:
    return settings.zalo_app_id or "default"


def _local(when: datetime, settings: Settings) -> str:
    return f"{when.astimezone(settings.tz):%H:%M %d/%m/%Y}"


@dataclass(frozen=True)
class StoredPair:
    """A detached copy of the PlatformToken row; ``repr`` never shows the tokens."""

    id: int
    access_token: str
    refresh_token: str | None
    access_expires_at: datetime | None
    refresh_issued_at: datetime | None
    generation: int
    refresh_started_at: datetime | None
    last_error: str | None

    def __repr__(self) -> str:
        return f"<StoredPair gen={self.generation}>"

    @classmethod
    def of(cls, row: PlatformToken) -> StoredPair:
        register_secret(row.access_token)
        register_secret(row.refresh_token)
        return cls(
            row.id,
            row.access_token,
            row.refresh_token,
            row.access_expires_at,
            row.refresh_issued_at,
            row.generation,
            row.refresh_started_at,
            row.last_error,
        )

    def refresh_due(self, now: datetime) -> bool:
        """True when the access token is missing or past ~20 h of its 25 h."""
        if not self.access_token or self.access_expires_at is None:
            return True
        issued = self.refresh_issued_at or self.access_expires_at - ACCESS_LIFETIME
        lifetime = self.access_expires_at - issued
        return now >= issued + lifetime * REFRESH_AT_FRACTION


class OAuthRefresher(Protocol):
    """What the store needs from ``channels.zalo.ZaloOAuthClient``."""

    def refresh(self, refresh_token: str) -> TokenPair: ...


class DbTokenStore:
    """The :class:`~social_publisher.channels.zalo.TokenProvider` backed by ``PlatformToken``.

    ``hook`` is for crash tests only: it is called with ``"before_call"`` (evidence
    committed, nothing sent) and ``"after_answer"`` (Zalo answered, nothing stored).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        oauth_client: OAuthRefresher,
        clock: Callable[[], datetime] = utcnow,
        *,
        account: str | None = None,
        lock_timeout: float = 120.0,
        hook: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.settings = settings
        self.oauth = oauth_client
        self.clock = clock
        self.account = account or account_name(settings)
        self.lock_timeout = lock_timeout
        self.hook = hook
        self.sleep = sleep
        path = sqlite_path(db.url)
        self._lock_path = path.with_name(f"{path.name}.zalo-token.lock") if path else None
        key = f"{db.url}|{self.account}"
        self._thread_lock = _process_lock(key)
        digest = hashlib.sha256(f"social_publisher.zalo_token:{self.account}".encode()).digest()
        self._advisory_key = int.from_bytes(digest[:8], "big", signed=True)

    # ------------------------------------------------------------ reading

    def _query(self, session: Session, *, for_update: bool = False) -> PlatformToken | None:
        stmt = select(PlatformToken).where(
            PlatformToken.platform == PLATFORM, PlatformToken.account == self.account
        )
        if for_update:
            stmt = stmt.with_for_update()
        return session.scalars(stmt).one_or_none()

    def load(self) -> StoredPair | None:
        """The stored pair (no lock), or None when there is none yet."""
        with self.db.session() as session:
            row = self._query(session)
            return StoredPair.of(row) if row else None

    # ------------------------------------------------------------ TokenProvider

    def current(self) -> str:
        """A usable access token; refreshes first when it is due (or a refresh was cut short)."""
        pair = self.load() or self._bootstrap()
        now = self.clock()
        if pair.refresh_started_at is None and not pair.refresh_due(now):
            return pair.access_token
        try:
            return self.refresh(pair.access_token)
        except ChannelError as exc:
            still_valid = (
                pair.access_token
                and pair.access_expires_at is not None
                and now < pair.access_expires_at
                and not isinstance(exc, AuthError)
            )
            if still_valid:
                log.warning(
                    "Zalo token refresh failed (%s); the current access token is valid until %s",
                    exc,
                    pair.access_expires_at,
                )
                return pair.access_token
            raise

    def refresh(self, stale: str) -> str:
        """Rotate the pair, unless another process already replaced ``stale``."""
        with self._exclusive():
            pair = self._read_locked()
            if pair is None:
                raise self._no_token_error()
            interrupted = pair.refresh_started_at
            if pair.access_token != stale and interrupted is None:
                log.info(
                    "Zalo token already refreshed by another process (gen %s)", pair.generation
                )
                return pair.access_token
            if not pair.refresh_token:
                raise AuthError(
                    "Không có mã làm mới (refresh token) Zalo nên không làm mới được token truy "
                    f"cập. Nhập đủ cặp token (2 dòng) bằng lệnh {SET_COMMAND}.",
                    platform=PLATFORM,
                )
            if interrupted is not None:
                log.warning(
                    "the Zalo token refresh started at %s never completed; "
                    "trying the stored refresh token once",
                    interrupted.isoformat(),
                )
            now = self.clock()
            self._set_marker(pair.id, now)
            self._run_hook("before_call")
            try:
                new = self.oauth.refresh(pair.refresh_token)
            except AuthError as exc:
                raise self._refused(pair, interrupted, exc) from None
            except OutcomeUnknownError as exc:
                reason = (
                    "Không rõ kết quả làm mới token Zalo (mất kết nối khi chờ trả lời, lúc "
                    f"{_local(now, self.settings)}). Lần sau sẽ thử lại bằng mã đã lưu; nếu Zalo "
                    "từ chối thì cần cấp lại quyền."
                )
                self._set_marker(pair.id, now, last_error=reason)
                log.error("Zalo token refresh: no answer (%s); the outcome is unknown", exc)
                raise TransientError(reason, platform=PLATFORM) from None
            except (ChannelError, ConfigError):
                # Nothing was consumed (connection refused, explicit error): restore the
                # evidence as it was, so an earlier interrupted refresh is not forgotten.
                self._set_marker(pair.id, interrupted)
                raise
            self._run_hook("after_answer")
            self._save_hard(pair.id, new)
            if interrupted is not None:
                log.warning("the interrupted Zalo token refresh was recovered: the pair is safe")
            log.info("Zalo token pair rotated (gen %s)", pair.generation + 1)
            return new.access_token

    # ------------------------------------------------------------ commands

    def set_pair(self, access_token: str, refresh_token: str | None) -> StoredPair:
        """Store a pair given by staff (``zalo token set``): replaces whatever is stored."""
        access_token, refresh_token = access_token.strip(), (refresh_token or "").strip() or None
        if not access_token and not refresh_token:
            raise ConfigError("Cặp token Zalo trống: cần access token và refresh token.")
        register_secret(access_token)
        register_secret(refresh_token)
        now = self.clock()
        with self._exclusive(), self.db.durable_session() as session:
            row = self._query(session, for_update=True)
            if row is None:
                row = PlatformToken(platform=PLATFORM, account=self.account, generation=0)
                session.add(row)
            row.access_token = access_token
            row.refresh_token = refresh_token
            # Unknown real issue time: assume the pair was issued just now.
            row.access_expires_at = now + ACCESS_LIFETIME if access_token else now
            row.refresh_issued_at = now
            row.generation = (row.generation or 0) + 1
            row.refresh_started_at = None
            row.last_error = None
            self._health_ok(session)
            session.flush()
            stored = StoredPair.of(row)
        log.info("Zalo token pair stored by staff (gen %s)", stored.generation)
        return stored

    def force_refresh(self) -> str:
        """Refresh now (``zalo token refresh``)."""
        pair = self.load() or self._bootstrap()
        return self.refresh(pair.access_token)

    def recover_interrupted(self) -> bool:
        """At daemon start: finish a refresh a crash cut short. True if there was one.

        Raises :class:`AuthError` (and reports it loudly) when the newest token was lost.
        """
        pair = self.load()
        if pair is None or pair.refresh_started_at is None:
            return False
        self.refresh(pair.access_token)
        return True

    # ------------------------------------------------------------ status

    def describe(self) -> dict[str, Any]:
        """Ages and expiry of the stored pair, never the tokens (``zalo token show``)."""
        from .zalo_token_report import describe  # the report builds on this module

        return describe(self.load(), self.db, self.settings, self.clock())

    def token_diagnoses(self) -> list[Diagnosis]:
        """``doctor`` lines about the token (used by ``ZaloChannel.diagnose``)."""
        from .zalo_token_report import diagnoses

        return diagnoses(self.load(), self.db, self.settings, self.clock())

    # ------------------------------------------------------------ internals

    def _run_hook(self, stage: str) -> None:
        if self.hook is not None:
            self.hook(stage)

    def _no_token_error(self) -> AuthError:
        return AuthError(
            "Chưa có token Zalo OA: lấy cặp access token + refresh token (API Explorer trên "
            f"developers.zalo.me) rồi chạy lệnh {SET_COMMAND}.",
            platform=PLATFORM,
        )

    def _bootstrap(self) -> StoredPair:
        """First start: take the pair from settings, only into an EMPTY table."""
        access = self.settings.zalo_access_token
        refresh = self.settings.zalo_refresh_token
        if not access and not refresh:
            raise self._no_token_error()
        now = self.clock()
        try:
            with self.db.durable_session() as session:
                if self._query(session) is None:
                    session.add(
                        PlatformToken(
                            platform=PLATFORM,
                            account=self.account,
                            access_token=access,
                            refresh_token=refresh or None,
                            access_expires_at=now + ACCESS_LIFETIME if access else now,
                            refresh_issued_at=now,
                            generation=1,
                        )
                    )
                    log.info("Zalo token pair taken from the settings (first start)")
        except IntegrityError:
            log.info("another process stored the first Zalo token pair")
        pair = self.load()
        if pair is None:  # pragma: no cover - the insert above or a concurrent one exists
            raise self._no_token_error()
        return pair

    def _read_locked(self) -> StoredPair | None:
        with self.db.session() as session:
            row = self._query(session, for_update=True)
            return StoredPair.of(row) if row else None

    def _set_marker(
        self, row_id: int, started: datetime | None, *, last_error: str | None = None
    ) -> None:
        with self.db.durable_session() as session:
            row = session.get(PlatformToken, row_id, with_for_update=True)
            if row is None:
                raise StoreError("Dòng token Zalo trong cơ sở dữ liệu đã bị xóa giữa chừng.")
            row.refresh_started_at = started
            if last_error is not None:
                row.last_error = last_error

    def _save_hard(self, row_id: int, pair: TokenPair) -> None:
        """Store Zalo's answer, retrying a busy database: it is the only copy of the pair."""
        for attempt in range(SAVE_ATTEMPTS):
            try:
                self._save(row_id, pair, self.clock())
                return
            except DBAPIError as exc:
                if attempt == SAVE_ATTEMPTS - 1:
                    log.error(
                        "MẤT TOKEN ZALO: không lưu được cặp token mới vào cơ sở dữ liệu (%s). %s",
                        exc.orig,
                        RECONSENT,
                    )
                    raise StoreError(
                        "Không lưu được cặp token Zalo mới vào cơ sở dữ liệu "
                        f"({exc.orig}). {RECONSENT}"
                    ) from None
                log.warning("storing the new Zalo token pair failed (%s); retrying", exc.orig)
                self.sleep(0.5 * 2**attempt)

    def _save(self, row_id: int, pair: TokenPair, now: datetime) -> None:
        """Commit Zalo's new pair (every writer of the row holds the same lock)."""
        with self.db.durable_session() as session:
            row = session.get(PlatformToken, row_id, with_for_update=True)
            if row is None:
                row = PlatformToken(platform=PLATFORM, account=self.account, generation=0)
                session.add(row)
            row.access_token = pair.access_token
            row.refresh_token = pair.refresh_token
            row.access_expires_at = now + timedelta(seconds=pair.expires_in)
            row.refresh_issued_at = now
            row.generation = (row.generation or 0) + 1
            row.refresh_started_at = None
            row.last_error = None
            self._health_ok(session)

    def _refused(self, pair: StoredPair, interrupted: datetime | None, exc: AuthError) -> AuthError:
        """Zalo refused the stored refresh token: record it and say so LOUDLY."""
        if interrupted is not None:
            reason = (
                "MẤT TOKEN ZALO: lần làm mới token lúc "
                f"{_local(interrupted, self.settings)} bị gián đoạn sau khi gửi tới Zalo, và Zalo "
                "nay từ chối mã làm mới đã lưu (mã mới Zalo cấp lần đó chưa kịp lưu). Kênh Zalo "
                f"đã dừng. {RECONSENT}"
            )
        else:
            reason = (
                "Zalo từ chối mã làm mới token (refresh token hết hạn sau 90 ngày, đã dùng, hoặc "
                f"bị thu hồi). Kênh Zalo đã dừng. {RECONSENT}"
            )
        log.error("%s [%s]", reason, exc.platform_message)
        with self.db.durable_session() as session:
            row = session.get(PlatformToken, pair.id, with_for_update=True)
            if row is not None:
                row.refresh_started_at = None
                row.last_error = reason
            set_health(
                session,
                PLATFORM,
                HealthState.AUTH_FAILED,
                actor=ACTOR,
                at=self.clock(),
                reason=reason,
            )
        return AuthError(reason, platform=PLATFORM, code=exc.code, http_status=exc.http_status)

    def _health_ok(self, session: Session) -> None:
        """A new pair ends an auth failure (other blocks are not the token's to clear)."""
        if health_of(session, PLATFORM) == HealthState.AUTH_FAILED:
            set_health(session, PLATFORM, HealthState.OK, actor=ACTOR, at=self.clock())

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One refresh at a time: this process's threads, then other processes."""
        if not self._thread_lock.acquire(timeout=self.lock_timeout):
            raise self._busy()
        try:
            if self.db.dialect == "postgresql":
                with self.db.engine.connect() as conn:
                    try:
                        conn.execute(
                            text(f"SET LOCAL lock_timeout = '{int(self.lock_timeout * 1000)}ms'")
                        )
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._advisory_key}
                        )
                    except OperationalError:
                        raise self._busy() from None
                    try:
                        yield
                    finally:
                        conn.rollback()
            elif self._lock_path is not None:
                self._lock_path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with FileLock(str(self._lock_path), timeout=self.lock_timeout):
                        yield
                except FileLockTimeout:
                    raise self._busy() from None
            else:  # in-memory SQLite: one process only
                yield
        finally:
            self._thread_lock.release()

    def _busy(self) -> TransientError:
        return TransientError(
            "Một tiến trình khác đang làm mới token Zalo quá lâu; sẽ thử lại sau.",
            platform=PLATFORM,
        )


# ------------------------------------------------------------------ a pair given by staff


@dataclass(frozen=True)
class PairTrial:
    """What ``zalo token set`` did with a pair, having tried it on Zalo first.

    ``stored`` is None when Zalo refused the pair (nothing was written: a refused pair
    would replace whatever pair is stored, and cut off an OA that may still work).
    ``untested`` is a warning when Zalo could not be asked (network, a refusal that is
    not the token's): the pair is stored then, since it is most often the only one.
    """

    stored: StoredPair | None
    oa_name: str | None = None
    refused: str | None = None
    untested: str | None = None


#: refusals that condemn the pair itself (or the secret every call is signed with)
_REFUSING = (AuthError,)
_BAD_PROOF = -242


def set_pair_after_trying(
    store: DbTokenStore, access_token: str, refresh_token: str, *, channel: Any = None
) -> PairTrial:
    """Try the access token with one cheap authenticated call (the OA's profile, which
    changes nothing and leaves the single-use refresh token unspent), then store the pair
    unless Zalo refused it."""
    from ..channels.zalo import ZaloChannel

    register_secret(access_token)
    register_secret(refresh_token)
    zalo = channel or ZaloChannel(store.settings, tokens=store)
    keep = "Chưa lưu gì: cặp token đang lưu (nếu có) vẫn giữ nguyên."
    try:
        profile = zalo.oa_profile(token=access_token)
    except _REFUSING as exc:
        log.warning("Zalo refused the pair given by staff: code %s", exc.code)
        return PairTrial(
            None,
            refused=(
                f"Zalo không nhận token truy cập vừa nhập (mã {exc.code}): token sai, đã hết hạn "
                "(25 giờ sau khi cấp) hoặc thuộc ứng dụng khác. "
                f"{keep} Lấy cặp token mới ở API Explorer trên developers.zalo.me (chọn ứng dụng "
                "ZALO_APP_ID và OA của thị xã) rồi chạy lại lệnh này."
            ),
        )
    except ChannelError as exc:
        if exc.code == _BAD_PROOF:
            return PairTrial(
                None,
                refused=(
                    "Zalo từ chối chữ ký appsecret_proof: ZALO_APP_SECRET trong .env không phải "
                    f"khóa bí mật của ứng dụng ZALO_APP_ID. {keep} Sửa ZALO_APP_SECRET rồi chạy "
                    "lại lệnh này."
                ),
            )
        stored = store.set_pair(access_token, refresh_token)
        return PairTrial(
            stored,
            untested=(
                f"Chưa thử được cặp token với Zalo ({exc.platform_message}). Đã lưu cặp token; "
                "khi Zalo trả lời được, chạy 'social-publisher doctor' để kiểm tra."
            ),
        )
    name = profile.get("name")
    stored = store.set_pair(access_token, refresh_token)
    return PairTrial(stored, oa_name=str(name) if name else None)
