"""Staff actions on one post: ``retry``, ``withdraw``, ``publish-now``.

Each records the decision in the database first. If no daemon is running on
this database, the command then carries it out itself at once (for this post
only); otherwise the running daemon does it at its next pass. ``withdraw --live``
first asks, naming the post and where it is live, since a take-down cannot be
undone (``--yes`` for scripts; without a terminal and without ``--yes`` it refuses).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from ..errors import DaemonAlreadyRunning
from ..platforms import platform_name
from ..queue import fold
from ..services.daemon import build_context, daemon_lock, run_pass, utcnow
from ..services.logs import setup_logging
from ..services.planner import (
    ActionResult,
    PostBrief,
    PostNotFound,
    post_brief,
    reopen_channels,
    staff_publish_now,
    staff_retry,
    staff_withdraw,
)
from ..services.status import post_publications
from . import Context

ACTIONS = {
    "retry": (
        staff_retry,
        "thử lại bài bị lỗi / đang chờ; không có POST: mở lại các kênh bị tạm dừng",
    ),
    "withdraw": (staff_withdraw, "rút bài: không đăng nữa, hủy lịch hẹn trên Facebook"),
    "publish-now": (staff_publish_now, "đăng bài ngay (kể cả bài đã quá hạn)"),
}


def register(sub: Any) -> None:
    for name, (_, text) in ACTIONS.items():
        parser = sub.add_parser(name, help=text, description=text)
        parser.add_argument(
            "post",
            metavar="POST",
            nargs="?" if name == "retry" else None,
            help="tên thư mục bài trong hàng đợi, hoặc số thứ tự bài",
        )
        if name == "withdraw":
            parser.add_argument(
                "--live",
                action="store_true",
                help="gỡ cả bài ĐÃ ĐĂNG khỏi Fanpage và Zalo OA (không hoàn tác được; hỏi lại "
                "trước khi gỡ)",
            )
            parser.add_argument(
                "--yes",
                action="store_true",
                help="không hỏi lại trước khi gỡ bài đã đăng (cho script chạy tự động)",
            )
        parser.set_defaults(handler=run, action=name)


def _actor() -> str:
    try:
        return f"staff:{getpass.getuser()}"
    except Exception:
        return "staff"


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings = ctx.settings
    now = utcnow()
    actor = _actor()
    if args.action == "retry" and not args.post:
        cleared = reopen_channels(ctx.db, actor=actor, now=now)
        if cleared:
            names = ", ".join(platform_name(c) for c in cleared)
            ctx.print(f"Đã mở lại kênh: {names}. Các bài đang chờ sẽ được đăng ở lượt tới.")
        else:
            ctx.print("Không có kênh nào đang bị tạm dừng.")
        return 0
    action = ACTIONS[args.action][0]
    extra = {"live": True} if args.action == "withdraw" and args.live else {}
    try:
        if extra and not args.yes and not _confirmed(ctx, post_brief(ctx.db, args.post)):
            return 1
        result: ActionResult = action(ctx.db, args.post, now=now, actor=actor, **extra)
    except PostNotFound as exc:
        ctx.error(f"Lỗi: {exc}")
        return 1
    ctx.print(f"Bài '{result.title}' ({result.folder}):")
    if args.action == "withdraw" and args.live:
        from ..services.daemon import build_channels
        from ..services.takedown import take_down

        taken = take_down(ctx.db, build_channels(settings, ctx.db), args.post, now=now, actor=actor)
        result.notes += taken.notes
        result.changed += [c for c in taken.changed if c not in result.changed]
    for note in result.notes:
        ctx.print(f"  - {note}")
    if not result.changed:
        ctx.print("  Không có gì thay đổi.")
        return 0 if args.action != "publish-now" else 1
    ctx.print(f"  Đã ghi nhận cho: {', '.join(platform_name(c) for c in result.changed)}.")
    try:
        with daemon_lock(settings):
            setup_logging(settings.log_dir, console=ctx.err, tz=settings.tz)
            pass_ctx = build_context(settings, ctx.db, ingest=False)
            pass_ctx.only_post = result.post_id
            run_pass(pass_ctx, utcnow())
    except DaemonAlreadyRunning:
        ctx.print(
            f"  Tiến trình nền đang chạy sẽ thực hiện trong vòng {settings.tick_seconds} giây."
        )
        return 0
    return _report(ctx, result.post_id)


#: answers that mean yes (compared without accents or case)
YES = ("co", "c", "dong y", "y", "yes")


def _confirmed(ctx: Context, brief: PostBrief) -> bool:
    """Ask before taking a live post down; nothing live means nothing to undo."""
    if not brief.live:
        return True
    where = "\n".join(f"  - {platform}: {link}" for platform, link in brief.live)
    what = f"bài '{brief.title}' (thư mục {brief.folder}, số {brief.post_id})"
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        ctx.error(
            f"Không gỡ {what}: gỡ bài đã đăng thì không hoàn tác được, nên lệnh cần được xác "
            "nhận ở màn hình. Chạy lại trong cửa sổ lệnh, hoặc thêm --yes nếu chạy từ script."
        )
        return False
    ctx.print(
        f"Sắp gỡ {what} khỏi:\n{where}\nViệc này KHÔNG hoàn tác được: bài và các lượt thích, "
        "bình luận, chia sẻ trên trang sẽ mất. Gõ 'có' để gỡ, hoặc Enter để thôi: ",
        end="",
    )
    ctx.out.flush()
    if fold(stdin.readline()) in YES:
        return True
    ctx.print("Đã thôi: không gỡ, không thay đổi gì.")
    return False


def _report(ctx: Context, post_id: int) -> int:
    lines = post_publications(ctx.db, post_id)
    for pub in lines:
        line = f"  {platform_name(pub.channel)}: {pub.label}"
        if pub.where:
            line += f" {pub.where}"
        if pub.needs_people:
            line += f": {pub.attention_reason}"
        elif pub.last_error:
            line += f" (lỗi gần nhất: {pub.last_error})"
        ctx.print(line)
    return 1 if any(pub.needs_people for pub in lines) else 0
