"""``demo``: the whole pipeline on the example posts against the built-in sandbox."""

from __future__ import annotations

import argparse
from typing import Any

from . import Context


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="chạy thử toàn bộ quy trình với bài mẫu trên giả lập (không cần tài khoản)",
        description=(
            "Khởi động giả lập Facebook + Zalo trên máy này, chép các bài mẫu trong "
            "content_queue/ vào thư mục tạm, đăng tất cả rồi in đường dẫn từng bài."
        ),
    )
    parser.add_argument(
        "--keep", action="store_true", help="giữ lại thư mục tạm (cơ sở dữ liệu, nhật ký)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from ..services.demo import run_demo  # the sandbox comes with it: only for this command

    return run_demo(ctx.print, keep=args.keep, console=ctx.err)
