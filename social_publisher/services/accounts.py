"""The web console's accounts: names, roles, argon2 password hashes, calendar-feed secrets.

Managed from the command line (``social-publisher web user add|passwd|remove``); the
console only logs in with them. Passwords are hashed with argon2id (argon2-cffi, its
recommended parameters); a hash made with older parameters is upgraded at the next
log-in. A password change bumps ``session_epoch``, which ends every other session of
the account. The calendar-feed secret is shown once and stored as its sha256.

An account belongs to one unit (``unit``: a ward's staff) or to every unit (NULL: a
province account); its :class:`~.scope.Scope` carries it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..config import Settings
from ..errors import SocialPublisherError
from ..store import AuditEvent, Database, Meta, WebAccount
from ..store.tenancy import INSTALL, install_options
from ..units import Unit
from .scope import ROLE_LABELS, Role, Scope

if TYPE_CHECKING:
    from argon2 import PasswordHasher

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,49}$")
PASSWORD_MIN = 10


class AccountError(SocialPublisherError):
    """A bad account name, role or password; the message says how to fix it."""


@dataclass(frozen=True)
class AccountInfo:
    id: int
    name: str
    full_name: str
    role: Role
    session_epoch: int
    has_feed: bool
    last_login_at: datetime | None
    #: the unit the account works for (None: every unit)
    unit: str | None = None

    def scope(self) -> Scope:
        return Scope(self.name, self.full_name, self.role, self.unit)


_HASHER: PasswordHasher | None = None


def _hasher() -> PasswordHasher:
    global _HASHER
    if _HASHER is None:
        from argon2 import PasswordHasher

        _HASHER = PasswordHasher()  # argon2id with the library's recommended parameters
    return _HASHER


def _info(row: WebAccount) -> AccountInfo:
    return AccountInfo(
        row.id,
        row.name,
        row.full_name,
        Role(row.role),
        row.session_epoch,
        row.feed_secret_sha256 is not None,
        row.last_login_at,
        row.unit,
    )


def _audit(
    session: object, actor: str, event: str, at: datetime, unit: str | None, **details: object
) -> None:
    """An account's audit row: in its unit's log, a province account's in the install's."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    session.add(
        AuditEvent(unit_id=unit or INSTALL, at=at, actor=actor, event=event, details=details)
    )


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise AccountError(
            f"Tên đăng nhập '{name}' không hợp lệ: dùng 2–50 chữ thường không dấu, số, dấu "
            "chấm, gạch ngang hoặc gạch dưới, ví dụ 'vthung' hoặc 'nguyen.an'."
        )
    return name


def check_role(role: str) -> Role:
    try:
        return Role(role.strip().lower())
    except ValueError:
        choices = ", ".join(f"{r.value} ({ROLE_LABELS[r]})" for r in Role)
        raise AccountError(f"Vai trò '{role}' không hợp lệ: dùng {choices}.") from None


def check_password(password: str, name: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"Mật khẩu cần ít nhất {PASSWORD_MIN} ký tự.")
    if name.casefold() in password.casefold():
        raise AccountError("Mật khẩu không được chứa tên đăng nhập.")
    return unicodedata.normalize("NFC", password)


def check_unit(
    unit: str | None, units: list[Unit] | None, *, all_units: bool = False
) -> str | None:
    """The account's unit: one of ``units`` by id, or None (every unit). In an install of
    several units a province account is asked for explicitly (``--all-units``), so a ward's
    staff member is never given every ward by a forgotten ``--unit``."""
    if units is None:
        return unit
    ids = ", ".join(u.id for u in units)
    if unit is not None and all_units:
        raise AccountError(
            "Chọn một trong hai: --unit ID (tài khoản của một đơn vị) hoặc --all-units (tài "
            "khoản cấp tỉnh, xem mọi đơn vị)."
        )
    if unit is None:
        if all_units or len(units) == 1:
            return None
        raise AccountError(
            f"Bản cài có {len(units)} đơn vị: thêm --unit ID cho tài khoản của một đơn vị (một "
            f"trong {ids}), hoặc --all-units cho tài khoản cấp tỉnh xem mọi đơn vị."
        )
    if not any(u.id == unit for u in units):
        raise AccountError(f"Không có đơn vị “{unit}” trong UNITS_FILE. Các đơn vị: {ids}.")
    return unit


