"""``run [--once]``: the daemon, or one full pass."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import Settings
from ..services.cluster import ClusterMember
from ..services.daemon import (
    Daemon,
    PassContext,
    PassResult,
    build_context,
    daemon_lock,
    run_pass,
    utcnow,
)
from ..services.fleet import Fleet, build_fleet
from ..services.logs import setup_logging
from . import Context


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="chạy tiến trình nền: đăng bài đúng giờ lên Facebook và Zalo",
        description=(
            "Chạy liên tục: quét hàng đợi mỗi TICK_SECONDS giây, đăng bài đúng giờ hẹn, "
            "thử lại khi lỗi, xác nhận bài đã lên trang. Dừng bằng Ctrl+C."
        ),
    )
    parser.add_argument(
        "--once", action="store_true", help="chạy đúng một lượt rồi thoát (dùng cho lịch chạy)"
    )
    parser.add_argument(
        "--web",
        action="store_true",
        help="chạy cả trang quản trị trong cùng tiến trình (WEB_HOST, WEB_PORT)",
    )
    parser.set_defaults(handler=run)


def summary(result: PassResult) -> str:
    steps = result.steps
    parts = [
        f"đã đăng {len(steps.published)}",
        f"hẹn giờ Facebook {len(steps.scheduled)}",
        f"xác nhận {len(steps.confirmed)}",
        f"chờ thử lại {len(steps.retrying)}",
        f"cần xử lý {result.attention}",
        f"còn chờ {result.open_work}",
    ]
    return "Xong một lượt: " + ", ".join(parts) + "."


def run(args: argparse.Namespace, ctx: Context) -> int:
    units = ctx.chosen_units()
    # one unit: its settings, as an office always ran; several: the install's, per unit inside
    settings = units[0].settings if len(units) == 1 else ctx.install_settings
    setup_logging(settings.log_dir, console=ctx.err, tz=settings.tz)
    with daemon_lock(settings):
        pass_ctx: PassContext | Fleet
        if len(units) == 1:
            pass_ctx = build_context(settings, ctx.db_for(units[0]))
        else:
            pass_ctx = build_fleet(settings, ctx.install_db, units)
        with ClusterMember(ctx.install_db, settings, pass_ctx.publisher) as member:
            return _run(args, ctx, settings, pass_ctx, member)


def _run(
    args: argparse.Namespace,
    ctx: Context,
    settings: Settings,
    pass_ctx: PassContext | Fleet,
    member: ClusterMember,
) -> int:
    """The pass or the daemon, for a registered worker."""
    if args.once:
        now = utcnow()
        result = pass_ctx.run_pass(now) if isinstance(pass_ctx, Fleet) else run_pass(pass_ctx, now)
        from ..services.alert_daemon import send_owed

        # alerts this pass wrote (and any still owed) go now: no sender thread runs after
        send_owed(
            ctx.install_db, settings, clock=utcnow, worker=pass_ctx.publisher.worker,
            units=[u.unit for u in pass_ctx.units] if isinstance(pass_ctx, Fleet) else None,
        )  # fmt: skip
        ctx.print(summary(result))
        for error in result.errors:
            ctx.print(f"Lỗi: {error}")
        if result.attention:
            ctx.print("Có việc cần cán bộ xử lý: xem 'social-publisher status'.")
        return 1 if result.needs_attention else 0
    daemon = Daemon(pass_ctx, member=member)
    member.wake = daemon.wake
    if not args.web:
        return daemon.serve()
    from ..services.console_actions import WakeDaemon
    from ..web.server import start_beside  # only now: the daemon alone never loads it

    server = start_beside(
        settings, ctx.install_db, WakeDaemon(daemon.wake), units=ctx.chosen_units()
    )
    ctx.print(f"Trang quản trị: http://{settings.web_host}:{server.port}/")
    try:
        return daemon.serve()
    finally:
        server.stop()
