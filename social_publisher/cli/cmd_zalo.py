"""``zalo token set|refresh|show``: the OA's token pair, which the database keeps rotating.

Tokens are read from a hidden prompt (or stdin when not a terminal), never
echoed, printed or logged: ``show`` prints only ages and expiry dates. ``set``
tries the pair on Zalo first (``services.zalo_tokens.set_pair_after_trying``)
and stores nothing Zalo refuses.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime
from typing import Any

from ..config import Settings
from ..errors import register_secret
from ..numbers import vn_decimal
from ..services.daemon import zalo_token_store
from ..services.zalo_tokens import DbTokenStore, set_pair_after_trying
from . import Context


def _store(ctx: Context) -> DbTokenStore | None:
    missing = ctx.settings.missing_for("zalo")
    if missing:
        ctx.error(
            f"Kênh Zalo đang tắt: thiếu {', '.join(missing)} trong tệp {ctx.env_file}. "
            "Điền ID và khóa bí mật của ứng dụng Zalo (developers.zalo.me) rồi chạy lại."
        )
        return None
    return zalo_token_store(ctx.db, ctx.settings)


def _local(value: str | None, settings: Settings) -> str:
    if not value:
        return "không rõ"
    return f"{datetime.fromisoformat(value).astimezone(settings.tz):%H:%M %d/%m/%Y}"


def _read_pair() -> tuple[str, str]:
    """Access token then refresh token: hidden prompts on a terminal, two lines otherwise."""
    if sys.stdin is not None and sys.stdin.isatty():
        access = getpass.getpass("Access token (không hiện khi gõ/dán): ")
        refresh = getpass.getpass("Refresh token (không hiện khi gõ/dán): ")
    else:
        lines = [line.strip() for line in (sys.stdin.read() if sys.stdin else "").splitlines()]
        lines = [line for line in lines if line]
        access = lines[0] if lines else ""
        refresh = lines[1] if len(lines) > 1 else ""
    access, refresh = access.strip(), refresh.strip()
    register_secret(access)
    register_secret(refresh)
    return access, refresh


def run_set(args: argparse.Namespace, ctx: Context) -> int:
    store = _store(ctx)
    if store is None:
        return 1
    access, refresh = _read_pair()
    problems = []
    if not access or not refresh:
        problems.append(
            "cần đủ 2 dòng: dòng 1 là access token, dòng 2 là refresh token (lấy ở API Explorer "
            "trên developers.zalo.me, chọn OA của thị xã)"
        )
    if any(ch.isspace() for ch in access + refresh):
        problems.append("token không được chứa khoảng trắng: hãy dán lại, mỗi token trên một dòng")
    if problems:
        ctx.error("Không lưu token Zalo: " + "; ".join(problems) + ".")
        return 2
    trial = set_pair_after_trying(store, access, refresh)
    if trial.stored is None:
        ctx.error(f"Không lưu token Zalo: {trial.refused}")
        return 1
    stored = trial.stored
    if trial.oa_name:
        ctx.print(f"Zalo đã nhận cặp token: đây là OA “{trial.oa_name}”.")
    info = store.describe()
    ctx.print(
        f"Đã lưu cặp token Zalo (thế hệ {stored.generation}). Token truy cập hết hạn lúc "
        f"{_local(info['access_expires_at'], ctx.settings)}; mã làm mới hết hạn lúc "
        f"{_local(info['refresh_expires_at'], ctx.settings)} nếu không được làm mới. "
        "Daemon tự làm mới cặp token khoảng mỗi 20 giờ."
    )
    if trial.untested:
        ctx.print(f"Cảnh báo: {trial.untested}")
    return 0


def run_refresh(args: argparse.Namespace, ctx: Context) -> int:
    store = _store(ctx)
    if store is None:
        return 1
    store.force_refresh()
    info = store.describe()
    ctx.print(
        f"Đã làm mới token Zalo (thế hệ {info['generation']}). Token truy cập mới hết hạn lúc "
        f"{_local(info['access_expires_at'], ctx.settings)}."
    )
    return 0


def run_show(args: argparse.Namespace, ctx: Context) -> int:
    store = _store(ctx)
    if store is None:
        return 1
    info = store.describe()
    if args.json:
        ctx.print(json.dumps(info, ensure_ascii=False, indent=2))
        return 1 if info["warnings"] else 0
    settings = ctx.settings
    if not info["stored"]:
        ctx.print("Chưa có token Zalo trong cơ sở dữ liệu.")
    else:
        ctx.print(f"Thế hệ cặp token: {info['generation']}")
        expired = " (đã hết hạn)" if info["access_expired"] else ""
        ctx.print(
            f"Token truy cập hết hạn lúc: {_local(info['access_expires_at'], settings)}{expired}"
        )
        if info["has_refresh_token"]:
            ctx.print(
                f"Mã làm mới cấp lúc: {_local(info['refresh_issued_at'], settings)} "
                f"({vn_decimal(info['refresh_age_days'])} ngày trước); hết hạn lúc "
                f"{_local(info['refresh_expires_at'], settings)}"
            )
        else:
            ctx.print("Không có mã làm mới (refresh token).")
        if info["refresh_started_at"]:
            ctx.print("Lần làm mới dở dang từ lúc: " + _local(info["refresh_started_at"], settings))
    for warning in info["warnings"]:
        ctx.print(f"Cảnh báo: {warning}")
    return 1 if info["warnings"] else 0


def register(sub: Any) -> None:
    zalo: argparse.ArgumentParser = sub.add_parser("zalo", help="quản lý token Zalo OA")
    zalo_sub = zalo.add_subparsers(dest="zalo_command", metavar="LỆNH")
    token: argparse.ArgumentParser = zalo_sub.add_parser("token", help="cặp token của OA")
    token_sub = token.add_subparsers(dest="token_command", metavar="LỆNH")

    set_parser = token_sub.add_parser(
        "set",
        help="lưu cặp token đầu tiên (hoặc sau khi cấp lại quyền): access token rồi refresh token",
    )
    set_parser.set_defaults(handler=run_set)
    refresh_parser = token_sub.add_parser("refresh", help="làm mới cặp token ngay")
    refresh_parser.set_defaults(handler=run_refresh)
    show_parser = token_sub.add_parser(
        "show", help="xem hạn của token (không bao giờ in token ra màn hình)"
    )
    show_parser.add_argument("--json", action="store_true", help="in dạng JSON")
    show_parser.set_defaults(handler=run_show)
