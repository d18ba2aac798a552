"""``init``: create (or upgrade) the database, a ``.env`` from the template, the queue folder
with the staff guide in it, and an agencies file; what already exists is kept."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import Settings
from ..platforms import PLATFORM_NAMES
from ..store import Database
from . import Context


def template_text() -> str:
    """The settings template: the checkout's copy if present, else the packaged one."""
    local = Path("config.example.env")
    if local.is_file():
        return local.read_text(encoding="utf-8")
    return (resources.files("social_publisher") / "data" / "config.example.env").read_text(
        encoding="utf-8"
    )


def packaged(name: str) -> bytes:
    """A file shipped in the package's ``data`` folder (a test keeps each one identical to
    the checkout's copy: the staff guide, the example agencies file)."""
    return (resources.files("social_publisher") / "data" / name).read_bytes()


def _staff_files(settings: Settings, ctx: Context) -> None:
    """The staff guide in the queue folder and an agencies file, where missing: a new install
    has what staff read and what ``Chia sẻ`` is checked against."""
    guide = settings.queue_dir / "README.md"
    if guide.exists():
        ctx.print(f"Giữ nguyên hướng dẫn cho cán bộ có sẵn: {guide}")
    else:
        guide.write_bytes(packaged("content_queue_README.md"))
        ctx.print(
            f"Đã chép hướng dẫn cho cán bộ vào {guide} (cách viết bài, ghi ngày giờ, các lỗi "
            "thường gặp)."
        )
    agencies = settings.agencies_file
    if agencies.exists():
        ctx.print(f"Giữ nguyên danh sách đơn vị có sẵn: {agencies}")
    else:
        agencies.parent.mkdir(parents=True, exist_ok=True)
        agencies.write_bytes(packaged("agencies.csv"))
        ctx.print(
            f"Đã tạo danh sách đơn vị {agencies} từ mẫu (các xã, phường, phòng ban của thị xã "
            "Đức Phổ): kiểm tra lại tên đơn vị và thêm địa chỉ Trang Facebook (cột fb_page_url) "
            "của từng đơn vị."
        )


def _unit_files(settings: Settings, ctx: Context, env_path: Path) -> None:
    _staff_files(settings, ctx)
    for channel, label in PLATFORM_NAMES.items():
        missing = settings.missing_for(channel)
        if missing:
            ctx.print(f"Kênh {label} đang tắt: chưa có {', '.join(missing)} trong {env_path}.")
        else:
            ctx.print(f"Kênh {label}: đã cấu hình.")


def run(args: argparse.Namespace, ctx: Context) -> int:
    env_path = Path(args.env_file)
    if env_path.exists():
        ctx.print(f"Giữ nguyên tệp cấu hình có sẵn: {env_path}")
    else:
        env_path.write_text(template_text(), encoding="utf-8")
        ctx.print(
            f"Đã tạo tệp cấu hình {env_path} từ mẫu: hãy mở và điền thông tin Fanpage, Zalo OA."
        )
    settings = ctx.install_settings
    database = Database(settings.database_url)
    try:
        before = database.current_revision()
        notes = database.upgrade(repair=True)  # a database half made by an older release
        after = database.current_revision()
    finally:
        database.dispose()
    for note in notes:
        ctx.print(note)
    if before is None:
        ctx.print(f"Đã tạo cơ sở dữ liệu {database.safe_url} (phiên bản {after}).")
    elif before != after:
        ctx.print(f"Đã nâng cấp cơ sở dữ liệu {database.safe_url}: {before} → {after}.")
    else:
        ctx.print(f"Cơ sở dữ liệu {database.safe_url} đã ở phiên bản mới nhất ({after}).")
    units = ctx.chosen_units()
    for folder in [*(u.settings.queue_dir for u in units), settings.log_dir]:
        if not folder.exists():
            folder.mkdir(parents=True)
            ctx.print(f"Đã tạo thư mục {folder}")
    for unit in units:  # each unit's staff guide, agencies file and channels
        if settings.units_file is not None:
            ctx.print(f"Đơn vị {unit.id} ({unit.name}):")
        _unit_files(unit.settings, ctx, env_path)
    return 0


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "init",
        help="tạo cơ sở dữ liệu, tệp .env, thư mục hàng đợi kèm hướng dẫn và danh sách đơn vị "
        "(nếu chưa có)",
    )
    parser.set_defaults(handler=run)
