"""Who is asking, and what they may see and do: the one object every console service takes.

The web console hands a :class:`Scope` to each service call instead of a bare account
name. A ward's account (``unit`` set) sees and acts on its unit's posts only: the console
gives its services that unit's database handle (whose sessions see no other unit's row),
and :meth:`Scope.posts` and :meth:`Scope.can` say the same again, so a service handed the
wrong handle still shows nothing of another unit. A province account (``unit`` None) sees
every unit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import true
from sqlalchemy.sql import ColumnElement


class Role(enum.StrEnum):
    STAFF = "staff"
    APPROVER = "approver"
    ADMIN = "admin"


ROLE_LABELS = {
    Role.STAFF: "cán bộ",
    Role.APPROVER: "người duyệt",
    Role.ADMIN: "quản trị",
}


class Permission(enum.StrEnum):
    VIEW = "view"
    WRITE = "write"  # compose and edit posts
    APPROVE = "approve"
    RETRY = "retry"
    WITHDRAW = "withdraw"
    PUBLISH_NOW = "publish_now"
    TAKE_DOWN = "take_down"
    REOPEN_CHANNEL = "reopen_channel"
    REPORT = "report"


P = Permission
#: what each role may do; an approver is also a staff member, an admin also an approver
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.STAFF: frozenset({P.VIEW, P.WRITE, P.RETRY, P.WITHDRAW, P.REPORT}),
    Role.APPROVER: frozenset(
        {P.VIEW, P.WRITE, P.RETRY, P.WITHDRAW, P.REPORT, P.APPROVE, P.PUBLISH_NOW, P.TAKE_DOWN}
    ),
    Role.ADMIN: frozenset(Permission),
}

#: what a refusal tells the person (Vietnamese)
PERMISSION_LABELS = {
    P.VIEW: "xem",
    P.WRITE: "soạn và sửa bài",
    P.APPROVE: "duyệt bài",
    P.RETRY: "thử lại bài lỗi",
    P.WITHDRAW: "rút bài",
    P.PUBLISH_NOW: "đăng ngay",
    P.TAKE_DOWN: "gỡ bài đã đăng",
    P.REOPEN_CHANNEL: "mở lại kênh bị tạm dừng",
    P.REPORT: "xuất báo cáo",
}


class NotAllowed(PermissionError):
    """The account's role does not allow the action (the message is for the person)."""

    def __init__(self, scope: Scope, permission: Permission) -> None:
        self.message = (
            f"Tài khoản {scope.account} ({ROLE_LABELS[scope.role]}) không có quyền "
            f"{PERMISSION_LABELS[permission]}. Nhờ người duyệt hoặc quản trị làm việc này."
        )
        super().__init__(self.message)


@dataclass(frozen=True)
class Scope:
    """A logged-in account: its name, its role, and its unit."""

    account: str
    full_name: str
    role: Role
    #: the unit (đơn vị) the account works for; None: every unit of the install (a province
    #: account, and every account of a one-unit install made before units)
    unit: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log and the attempts name this account."""
        return f"web:{self.account}"

    def sees(self, unit: str | None) -> bool:
        """Whether the account works for ``unit`` (None: the install-wide view)."""
        return self.unit is None or self.unit == unit

    def can(self, permission: Permission, unit: str | None = None) -> bool:
        """The role grants ``permission`` and, given a unit, the account works for it."""
        if unit is not None and not self.sees(unit):
            return False
        return permission in GRANTS[self.role]

    def require(self, permission: Permission, unit: str | None = None) -> None:
        if not self.can(permission, unit):
            raise NotAllowed(self, permission)

    def posts(self, post_table: Any) -> ColumnElement[bool]:
        """SQL: the posts this scope sees (a ward account: its unit's only)."""
        if self.unit is None:
            return true()
        result: ColumnElement[bool] = post_table.unit_id == self.unit
        return result
