"""The console's pages and actions (Vietnamese URLs; every action is a POST with CSRF)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import MediaError, SocialPublisherError
from ..platforms import CHANNELS, platform_name
from ..services import accounts, approvals, composer, console, console_actions, preview
from ..services.scope import NotAllowed, Permission, Scope
from ..store import Database
from ..units import Unit
from .app import FORM, UNIT_PARAM, Console, flash, page

LIST_KINDS = {
    "hom-nay": "Hôm nay",
    "tuan-nay": "Tuần này",
    "can-xu-ly": "Cần xử lý",
    "cho-duyet": "Chờ duyệt, bản nháp",
}


def _console(request: Request) -> Console:
    result: Console = request.app.console
    return result


def _form(request: Request) -> FormData:
    result: FormData = request.scope[FORM]
    return result


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _post_id(request: Request) -> int:
    raw = request.path_params.get("post_id", "")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise HTTPException(404) from None


def _back(post_id: int) -> RedirectResponse:
    return RedirectResponse(f"/bai/{post_id}", status_code=303)


async def _post_unit(c: Console, me: Scope, post_id: int) -> tuple[Unit, Database]:
    """The post's unit and that unit's handle, which every read of and action on the post
    uses. Another unit's post is, for a ward's account, exactly a missing one: 404."""
    try:
        unit_id = await c.call(console.post_unit, c.view_db(me, None), me, post_id)
    except console.NotFound:
        raise HTTPException(404) from None
    unit = c.by_id.get(unit_id)
    if unit is None:  # a unit no longer in UNITS_FILE: its posts are not served
        raise HTTPException(404)
    return unit, c.unit_db(unit)


def _unit_filter(c: Console, me: Scope, unit: Unit | None) -> str:
    """The id a province account's unit select shows ("": every unit, or no select)."""
    if unit is None or not c.many or me.unit is not None:
        return ""
    return unit.id


def _unit_query(c: Console, me: Scope, unit: Unit | None) -> str:
    """``?don_vi=<id>`` to keep a province account's unit in links and forms ("" if none)."""
    chosen = _unit_filter(c, me, unit)
    return f"?{UNIT_PARAM}={quote(chosen)}" if chosen else ""


async def not_found(request: Request, exc: Exception) -> Response:
    return _console(request).refuse(request, 404, "Không tìm thấy trang này.")


async def not_allowed(request: Request, exc: Exception) -> Response:
    return _console(request).refuse(request, 405, "Thao tác này không dùng được như vậy.")


# ------------------------------------------------------------------ log-in


