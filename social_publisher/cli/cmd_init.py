"""``init``: create (or upgrade) the database and a ``.env`` from the template."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

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


def run(args: argparse.Namespace, ctx: Context) -> int:
    env_path = Path(args.env_file)
    if env_path.exists():
        ctx.print(f"Giữ nguyên tệp cấu hình có sẵn: {env_path}")
    else:
        env_path.write_text(template_text(), encoding="utf-8")
        ctx.print(
            f"Đã tạo tệp cấu hình {env_path} từ mẫu: hãy mở và điền thông tin Fanpage, Zalo OA."
        )
    settings = ctx.settings
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
    for folder in (settings.queue_dir, settings.log_dir):
        if not folder.exists():
            folder.mkdir(parents=True)
            ctx.print(f"Đã tạo thư mục {folder}")
    for channel, label in (("facebook", "Facebook"), ("zalo", "Zalo OA")):
        missing = settings.missing_for(channel)
        if missing:
            ctx.print(f"Kênh {label} đang tắt: chưa có {', '.join(missing)} trong {env_path}.")
        else:
            ctx.print(f"Kênh {label}: đã cấu hình.")
    return 0


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "init", help="tạo cơ sở dữ liệu và tệp .env từ mẫu (nếu chưa có)"
    )
    parser.set_defaults(handler=run)
