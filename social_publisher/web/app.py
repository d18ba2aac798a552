"""The console's ASGI application: routes, middleware, templates, the per-request scope."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
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
from ..units import DEFAULT_UNIT_ID, Unit
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
#: the query parameter of the unit filter (a province account's pages)
UNIT_PARAM = "don_vi"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Console:
    """What every handler needs: the units, database, clock, templates, the runners.

    ``settings`` are the install's (time zone, web settings: the same for every unit);
    whatever is a unit's (queue folder, channels, agencies, reports) is read from the
    unit's own settings, with the unit's database handle (:meth:`unit_db`).
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        units: list[Unit],
        clock: Callable[[], datetime],
        runner: Runner,
        runners: Mapping[str, Runner] | None = None,
        throttle: LoginThrottle,
    ) -> None:
        self.settings = settings
        #: install-wide: the accounts, and a province account's lists across units
        self.db = db.everywhere()
        self._install = db
        self.units = units
        self.by_id = {u.id: u for u in units}
        self.clock = clock
        self.runner = runner
        self.runners = dict(runners or {})
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
        self.env.globals["UNITS"] = units
        self.env.globals["MANY_UNITS"] = self.many
        self.env.globals["unit_name"] = lambda unit_id: (
            self.by_id[unit_id].name if unit_id in self.by_id else unit_id
        )

    def now(self) -> datetime:
        return self.clock()

    @property
    def many(self) -> bool:
        """Several units: the pages show a unit filter and each post's unit."""
        return len(self.units) > 1

    def unit_db(self, unit: Unit) -> Database:
        """The unit's own handle: its sessions see no other unit's row."""
        return self._install.for_unit(unit.id)

    def runner_for(self, unit: Unit) -> Runner:
        return self.runners.get(unit.id, self.runner)

    def chosen(self, me: Scope, request: Request) -> Unit | None:
        """The unit a page is of: a ward account's own; for a province account the unit
        filter's (``?don_vi=``), else None (every unit); the only unit of a one-unit install."""
        if me.unit is not None:
            return self.by_id[me.unit]  # page() refused an account of an unknown unit
        if not self.many:
            return self.units[0]
        wanted = request.query_params.get(UNIT_PARAM)
        return self.by_id.get(wanted) if wanted else None

    def chosen_or_first(self, me: Scope, request: Request) -> Unit:
        """Pages of one unit (health, shares, reports): the filter's, else the first unit."""
        return self.chosen(me, request) or self.units[0]

    def view_db(self, me: Scope, unit: Unit | None) -> Database:
        """What the lists read: one unit's handle, or (a province account, no filter) all."""
        if unit is not None:
            return self.unit_db(unit)
        if me.unit is not None:  # a ward account's view is its unit's, whatever was asked
            return self._install.for_unit(me.unit)
        return self.db

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
            if scope.unit is not None and scope.unit not in console.by_id:
                return console.refuse(
                    request, 403,
                    f"Tài khoản {scope.account} thuộc đơn vị “{scope.unit}”, không có trong "
                    "UNITS_FILE của trang quản trị này: nhờ quản trị sửa tài khoản "
                    "('social-publisher web user add --unit ID') hoặc tệp đơn vị.",
                )  # fmt: skip
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
    units: list[Unit] | None = None,
    clock: Callable[[], datetime] = utcnow,
    runner: Runner | None = None,
    runners: Mapping[str, Runner] | None = None,
    throttle: LoginThrottle | None = None,
) -> Starlette:
    """The console of ``units`` (default: one unit, ``settings`` and ``db``'s own) in the
    install ``db``; ``runner`` (or a unit's own in ``runners``) carries out recorded decisions."""
    from . import views

    if not units:
        units = [Unit(db.unit or DEFAULT_UNIT_ID, settings.report_unit_name, settings)]
    console = Console(
        settings, db, units=units, clock=clock, runner=runner or NoRunner(), runners=runners,
        throttle=throttle or LoginThrottle(),
    )  # fmt: skip
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