def _next(target: str) -> str:
    """Only a path of this console (never another site) after logging in."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/lich"
    return target


async def login_form(request: Request) -> Response:
    c = _console(request)
    return c.render(request, "dang_nhap.html", tiep=_next(request.query_params.get("tiep", "")))


async def login(request: Request) -> Response:
    c = _console(request)
    async with request.form(max_files=0, max_fields=10) as form:
        name = _text(form, "ten").strip()
        password = _text(form, "mat_khau")
        target = _next(_text(form, "tiep"))
        if not approvals_csrf(request, form):
            return c.render(
                request, "dang_nhap.html", status=403, tiep=target, ten=name,
                loi="Biểu mẫu đã cũ (thiếu mã bảo vệ CSRF): tải lại trang rồi đăng nhập lại.",
            )  # fmt: skip
    address = request.client.host if request.client else "?"
    keys = (f"ten:{name.casefold()}", f"ip:{address}")
    wait = c.throttle.wait_seconds(*keys)
    if wait > 0:
        minutes = max(1, round(wait / 60))
        return c.render(
            request, "dang_nhap.html", status=429, tiep=target, ten=name,
            loi=f"Đăng nhập sai quá nhiều lần: thử lại sau khoảng {minutes} phút.",
        )  # fmt: skip
    info = await c.call(accounts.authenticate, c.db, name, password, now=c.now())
    if info is None:
        c.throttle.failed(*keys)
        return c.render(
            request, "dang_nhap.html", status=401, tiep=target, ten=name,
            loi="Sai tên đăng nhập hoặc mật khẩu.",
        )  # fmt: skip
    c.throttle.succeeded(keys[0])
    request.session.clear()  # a new session: nothing carried over from before the log-in
    request.session.update({"uid": info.id, "epoch": info.session_epoch})
    return RedirectResponse(target, status_code=303)


def approvals_csrf(request: Request, form: FormData) -> bool:
    from .security import csrf_ok

    return csrf_ok(request.session, form.get("csrf"))


@page()
async def logout(request: Request, me: Scope) -> Response:
    request.session.clear()
    return RedirectResponse("/dang-nhap", status_code=303)


async def home(request: Request) -> Response:
    return RedirectResponse("/lich", status_code=303)


# ------------------------------------------------------------------ calendar and lists


def _day(text: str | None, fallback: date) -> date:
    try:
        return date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback


def _filters(request: Request) -> tuple[str | None, str | None]:
    channel = request.query_params.get("kenh") or None
    wanted = request.query_params.get("trang-thai") or None
    return (
        channel if channel in CHANNELS else None,
        wanted if wanted in console.CATEGORIES else None,
    )


@page()
async def calendar(request: Request, me: Scope) -> Response:
    c = _console(request)
    today = c.now().astimezone(c.settings.tz).date()
    mode = "tuan" if request.query_params.get("xem") == "tuan" else "thang"
    anchor = _day(request.query_params.get("ngay"), today)
    channel, wanted = _filters(request)
    unit = c.chosen(me, request)
    view = await c.call(
        console.calendar_view, c.view_db(me, unit), c.settings, me, mode=mode, anchor=anchor,
        today=today, channel=channel, wanted=wanted,
    )  # fmt: skip
    template = "lich_luoi.html" if request.headers.get("hx-request") else "lich.html"
    return c.render(
        request, template, view=view, kenh=channel, trang_thai=wanted,
        CATEGORIES=console.CATEGORIES, CHANNELS=CHANNELS, platform_name=platform_name,
        WEEKDAYS=console.WEEKDAYS, don_vi=_unit_filter(c, me, unit),
    )  # fmt: skip


@page()
async def lists(request: Request, me: Scope) -> Response:
    c = _console(request)
    kind = request.query_params.get("loai", "hom-nay")
    if kind not in LIST_KINDS:
        kind = "hom-nay"
    channel, _ = _filters(request)
    tz = c.settings.tz
    today = c.now().astimezone(tz).date()
    unit = c.chosen(me, request)
    db = c.view_db(me, unit)
    if kind == "hom-nay":
        start, end = console.day_range(today, 1, tz)
        items = await c.call(console.items_between, db, me, start, end, channel=channel)
    elif kind == "tuan-nay":
        monday = today - timedelta(days=today.weekday())
        start, end = console.day_range(monday, 7, tz)
        items = await c.call(console.items_between, db, me, start, end, channel=channel)
    elif kind == "can-xu-ly":
        items = await c.call(console.needing_attention, db, me, channel=channel)
    else:
        items = await c.call(console.waiting_for_approval, db, me)
    return c.render(
        request, "danh_sach.html", items=items, kind=kind, KINDS=LIST_KINDS, kenh=channel,
        CHANNELS=CHANNELS, platform_name=platform_name,
        don_vi=_unit_filter(c, me, unit),
    )  # fmt: skip


# ------------------------------------------------------------------ the post page


async def _post_context(c: Console, me: Scope, post_id: int) -> dict[str, Any]:
    unit, db = await _post_unit(c, me, post_id)
    try:
        found = await c.call(console.post_page, db, unit.settings, me, post_id, now=c.now())
    except console.NotFound:
        raise HTTPException(404) from None
    shown = await c.call(preview.preview, db, unit.settings, me, post_id)
    can_approve = (
        me.can(Permission.APPROVE)
        and me.account not in found.writers
        and found.version is not None
        and not found.version.problems
        and found.active_approval is None
        and found.state not in ("withdrawn", "removed")
    )
    return {"post": found, "preview": shown, "can_approve": can_approve, "unit": unit}


@page()
async def post_view(request: Request, me: Scope) -> Response:
    c = _console(request)
    context = await _post_context(c, me, _post_id(request))
    return c.render(request, "bai.html", **context)


@page()
async def post_status(request: Request, me: Scope) -> Response:
    """The publications block alone (htmx refreshes it while the page is open)."""
    c = _console(request)
    context = await _post_context(c, me, _post_id(request))
    return c.render(request, "bai_trang_thai.html", **context)


@page()
async def post_image(request: Request, me: Scope) -> Response:
    c = _console(request)
    kind = request.path_params["kind"]
    post_id = _post_id(request)
    unit, db = await _post_unit(c, me, post_id)
    try:
        index = int(request.path_params["index"])
        path = await c.call(preview.rendition, db, unit.settings, me, post_id, kind, index)
    except (LookupError, ValueError):
        raise HTTPException(404) from None
    except MediaError as exc:
        return c.refuse(request, 422, exc.message)
    return FileResponse(
        path, media_type="image/jpeg", headers={"cache-control": "private, max-age=300"}
    )


# ------------------------------------------------------------------ write a post


def _agencies(unit: Unit) -> list[Any]:
    from ..services.agencies import FileProblems, parse_agencies

    try:
        return parse_agencies(unit.settings.agencies_file)
    except (FileProblems, OSError):
        return []


Order = list[tuple[str, str | int]]


def _draft(form: FormData, existing: list[str]) -> tuple[composer.Draft, Order, list[UploadFile]]:
    """The form's fields, and the photos' order: ``thu_tu`` when the page's script sent it
    (it lists exactly the photos kept, in order: ``cu:<name>``, ``moi:<n>``), else the
    ticked photos of the folder, then the new ones."""
    uploads = [f for f in form.getlist("anh_moi") if isinstance(f, UploadFile) and f.filename]
    kept = [n for n in form.getlist("anh_cu") if isinstance(n, str) and n in existing]
    order: Order = []
    if "thu_tu" in form:
        for token in dict.fromkeys(t for t in _text(form, "thu_tu").split(",") if t):
            kind, _, value = token.partition(":")
            if kind == "cu" and value in existing:
                order.append(("cu", value))
            elif kind == "moi" and value.isdigit() and int(value) < len(uploads):
                order.append(("moi", int(value)))
    else:
        order = [("cu", n) for n in kept] + [("moi", i) for i in range(len(uploads))]
    draft = composer.Draft(
        title=_text(form, "tieu_de"),
        when=_text(form, "thoi_gian"),
        channels=[c for c in form.getlist("kenh") if isinstance(c, str)],
        body=_text(form, "noi_dung"),
        link=_text(form, "lien_ket"),
        share_mode=_text(form, "chia_se") or "mac-dinh",
        share_ids=[s for s in form.getlist("don_vi") if isinstance(s, str)],
        zalo_broadcast=_text(form, "gui_tin") == "co",
    )
    return draft, order, uploads


async def _photos(
    order: Order, uploads: list[UploadFile], cover_token: str
) -> tuple[list[composer.Photo], int | None]:
    photos: list[composer.Photo] = []
    cover: int | None = None
    for position, (kind, value) in enumerate(order):
        if kind == "cu":
            photos.append(composer.Photo(existing=str(value)))
        else:
            upload = uploads[int(value)]
            data = await upload.read()
            photos.append(composer.Photo(upload=composer.Upload(upload.filename or "anh", data)))
        if cover_token == f"{kind}:{value}":
            cover = position
    return photos, cover


def _compose_context(c: Console, me: Scope, unit: Unit, **extra: Any) -> dict[str, Any]:
    return {
        "agencies": _agencies(unit), "CHANNELS": CHANNELS, "platform_name": platform_name,
        "unit": unit, "unit_query": _unit_query(c, me, unit), **extra,
    }  # fmt: skip


@page(Permission.WRITE)
async def compose_form(request: Request, me: Scope) -> Response:
    c = _console(request)
    unit = c.chosen(me, request)
    if unit is None:  # a province account picks the unit first: its queue, its agencies
        return c.render(request, "soan_don_vi.html")
    draft = composer.Draft()
    return c.render(request, "soan.html", **_compose_context(c, me, unit, draft=draft, existing=[]))


@page(Permission.WRITE)
async def compose(request: Request, me: Scope) -> Response:
    c = _console(request)
    unit = c.chosen(me, request)
    if unit is None:
        return c.refuse(
            request, 422,
            "Chưa chọn đơn vị của bài: mở lại trang Soạn bài, chọn đơn vị, rồi soạn bài.",
        )  # fmt: skip
    return await _save(request, me, None, unit, c.unit_db(unit))


@page(Permission.WRITE)
async def edit_form(request: Request, me: Scope) -> Response:
    c = _console(request)
    post_id = _post_id(request)
    unit, db = await _post_unit(c, me, post_id)
    try:
        form = await c.call(composer.edit_form, db, unit.settings, me, post_id)
    except composer.ComposeRefused:
        raise HTTPException(404) from None
    return c.render(
        request, "soan.html",
        **_compose_context(
            c, me, unit, draft=form.draft, existing=form.existing, post_id=post_id,
            content_hash=form.content_hash, folder=form.folder,
        ),
    )  # fmt: skip


@page(Permission.WRITE)
async def edit(request: Request, me: Scope) -> Response:
    c = _console(request)
    post_id = _post_id(request)
    unit, db = await _post_unit(c, me, post_id)
    return await _save(request, me, post_id, unit, db)


async def _save(
    request: Request, me: Scope, post_id: int | None, unit: Unit, db: Database
) -> Response:
    c = _console(request)
    form = _form(request)
    existing = [n for n in form.getlist("anh_co_san") if isinstance(n, str)]
    draft, order, uploads = _draft(form, existing)
    draft.photos, draft.cover = await _photos(order, uploads, _text(form, "anh_bia"))
    expected = _text(form, "ban") or None
    try:
        saved = await c.call(
            composer.save, db, unit.settings, me, draft, now=c.now(), post_id=post_id,
            expected_hash=expected,
        )  # fmt: skip
    except composer.ComposeRefused as exc:
        draft.photos = [p for p in draft.photos if p.existing]  # uploads must be chosen again
        return c.render(
            request, "soan.html", status=422,
            **_compose_context(
                c, me, unit, draft=draft, existing=existing, post_id=post_id,
                content_hash=expected, problems=exc.problems, folder=None,
            ),
        )  # fmt: skip
    flash(request, " ".join(saved.notes))
    if saved.post_id is None:
        return RedirectResponse("/lich", status_code=303)
    return _back(saved.post_id)


# ------------------------------------------------------------------ approval and actions


def _outcome(result: Any) -> str:
    parts = list(result.notes)
    if result.changed:
        parts.append(
            "Đã ghi nhận cho: " + ", ".join(platform_name(c) for c in result.changed) + "."
        )
    elif not parts:
        parts.append("Không có gì thay đổi.")
    return " ".join(parts)


async def _act(
    request: Request, me: Scope, unit: Unit, run: Any, *args: Any, nudge: bool = True
) -> Response:
    c = _console(request)
    post_id = _post_id(request)
    try:
        result = await c.call(run, *args, now=c.now())
    except NotAllowed as exc:
        return c.refuse(request, 403, exc.message)
    except SocialPublisherError as exc:
        flash(request, exc.message, "loi")
        return _back(post_id)
    message = result if isinstance(result, str) else _outcome(result)
    if nudge and (isinstance(result, str) or result.changed):
        message += " " + await c.call(c.runner_for(unit).nudge, post_id)
    flash(request, message)
    return _back(post_id)


@page(Permission.APPROVE)
async def approve(request: Request, me: Scope) -> Response:
    c = _console(request)
    post_id = _post_id(request)
    unit, db = await _post_unit(c, me, post_id)
    digest = _text(_form(request), "ban")
    return await _act(request, me, unit, approvals.approve, db, unit.settings, me, post_id, digest)


@page(Permission.APPROVE)
async def revoke(request: Request, me: Scope) -> Response:
    c = _console(request)
    post_id = _post_id(request)
    unit, db = await _post_unit(c, me, post_id)
    return await _act(request, me, unit, approvals.revoke, db, unit.settings, me, post_id)


@page(Permission.RETRY)
async def retry(request: Request, me: Scope) -> Response:
    c = _console(request)
    post_id = _post_id(request)
    unit, db = await _post_unit(c, me, post_id)
    return await _act(request, me, unit, console_actions.retry, db, me, post_id)


@page(Permission.WITHDRAW)
async def withdraw(request: Request, me: Scope) -> Response:
    c = _console(request)
    post_id = _post_id(request)
    unit, db = await _post_unit(c, me, post_id)
    return await _act(request, me, unit, console_actions.withdraw, db, me, post_id)


@page(Permission.PUBLISH_NOW)
async def publish_now(request: Request, me: Scope) -> Response:
    c = _console(request)
    post_id = _post_id(request)
    unit, db = await _post_unit(c, me, post_id)
    return await _act(request, me, unit, console_actions.publish_now, db, me, post_id)


@page(Permission.TAKE_DOWN)
async def take_down_form(request: Request, me: Scope) -> Response:
    c = _console(request)
    context = await _post_context(c, me, _post_id(request))
    return c.render(request, "go_bai.html", **context)


@page(Permission.TAKE_DOWN)
async def take_down(request: Request, me: Scope) -> Response:
    c = _console(request)
    post_id = _post_id(request)
    form = _form(request)
    context = await _post_context(c, me, post_id)
    if _text(form, "xac_nhan") != context["post"].folder:
        return c.render(
            request, "go_bai.html", status=422,
            loi="Gõ đúng tên thư mục bài để xác nhận gỡ bài.", **context,
        )  # fmt: skip
    unit: Unit = context["unit"]
    return await _act(
        request, me, unit, console_actions.take_down, c.unit_db(unit), unit.settings, me,
        post_id, nudge=False,
    )  # fmt: skip


# ------------------------------------------------------------------ health, shares, reports


def _one_unit(c: Console, me: Scope, request: Request) -> tuple[Unit, dict[str, Any]]:
    """Pages of one unit's (health, shares, reports): the unit, and what its select needs."""
    unit = c.chosen_or_first(me, request)
    return unit, {"unit": unit, "unit_query": _unit_query(c, me, unit)}


