"""What went wrong outside the program, said so staff can fix it themselves.

A failure of the machine or its setup (a full disk, a read-only or damaged
database, a PostgreSQL server that is down, a symlink that loops) is not a
bug: the command line and the daemon show it as a Vietnamese cause and fix
instead of "unexpected error" with an English exception text.
"""

from __future__ import annotations

import errno

from sqlalchemy.exc import SQLAlchemyError

from ..config import Settings
from ..errors import redact
from ..store.db import describe_db_error


def explain(exc: BaseException, settings: Settings | None = None) -> str | None:
    """Vietnamese cause and fix for ``exc`` when it is the machine's, else None."""
    if isinstance(exc, SQLAlchemyError):
        return describe_db_error(exc, settings.database_url if settings else "")
    if isinstance(exc, OSError):
        return _os_error(exc)
    return None


def _os_error(exc: OSError) -> str | None:
    name = redact(str(exc.filename)) if exc.filename else "tệp"
    if exc.errno == errno.ENOSPC:
        return (
            f"Ổ đĩa đầy: không ghi được {name}. Giải phóng chỗ trống trên ổ đó (xóa tệp không "
            "cần, dọn thư mục logs và data/media_cache), rồi chạy lại."
        )
    if exc.errno == errno.ELOOP:
        return (
            f"{name} là lối tắt (symlink) trỏ vòng về chính nó: xóa lối tắt đó hoặc sửa lại "
            "cho trỏ tới thư mục/tệp thật, rồi chạy lại."
        )
    if exc.errno == errno.EROFS:
        return (
            f"Ổ đĩa chứa {name} chỉ cho đọc: chọn thư mục trên ổ ghi được (trong tệp .env), "
            "rồi chạy lại."
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"Không có quyền truy cập {name}: cấp quyền đọc/ghi cho tài khoản chạy "
            "social-publisher, rồi chạy lại."
        )
    return None
