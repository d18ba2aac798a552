"""``units``: list the units of the install and check the units file."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..units import Unit, load_units
from . import Context


def _channel(unit: Unit, channel: str) -> str:
    missing = unit.settings.missing_for(channel)
    return "bật" if not missing else "tắt (thiếu " + ", ".join(missing) + ")"


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings = ctx.install_settings
    units = load_units(settings)
    if args.json:
        rows = [
            {
                "id": u.id,
                "name": u.name,
                "queue_dir": str(u.settings.queue_dir),
                "agencies_file": str(u.settings.agencies_file),
                "facebook": u.settings.facebook_enabled,
                "zalo": u.settings.zalo_enabled,
                "line": u.line,
            }
            for u in units
        ]
        ctx.print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if settings.units_file is None:
        ctx.print("Bản cài có một đơn vị (chưa đặt UNITS_FILE): dùng các cài đặt trong .env.")
    else:
        ctx.print(f"Tệp đơn vị {settings.units_file}: {len(units)} đơn vị, không có lỗi.")
    for unit in units:
        ctx.print(f"- {unit.id}: {unit.name}")
        ctx.print(f"    Thư mục hàng đợi: {unit.settings.queue_dir}")
        ctx.print(f"    Danh sách đơn vị chia sẻ: {unit.settings.agencies_file}")
        ctx.print(f"    Facebook: {_channel(unit, 'facebook')}")
        ctx.print(f"    Zalo: {_channel(unit, 'zalo')}")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "units",
        help="liệt kê các đơn vị (xã, phường, cơ quan) của bản cài và kiểm tra tệp đơn vị",
        description=(
            "Đọc UNITS_FILE, kiểm tra từng đơn vị (id, tên, cài đặt, tên biến chứa mã bí mật) "
            "và in thư mục hàng đợi, kênh bật/tắt của mỗi đơn vị."
        ),
    )
    parser.add_argument("--json", action="store_true", help="in kết quả dạng JSON")
    parser.set_defaults(handler=run)