@page()
async def health(request: Request, me: Scope) -> Response:
    c = _console(request)
    unit, extra = _one_unit(c, me, request)
    found = await c.call(console.health_page, c.unit_db(unit), unit.settings, me, now=c.now())
    return c.render(request, "suc_khoe.html", health=found, CATEGORIES=console.CATEGORIES, **extra)


@page(Permission.REOPEN_CHANNEL)
async def reopen(request: Request, me: Scope) -> Response:
    c = _console(request)
    unit, extra = _one_unit(c, me, request)
    channel = request.path_params["channel"]
    try:
        message = await c.call(
            console_actions.reopen_channel, c.unit_db(unit), me, channel, now=c.now()
        )
    except console_actions.ActionRefused as exc:
        message = exc.message
    else:
        message += " " + await c.call(c.runner_for(unit).nudge, None)
    flash(request, message)
    return RedirectResponse("/suc-khoe" + extra["unit_query"], status_code=303)


@page()
async def shares(request: Request, me: Scope) -> Response:
    from ..services.report import parse_month
    from ..services.shares import STATE_LABELS, share_matrix

    c = _console(request)
    unit, extra = _one_unit(c, me, request)
    tz = c.settings.tz
    now = c.now()
    month = request.query_params.get("thang") or now.astimezone(tz).strftime("%Y-%m")
    try:
        period = parse_month(month, tz)
    except ValueError:
        period = parse_month(now.astimezone(tz).strftime("%Y-%m"), tz)
    matrix = await c.call(
        share_matrix, c.unit_db(unit), unit.settings, period.start, period.end, now=now
    )
    return c.render(
        request, "chia_se.html", matrix=matrix, period=period, LABELS=STATE_LABELS,
        month=period.slug, **extra,
    )  # fmt: skip