def add(
    db: Database,
    name: str,
    *,
    full_name: str,
    role: str,
    password: str,
    now: datetime,
    actor: str,
    unit: str | None = None,
    units: list[Unit] | None = None,
    all_units: bool = False,
) -> AccountInfo:
    """A new account; ``units`` (the install's) checks ``unit`` (see :func:`check_unit`)."""
    name = check_name(name)
    chosen = check_role(role)
    unit = check_unit(unit, units, all_units=all_units)
    password = check_password(password, name)
    full = " ".join(unicodedata.normalize("NFC", full_name).split())
    if not full:
        raise AccountError("Cần họ và tên người dùng (--full-name), ví dụ 'Võ Thanh Hùng'.")
    with db.session() as session:
        if session.scalars(select(WebAccount).where(WebAccount.name == name)).first():
            raise AccountError(
                f"Đã có tài khoản '{name}'. Đổi mật khẩu bằng 'social-publisher web user "
                f"passwd {name}'."
            )
        row = WebAccount(
            name=name,
            full_name=full,
            role=chosen.value,
            password_hash=_hasher().hash(password),
            session_epoch=1,
            unit=unit,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        _audit(session, actor, "web_account_added", now, unit, account=name, role=chosen.value)
        return _info(row)


def set_password(db: Database, name: str, password: str, *, now: datetime, actor: str) -> None:
    name = check_name(name)
    password = check_password(password, name)
    with db.session() as session:
        row = _row(session, name)
        row.password_hash = _hasher().hash(password)
        row.session_epoch += 1
        row.updated_at = now
        _audit(session, actor, "web_password_changed", now, row.unit, account=name)


def remove(db: Database, name: str, *, now: datetime, actor: str) -> None:
    """Delete the account; its approvals and writes stay on record under its name."""
    with db.session() as session:
        row = _row(session, name.strip())
        session.delete(row)
        _audit(session, actor, "web_account_removed", now, row.unit, account=row.name)


def _row(session: object, name: str) -> WebAccount:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    row = session.scalars(select(WebAccount).where(WebAccount.name == name)).first()
    if row is None:
        raise AccountError(
            f"Không có tài khoản '{name}'. Xem danh sách bằng 'social-publisher web user list'."
        )
    return row


def accounts(db: Database) -> list[AccountInfo]:
    with db.session() as session:
        return [_info(r) for r in session.scalars(select(WebAccount).order_by(WebAccount.name))]


def get(db: Database, account_id: int) -> AccountInfo | None:
    with db.session() as session:
        row = session.get(WebAccount, account_id)
        return _info(row) if row is not None else None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so a wrong name costs as long as
    a wrong password (no telling which names exist from the response time)."""
    return _hasher().hash(secrets.token_hex(16))


def authenticate(db: Database, name: str, password: str, *, now: datetime) -> AccountInfo | None:
    """The account when the password is right, else None (same cost either way)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    with db.session() as session:
        row = session.scalars(select(WebAccount).where(WebAccount.name == name.strip())).first()
        try:
            hasher.verify(row.password_hash if row is not None else _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if hasher.check_needs_rehash(row.password_hash):
            row.password_hash = hasher.hash(password)
        row.last_login_at = now
        return _info(row)


def new_feed_secret(db: Database, account_id: int, *, now: datetime) -> str:
    """A new calendar-feed secret for the account (the old feed URL stops working)."""
    secret = secrets.token_urlsafe(32)
    with db.session() as session:
        row = session.get(WebAccount, account_id)
        if row is None:
            raise AccountError("Tài khoản không còn tồn tại.")
        row.feed_secret_sha256 = feed_digest(secret)
        row.updated_at = now
        _audit(session, f"web:{row.name}", "web_feed_secret_made", now, row.unit, account=row.name)
    return secret


def feed_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def by_feed_secret(db: Database, secret: str) -> AccountInfo | None:
    if not secret or len(secret) > 100:
        return None
    with db.session() as session:
        row = session.scalars(
            select(WebAccount).where(WebAccount.feed_secret_sha256 == feed_digest(secret))
        ).first()
        return _info(row) if row is not None else None


SESSION_KEY_META = "web:session_key"


def session_secret(db: Database, settings: Settings) -> str:
    """What signs the console's cookies: WEB_SECRET_KEY, else a random key kept in the
    database (made once), so sessions survive a restart and every console process agrees."""
    if settings.web_secret_key:
        return settings.web_secret_key
    from sqlalchemy.exc import IntegrityError

    for _ in range(2):
        with db.session() as session:
            row = session.get(
                Meta, (INSTALL, SESSION_KEY_META), execution_options=install_options()
            )
            if row is not None and row.value.get("key"):
                return str(row.value["key"])
        try:
            with db.session() as session:
                session.add(
                    Meta(
                        unit_id=INSTALL,
                        key=SESSION_KEY_META,
                        value={"key": secrets.token_urlsafe(48)},
                    )
                )
        except IntegrityError:  # another process made it first
            continue
    with db.session() as session:
        row = session.get(Meta, (INSTALL, SESSION_KEY_META), execution_options=install_options())
        assert row is not None
        return str(row.value["key"])


def use_hasher(hasher: PasswordHasher | None) -> None:
    """Tests: a cheaper argon2 (the real library, lighter parameters); None: the default."""
    global _HASHER
    _HASHER = hasher
    _dummy_hash.cache_clear()
