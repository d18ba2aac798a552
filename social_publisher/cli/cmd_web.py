"""``web``: the staff web console; ``web user add|passwd|remove|list``: its accounts.

The console's modules (Starlette, Jinja2, uvicorn, argon2) are imported only here, when
a ``web`` command runs: every other command, and the daemon without ``--web``, loads none
of them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from . import Context


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "web",
        help="trang quản trị trên trình duyệt: lịch, soạn bài, duyệt bài, xử lý lỗi",
        description=(
            "Chạy trang quản trị (mặc định http://127.0.0.1:8080, cấu hình WEB_HOST, "
            "WEB_PORT). Tài khoản: 'web user add'."
        ),
    )
    parser.add_argument("--host", help="địa chỉ lắng nghe (mặc định: WEB_HOST)")
    parser.add_argument("--port", type=int, help="cổng (mặc định: WEB_PORT)")
    parser.set_defaults(handler=run_web)
    web_sub = parser.add_subparsers(dest="web_command", metavar="LỆNH")
    user = web_sub.add_parser("user", help="tài khoản trang quản trị")
    user_sub = user.add_subparsers(dest="user_command", metavar="LỆNH")

    add = user_sub.add_parser("add", help="thêm tài khoản (hỏi mật khẩu)")
    add.add_argument("name", metavar="NAME", help="tên đăng nhập, ví dụ vthung")
    add.add_argument(
        "--role",
        required=True,
        choices=["staff", "approver", "admin"],
        help="staff: soạn bài; approver: thêm duyệt, đăng ngay, gỡ bài; admin: thêm mở lại kênh",
    )
    add.add_argument("--full-name", required=True, help="họ và tên, ví dụ 'Võ Thanh Hùng'")
    add.add_argument(
        "--unit",
        metavar="ID",
        dest="unit_here",
        default=None,
        help="tài khoản của một đơn vị (xã, phường): chỉ xem và làm việc với bài của đơn vị đó",
    )
    add.add_argument(
        "--all-units",
        action="store_true",
        help="tài khoản cấp tỉnh, xem mọi đơn vị (bắt buộc chọn khi bản cài có nhiều đơn vị)",
    )
    add.set_defaults(handler=run_user, action="add")

    passwd = user_sub.add_parser("passwd", help="đổi mật khẩu (các phiên đang mở bị đăng xuất)")
    passwd.add_argument("name", metavar="NAME")
    passwd.set_defaults(handler=run_user, action="passwd")

    remove = user_sub.add_parser("remove", help="xóa tài khoản (bản duyệt cũ vẫn được lưu)")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=run_user, action="remove")

    listing = user_sub.add_parser("list", help="liệt kê tài khoản")
    listing.set_defaults(handler=run_user, action="list")

    def no_command(args: argparse.Namespace, ctx: Context) -> int:
        user.print_help(ctx.out)
        return 2

    user.set_defaults(handler=no_command)


def run_web(args: argparse.Namespace, ctx: Context) -> int:
    from ..services.logs import setup_logging

    try:
        from ..web.server import serve
    except ImportError as exc:
        ctx.error(
            f"Thiếu thư viện của trang quản trị ({exc.name}): chạy lại "
            "'pip install -e .' trong thư mục cài đặt."
        )
        return 1
    from ..services.alert_daemon import install_listener

    units = ctx.chosen_units()  # every unit, or the one --unit names
    settings = units[0].settings if len(units) == 1 else ctx.install_settings
    setup_logging(settings.log_dir, console=ctx.err)
    install_listener(settings)  # staff actions here (a channel reopened) write their alerts
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    ctx.print(f"Trang quản trị: http://{host}:{port}/ (dừng bằng Ctrl+C)")
    return serve(settings, ctx.install_db, host=host, port=port, units=units)


def _password(ctx: Context) -> str:
    if not sys.stdin.isatty():  # a script pipes it (twice is not needed then)
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Mật khẩu mới: ")
    again = getpass.getpass("Nhập lại mật khẩu: ")
    if first != again:
        raise ValueError("Hai lần nhập mật khẩu không giống nhau.")
    return first


def run_user(args: argparse.Namespace, ctx: Context) -> int:
    from datetime import UTC, datetime

    from ..services import accounts
    from ..services.scope import ROLE_LABELS

    now = datetime.now(UTC)
    actor = f"cli:{getpass.getuser()}" if hasattr(getpass, "getuser") else "cli"
    db = ctx.install_db.everywhere()  # accounts are the install's; a ward's names its unit
    try:
        if args.action == "list":
            rows = accounts.accounts(db)
            if not rows:
                ctx.print("Chưa có tài khoản nào. Thêm bằng 'social-publisher web user add'.")
            names = {u.id: u.name for u in ctx.units}
            for row in rows:
                last = (
                    row.last_login_at.isoformat(timespec="minutes") if row.last_login_at else "chưa"
                )
                role = ROLE_LABELS[row.role]
                if row.unit is not None:
                    name = names.get(row.unit, "không còn trong UNITS_FILE")
                    role += f"  đơn vị: {row.unit} ({name})"
                elif len(ctx.units) > 1:
                    role += "  đơn vị: mọi đơn vị"
                ctx.print(f"{row.name}  {row.full_name}  {role}  đăng nhập: {last}")
            return 0
        if args.action == "remove":
            accounts.remove(db, args.name, now=now, actor=actor)
            ctx.print(f"Đã xóa tài khoản {args.name}.")
            return 0
        if args.action == "add":  # a wrong unit is said before the password is asked
            accounts.check_unit(ctx.unit_id, ctx.units, all_units=args.all_units)
        password = _password(ctx)
        if args.action == "add":
            info = accounts.add(
                db, args.name, full_name=args.full_name, role=args.role, password=password,
                now=now, actor=actor, unit=ctx.unit_id, units=ctx.units,
                all_units=args.all_units,
            )  # fmt: skip
            role = ROLE_LABELS[info.role]
            if info.unit is not None:
                role += f", đơn vị {info.unit}"
            elif len(ctx.units) > 1:
                role += ", mọi đơn vị"
            ctx.print(f"Đã thêm tài khoản {info.name} ({info.full_name}, {role}).")
        else:
            accounts.set_password(db, args.name, password, now=now, actor=actor)
            ctx.print(f"Đã đổi mật khẩu của {args.name}; các phiên đang mở đã bị đăng xuất.")
    except ValueError as exc:
        ctx.error(f"Lỗi: {exc}")
        return 1
    return 0