@page()
async def reports(request: Request, me: Scope) -> Response:
    c = _console(request)
    unit, extra = _one_unit(c, me, request)
    found = await c.call(console_actions.reports, unit.settings, me)
    now = c.now().astimezone(c.settings.tz)
    last = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return c.render(
        request, "bao_cao.html", reports=found, default_month=last, year=now.year, **extra
    )


@page(Permission.REPORT)
async def make_report(request: Request, me: Scope) -> Response:
    c = _console(request)
    unit, extra = _one_unit(c, me, request)
    form = _form(request)
    month = _text(form, "thang").strip() or None
    year = _text(form, "nam").strip() or None
    try:
        folder, files, notes = await c.call(
            console_actions.make_report, c.unit_db(unit), unit.settings, me,
            month=None if year else month, year=year, now=c.now(),
        )  # fmt: skip
    except SocialPublisherError as exc:
        flash(request, exc.message, "loi")
    else:
        flash(
            request, f"Đã xuất báo cáo vào thư mục {folder} ({len(files)} tệp). " + " ".join(notes)
        )
    return RedirectResponse("/bao-cao" + extra["unit_query"], status_code=303)


@page()
async def report_file(request: Request, me: Scope) -> Response:
    c = _console(request)
    unit, _ = _one_unit(c, me, request)
    try:
        path = await c.call(
            console_actions.report_file, unit.settings, me, request.path_params["folder"],
            request.path_params["name"],
        )  # fmt: skip
    except LookupError:
        raise HTTPException(404) from None
    return FileResponse(path, filename=path.name)


