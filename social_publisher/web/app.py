"""The console's ASGI application: routes, middleware, templates, the per-request scope."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..config import Settings
from ..platforms import FACEBOOK_MAX_PHOTOS
from ..services import accounts
from ..services.console import format_time
from ..services.console_actions import NoRunner, Runner
from ..services.scope import PERMISSION_LABELS, ROLE_LABELS, Permission, Scope
from ..store import Database
from .security import AccessLog, BodyLimit, LoginThrottle, SecurityHeaders, csrf_ok, csrf_token

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
SESSION_COOKIE = "sp_phien"
SESSION_HOURS = 12
#: what one form may carry besides its photos (the body text is the largest field)
MAX_FIELD_BYTES = 1024 * 1024

Handler = Callable[[Request, Scope], Awaitable[Response]]
#: where a request keeps its account and its form (in the ASGI scope)
ME = "social_publisher.me"
FORM = "social_publisher.form"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Console:
    """What every handler needs: settings, database, clock, templates, the runner."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        clock: Callable[[], datetime],
        runner: Runner,
        throttle: LoginThrottle,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.runner = runner
        self.throttle = throttle
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(("html", "xml"), default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        tz = settings.tz
        self.env.filters["giờ"] = lambda when: format_time(when, tz) if when else "—"
        self.env.filters["giờ_ngắn"] = lambda when: (
            when.astimezone(tz).strftime("%H:%M") if when else ""
        )
        self.env.filters["ngày"] = lambda day: day.strftime("%d/%m/%Y") if day else ""
        self.env.globals["ROLE_LABELS"] = ROLE_LABELS
        self.env.globals["MAX_PHOTOS"] = FACEBOOK_MAX_PHOTOS

    def now(self) -> datetime:
        return self.clock()

    def render(
        self, request: Request, name: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        scope = request.scope.get(ME)
        flash = request.session.pop("flash", None) if "session" in request.scope else None
        html = self.env.get_template(name).render(
            request=request,
            me=scope,
            csrf=csrf_token(request.session),
            flash=flash,
            Permission=Permission,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def refuse(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(request, "loi.html", status=status, message=message)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A service call, off the event loop (services are plain blocking code)."""
        return await run_in_threadpool(functools.partial(fn, *args, **kwargs))


class ConsoleApp(Starlette):
    """The ASGI application, holding the :class:`Console` its handlers share."""

    def __init__(self, console: Console, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.console = console


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"message": message, "kind": kind}


async def current_scope(console: Console, request: Request) -> Scope | None:
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        return None
    info: accounts.AccountInfo | None = await console.call(accounts.get, console.db, uid)
    if info is None or info.session_epoch != request.session.get("epoch"):
        request.session.clear()
        return None
    return info.scope()


def page(
    permission: Permission = Permission.VIEW,
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A handler behind the log-in: checks the session, the role and (POST) the CSRF token."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            console: Console = request.app.console
            scope = await current_scope(console, request)
            if scope is None:
                if request.method == "GET":
                    target = request.url.path + (
                        f"?{request.url.query}" if request.url.query else ""
                    )
                    return RedirectResponse(f"/dang-nhap?tiep={quote(target)}", status_code=303)
                return console.refuse(
                    request, 401, "Phiên đăng nhập đã hết: đăng nhập lại rồi làm lại thao tác."
                )
            request.scope[ME] = scope
            form: FormData | None = None
            try:
                if request.method == "POST":
                    form = await request.form(
                        max_files=FACEBOOK_MAX_PHOTOS + 2,
                        max_fields=500,
                        max_part_size=MAX_FIELD_BYTES,
                    )
                    sent = form.get("csrf") or request.headers.get("x-csrf-token")
                    if not csrf_ok(request.session, sent):
                        return console.refuse(
                            request, 403,
                            "Biểu mẫu đã cũ hoặc không hợp lệ (thiếu mã bảo vệ CSRF): tải lại "
                            "trang rồi làm lại.",
                        )  # fmt: skip
                    request.scope[FORM] = form
                if not scope.can(permission):
                    return console.refuse(
                        request, 403,
                        f"Tài khoản {scope.account} ({ROLE_LABELS[scope.role]}) không có quyền "
                        f"{PERMISSION_LABELS[permission]}.",
                    )  # fmt: skip
                return await handler(request, scope)
            finally:
                if form is not None:
                    await form.close()

        return endpoint

    return wrap


def create_app(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], datetime] = utcnow,
    runner: Runner | None = None,
    throttle: LoginThrottle | None = None,
) -> Starlette:
    """The console for ``settings``/``db``; ``runner`` carries out recorded decisions."""
    from . import views

    console = Console(
        settings, db, clock=clock, runner=runner or NoRunner(), throttle=throttle or LoginThrottle()
    )
    secure = settings.web_base_url.startswith("https://")
    limit = (FACEBOOK_MAX_PHOTOS + 1) * settings.web_upload_max_mb * 1024 * 1024 + MAX_FIELD_BYTES
    app = ConsoleApp(
        console,
        routes=[*views.routes(), Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[
            Middleware(AccessLog),
            Middleware(SecurityHeaders),
            Middleware(BodyLimit, limit=limit),
            Middleware(
                SessionMiddleware,
                secret_key=accounts.session_secret(db, settings),
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_HOURS * 3600,
                same_site="lax",
                https_only=secure,
            ),
        ],
        exception_handlers={404: views.not_found, 405: views.not_allowed},
    )
    return app


__all__ = ["Console", "Route", "create_app", "flash", "page"]
