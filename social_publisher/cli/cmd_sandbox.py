"""``sandbox [--port N] [--faults SPEC] [--public-dir DIR] [--legacy-app]``: the local Graph +
Zalo emulator (by default as strict as Graph is for an app created after 4 Nov 2026)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import Context

if TYPE_CHECKING:
    from ..sandbox import Sandbox

DEFAULT_PORT = 8787


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "sandbox",
        help="chạy giả lập Facebook Graph + Zalo OA trên máy này (tập huấn, thử nghiệm)",
        description=(
            "Giả lập Fanpage Facebook và Zalo OA tại 127.0.0.1, cùng một cổng. Dừng bằng Ctrl+C."
        ),
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="cổng (mặc định 8787)")
    parser.add_argument(
        "--faults",
        default="",
        help="lỗi giả lập, ví dụ 'graph.create=drop:0.2,zalo.create=500:0.1' (x1: đúng một lần)",
    )
    parser.add_argument(
        "--public-dir",
        type=Path,
        default=None,
        help="thư mục ảnh công khai giả lập phục vụ tại /media (PUBLIC_MEDIA_DIR)",
    )
    parser.add_argument(
        "--legacy-app",
        action="store_true",
        help="giả lập ứng dụng Facebook tạo trước 04/11/2026 (còn được dùng ?ids=, bí danh "
        "trường, date_format, method=, JSONP); mặc định: ứng dụng mới, bị từ chối các tính năng đó",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    # Imported here: every command (the daemon too) builds the parser, and the emulator
    # is only for this command and the demo.
    from ..sandbox import serve_forever
    from ..sandbox.faults import parse_spec

    try:
        parse_spec(args.faults)
    except ValueError as exc:
        ctx.error(f"Lỗi: --faults không hợp lệ: {exc}")
        return 2
    if args.public_dir is not None:
        args.public_dir.mkdir(parents=True, exist_ok=True)

    def ready(sandbox: Sandbox) -> None:
        ctx.print(f"Giả lập đang chạy tại {sandbox.url} (dừng bằng Ctrl+C).")
        ctx.print("Để công cụ dùng giả lập, đặt các dòng sau trong tệp .env:")
        for name, value in sorted(sandbox.env().items()):
            ctx.print(f"{name}={value}")
        if args.public_dir is None:
            ctx.print(
                "# Bài Zalo có ảnh cần thư mục ảnh công khai: chạy lại với --public-dir THƯ_MỤC."
            )
        if args.faults:
            ctx.print(f"# Lỗi giả lập đang bật: {args.faults}")
        if args.legacy_app:
            ctx.print("# Giả lập ứng dụng Facebook cũ (tạo trước 04/11/2026).")
        ctx.print(f"# Xem trạng thái giả lập: {sandbox.url}/__sandbox/state")
        out = getattr(ctx.out, "flush", None)
        if out is not None:
            out()

    serve_forever(
        "127.0.0.1",
        args.port,
        faults=args.faults or None,
        public_dir=args.public_dir,
        on_ready=ready,
        **({"graph_legacy_app": True} if args.legacy_app else {}),
    )
    return 0