# ------------------------------------------------------------------ account, calendar feed


def _base_url(c: Console, request: Request) -> str:
    return c.settings.web_base_url or str(request.base_url).rstrip("/")


@page()
async def account(request: Request, me: Scope) -> Response:
    c = _console(request)
    feed = request.session.pop("feed_secret", None)
    url = f"{_base_url(c, request)}/lich/{feed}.ics" if feed else None
    return c.render(request, "tai_khoan.html", feed_url=url)


@page()
async def new_feed(request: Request, me: Scope) -> Response:
    c = _console(request)
    uid = request.session.get("uid")
    assert isinstance(uid, int)
    secret = await c.call(accounts.new_feed_secret, c.db, uid, now=c.now())
    request.session["feed_secret"] = secret  # shown once, on the next page
    return RedirectResponse("/tai-khoan", status_code=303)


async def feed(request: Request) -> Response:
    c = _console(request)
    secret = request.path_params["secret"]
    info = await c.call(accounts.by_feed_secret, c.db, secret)
    if info is None:
        raise HTTPException(404)
    scope = info.scope()
    if scope.unit is not None and scope.unit not in c.by_id:
        raise HTTPException(404)
    unit = c.by_id[scope.unit] if scope.unit is not None else (None if c.many else c.units[0])
    text = await c.call(
        console.ics_feed, c.view_db(scope, unit), c.settings, scope, now=c.now(),
        base_url=_base_url(c, request),
    )  # fmt: skip
    return Response(text, media_type="text/calendar; charset=utf-8")


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/dang-nhap", login_form, methods=["GET"]),
        Route("/dang-nhap", login, methods=["POST"]),
        Route("/dang-xuat", logout, methods=["POST"]),
        Route("/lich", calendar, methods=["GET"]),
        Route("/lich/{secret}.ics", feed, methods=["GET"]),
        Route("/danh-sach", lists, methods=["GET"]),
        Route("/soan", compose_form, methods=["GET"]),
        Route("/soan", compose, methods=["POST"]),
        Route("/bai/{post_id}", post_view, methods=["GET"]),
        Route("/bai/{post_id}/trang-thai", post_status, methods=["GET"]),
        Route("/bai/{post_id}/anh/{kind}/{index}", post_image, methods=["GET"]),
        Route("/bai/{post_id}/sua", edit_form, methods=["GET"]),
        Route("/bai/{post_id}/sua", edit, methods=["POST"]),
        Route("/bai/{post_id}/duyet", approve, methods=["POST"]),
        Route("/bai/{post_id}/bo-duyet", revoke, methods=["POST"]),
        Route("/bai/{post_id}/thu-lai", retry, methods=["POST"]),
        Route("/bai/{post_id}/rut", withdraw, methods=["POST"]),
        Route("/bai/{post_id}/dang-ngay", publish_now, methods=["POST"]),
        Route("/bai/{post_id}/go-bai", take_down_form, methods=["GET"]),
        Route("/bai/{post_id}/go-bai", take_down, methods=["POST"]),
        Route("/suc-khoe", health, methods=["GET"]),
        Route("/kenh/{channel}/mo-lai", reopen, methods=["POST"]),
        Route("/chia-se", shares, methods=["GET"]),
        Route("/bao-cao", reports, methods=["GET"]),
        Route("/bao-cao", make_report, methods=["POST"]),
        Route("/bao-cao/{folder}/{name}", report_file, methods=["GET"]),
        Route("/tai-khoan", account, methods=["GET"]),
        Route("/tai-khoan/lich", new_feed, methods=["POST"]),
    ]


__all__ = ["quote", "routes"]
