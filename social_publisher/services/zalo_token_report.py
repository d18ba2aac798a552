"""What staff are told about the Zalo token: ``zalo token show``, ``doctor``, ``status``.

Ages, expiry dates and warnings only, never a token. The rotation itself is
:mod:`social_publisher.services.zalo_tokens`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..channels.base import Diagnosis
from ..config import Settings
from ..store import Database, PlatformToken
from .zalo_tokens import (
    PLATFORM,
    RECONSENT,
    REFRESH_LIFETIME,
    REFRESH_WARN_AFTER,
    SET_COMMAND,
    StoredPair,
    _local,
    account_name,
)


def describe(
    pair: StoredPair | None, db: Database, settings: Settings, now: datetime
) -> dict[str, Any]:
    """Ages and expiry of the stored pair, never the tokens (``zalo token show``)."""
    if pair is None:
        return {"stored": False, "warnings": token_warnings(db, settings, now)}
    out: dict[str, Any] = {
        "stored": True,
        "generation": pair.generation,
        "has_refresh_token": bool(pair.refresh_token),
        "access_expires_at": _iso(pair.access_expires_at),
        "access_expired": bool(pair.access_expires_at and now >= pair.access_expires_at),
        "refresh_issued_at": _iso(pair.refresh_issued_at),
        "refresh_age_days": (
            round((now - pair.refresh_issued_at).total_seconds() / 86400, 1)
            if pair.refresh_issued_at
            else None
        ),
        "refresh_expires_at": _iso(
            pair.refresh_issued_at + REFRESH_LIFETIME if pair.refresh_issued_at else None
        ),
        "refresh_started_at": _iso(pair.refresh_started_at),
        "last_error": pair.last_error,
        "warnings": token_warnings(db, settings, now),
    }
    return out


def diagnoses(
    pair: StoredPair | None, db: Database, settings: Settings, now: datetime
) -> list[Diagnosis]:
    """``doctor`` lines about the token (used by ``ZaloChannel.diagnose``)."""
    warnings = token_warnings(db, settings, now)
    if pair is None and not warnings:
        return [
            Diagnosis(
                "zalo.token",
                True,
                "Chưa có token trong cơ sở dữ liệu: sẽ dùng ZALO_ACCESS_TOKEN / "
                "ZALO_REFRESH_TOKEN trong .env ở lần chạy đầu.",
            )
        ]
    if pair is None:
        return [Diagnosis("zalo.token", False, " ".join(warnings))]
    if warnings:
        failed = bool(pair.last_error) or not pair.refresh_token
        return [Diagnosis("zalo.token", not failed, " ".join(warnings), warning=not failed)]
    assert pair.refresh_issued_at is not None
    expires = pair.refresh_issued_at + REFRESH_LIFETIME
    return [
        Diagnosis(
            "zalo.token",
            True,
            f"Token Zalo (thế hệ {pair.generation}) đã lưu, còn hạn; mã làm mới hết hạn "
            f"{_local(expires, settings)} nếu không được làm mới.",
        )
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def token_warnings(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Vietnamese warnings about the Zalo token for ``status`` and ``doctor`` (empty: all fine).

    Warns from day 80 of the refresh token's 90 (the daemon rotates it daily, so an
    old one means the daemon has not run for weeks), when it has expired, when a
    refresh was cut short, and when the last refresh failed.
    """
    if not settings.zalo_enabled:
        return []
    with db.session() as session:
        row = session.scalars(
            select(PlatformToken).where(
                PlatformToken.platform == PLATFORM, PlatformToken.account == account_name(settings)
            )
        ).one_or_none()
        pair = StoredPair.of(row) if row else None
    if pair is None:
        if settings.zalo_refresh_token or settings.zalo_access_token:
            return []
        return [
            "Zalo: chưa có token OA. Lấy cặp access token + refresh token (API Explorer trên "
            f"developers.zalo.me) rồi chạy lệnh {SET_COMMAND}."
        ]
    warnings: list[str] = []
    if pair.last_error:
        warnings.append(f"Zalo: {pair.last_error}")
    elif pair.refresh_started_at is not None:
        warnings.append(
            f"Zalo: lần làm mới token lúc {_local(pair.refresh_started_at, settings)} chưa hoàn "
            "tất (có thể máy bị tắt giữa chừng). Lần chạy tới sẽ tự thử lại; nếu Zalo từ chối, "
            "cần cấp lại quyền cho ứng dụng."
        )
    if not pair.refresh_token:
        warnings.append(
            "Zalo: không có mã làm mới (refresh token), token truy cập sẽ hết hạn và không tự "
            f"làm mới được. Nhập đủ cặp token bằng lệnh {SET_COMMAND}."
        )
    elif pair.refresh_issued_at is not None:
        age = now - pair.refresh_issued_at
        expires = pair.refresh_issued_at + REFRESH_LIFETIME
        if age >= REFRESH_LIFETIME:
            warnings.append(
                f"Zalo: mã làm mới token đã hết hạn ngày {expires.astimezone(settings.tz):%d/%m/%Y}"
                f" (90 ngày không được làm mới). {RECONSENT}"
            )
        elif age >= REFRESH_WARN_AFTER:
            warnings.append(
                f"Zalo: mã làm mới token đã {age.days} ngày tuổi và sẽ hết hạn ngày "
                f"{expires.astimezone(settings.tz):%d/%m/%Y}: chạy ngay lệnh "
                "`social-publisher zalo token refresh` (hoặc để daemon chạy) để có mã mới, "
                "nếu không sẽ phải cấp lại quyền."
            )
    return warnings
