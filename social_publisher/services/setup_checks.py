"""Setup checks: settings that are wrong for the platforms as they really are.

Each problem here is a problem of this install, not of a post, so it is said once, in
Vietnamese, naming the setting and the fix: in ``doctor`` (:func:`doctor_checks`, which may
call the platforms), in ``status`` (:func:`status_warnings`, no network: what is known
locally plus what the daemon and the collection recorded), and as the channel's blocking
reason (:func:`record_setup_block`, state ``setup``, cleared by ``retry``).

- ``FB_GRAPH_VERSION`` near or past its end of life (:mod:`..channels.graph_versions`);
- an agency's token and the ``appsecret_proof`` choice of its row in ``agencies.csv``;
- ``PUBLIC_MEDIA_BASE_URL`` not reachable from where the Zalo API runs;
- ``ZALO_SETTLE_SECONDS`` shorter than a slow article may take;
- both channels off: nothing can be published at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from .. import graph_versions
from ..channels.base import Diagnosis
from ..channels.public_media import judge_host, zalo_runs_here
from ..config import Settings
from ..errors import AppSecretProofError, AuthError, ChannelError, SetupError
from ..platforms import CHANNELS, SHORT_NAMES
from ..states import HealthState
from ..store import ChannelHealth, Database
from ..store.lifecycle import set_health
from ..store.tenancy import unit_key
from .agencies import AgencyInfo, agency_infos
from .shares import install_unit_pages, proof_advice, unreadable_agencies

SETUP_HEALTH = HealthState.SETUP
#: below this, an unanswered Zalo create may be sent again while a slow article still appears
MIN_SETTLE_SECONDS = 300.0


def clock() -> datetime:
    """Now (tests replace it)."""
    return datetime.now(UTC)


# ------------------------------------------------------------------ Graph version


def graph_version_diagnosis(settings: Settings, today: date) -> Diagnosis | None:
    """FB_GRAPH_VERSION against the version table (None when Facebook is off)."""
    if not settings.facebook_enabled:
        return None
    version = settings.fb_graph_version
    name = "facebook.version"
    verdict = graph_versions.judge(version, today)
    default = graph_versions.DEFAULT_VERSION
    if verdict.malformed:
        return Diagnosis(
            name,
            False,
            f"FB_GRAPH_VERSION={version} không đúng dạng: ghi phiên bản dạng v27.0 (mặc định "
            f"{default}) trong .env.",
        )
    if not verdict.known:
        if verdict.earliest:
            text = (
                f"FB_GRAPH_VERSION={version} mới hơn phiên bản công cụ đã được kiểm thử "
                f"({default}): nếu có lỗi, đặt lại FB_GRAPH_VERSION={default} trong .env."
            )
        else:
            text = (
                f"FB_GRAPH_VERSION={version} cũ hơn các phiên bản công cụ biết, có thể đã bị "
                f"Meta ngừng: đặt FB_GRAPH_VERSION={default} trong .env."
            )
        return Diagnosis(name, True, text, warning=True)
    eol = verdict.end_of_life
    shown = eol.strftime("%m/%Y") if eol else ""
    if verdict.level == "error":
        return Diagnosis(
            name,
            False,
            f"FB_GRAPH_VERSION={version} đã ngừng hoạt động từ {shown} (mỗi phiên bản ngừng hai "
            f"năm sau khi phiên bản kế tiếp ra đời): đặt FB_GRAPH_VERSION={default} trong .env "
            "rồi chạy lại 'social-publisher doctor'.",
        )
    if verdict.level == "warning":
        when = f"có thể ngừng sớm nhất từ {shown}" if verdict.earliest else f"ngừng từ {shown}"
        return Diagnosis(
            name,
            True,
            f"FB_GRAPH_VERSION={version} {when} (còn dưới sáu tháng): chuyển sang phiên bản mới "
            f"hơn (công cụ được kiểm thử với {default}) trong .env trước ngày đó.",
            warning=True,
        )
    until = f", dùng được đến {shown}" if eol and not verdict.earliest else ""
    return Diagnosis(name, True, f"Phiên bản Graph API {version} còn được hỗ trợ{until}.")


# ------------------------------------------------------------------ agencies' tokens


def _agencies_with_tokens(db: Database) -> list[AgencyInfo]:
    with db.session() as session:
        return [a for a in agency_infos(session) if a.active and a.fb_page_id and a.token_setting]


def agency_token_diagnoses(db: Database, settings: Settings, facebook: Any) -> list[Diagnosis]:
    """Each agency token in ``.env`` tried once (``GET /me``) with its row's proof choice."""
    out: list[Diagnosis] = []
    for agency in _agencies_with_tokens(db):
        assert agency.token_setting and agency.fb_page_id
        name = f"facebook.agency.{agency.id}"
        token = settings.secret(agency.token_setting)
        if not token:
            out.append(
                Diagnosis(
                    name,
                    True,
                    f"{agency.name}: chưa có mã truy cập ở biến {agency.token_setting} trong .env "
                    "(không đọc được bài chia sẻ trên Trang của đơn vị).",
                    warning=True,
                )
            )
            continue
        try:
            page_id, page_name = facebook.token_page(token, with_proof=agency.token_of_our_app)
        except AppSecretProofError as exc:
            out.append(Diagnosis(name, False, proof_advice(agency, exc, settings.agencies_file)))
            continue
        except AuthError as exc:
            out.append(
                Diagnosis(
                    name,
                    False,
                    f"{agency.name}: mã truy cập ở {agency.token_setting} không còn hiệu lực "
                    f"({exc.platform_message}): nhờ đơn vị cấp lại mã rồi cập nhật .env.",
                )
            )
            continue
        except ChannelError as exc:
            out.append(
                Diagnosis(name, False, f"{agency.name}: không kiểm tra được mã truy cập ({exc}).")
            )
            continue
        if page_id != agency.fb_page_id:
            out.append(
                Diagnosis(
                    name,
                    False,
                    f"{agency.name}: mã ở {agency.token_setting} thuộc Trang “{page_name}” "
                    f"({page_id}), không phải fb_page_id={agency.fb_page_id} trong "
                    f"{settings.agencies_file}: sửa một trong hai.",
                )
            )
            continue
        how = "qua ứng dụng của thị xã" if agency.token_of_our_app else "ứng dụng riêng"
        out.append(
            Diagnosis(
                name, True, f"{agency.name}: mã truy cập Trang dùng được ({how}, {page_name})."
            )
        )
    return out


# ------------------------------------------------------------------ Zalo


def public_media_problems(settings: Settings) -> list[str]:
    """What is wrong with PUBLIC_MEDIA_BASE_URL's host, judged without the network."""
    if not (settings.zalo_enabled and settings.public_media_enabled):
        return []
    return [v.message for v in judge_host(settings, None) if v.level == "error"]


def settle_window_diagnosis(settings: Settings) -> Diagnosis | None:
    """ZALO_SETTLE_SECONDS too short for a slow article (the sandbox may use less)."""
    if not settings.zalo_enabled or zalo_runs_here(settings):
        return None
    seconds = settings.zalo_settle_seconds
    if seconds >= MIN_SETTLE_SECONDS:
        return None
    return Diagnosis(
        "zalo.settle",
        True,
        f"ZALO_SETTLE_SECONDS={seconds:g} ngắn: một bài Zalo xử lý chậm có thể bị đăng hai lần "
        "sau khi mất kết nối. Đặt ZALO_SETTLE_SECONDS=600 (mặc định) trong .env.",
        warning=True,
    )


# ------------------------------------------------------------------ channels


def no_channel_diagnosis(settings: Settings) -> Diagnosis | None:
    """Both channels off: each is only a warning alone (an office may use one), together the
    install can publish nothing, which ``doctor`` must not call a pass."""
    if any(settings.channel_enabled(channel) for channel in CHANNELS):
        return None
    wanted = "; ".join(
        f"{', '.join(settings.missing_for(channel))} cho {SHORT_NAMES[channel]}"
        for channel in CHANNELS
    )
    return Diagnosis(
        "channels",
        False,
        "Cả hai kênh đều tắt: công cụ không đăng được bài nào. Điền trong tệp .env ít nhất một "
        f"kênh ({wanted}), rồi chạy lại 'social-publisher doctor'.",
    )


# ------------------------------------------------------------------ doctor and status


def doctor_checks(
    settings: Settings, db: Database, channels: Mapping[str, Any], *, now: datetime | None = None
) -> list[Diagnosis]:
    """The setup lines ``doctor`` adds after each channel's own checks."""
    today = (now or clock()).date()
    out: list[Diagnosis] = []
    nothing_on = no_channel_diagnosis(settings)
    if nothing_on is not None:
        out.append(nothing_on)
    version = graph_version_diagnosis(settings, today)
    if version is not None:
        out.append(version)
    facebook = channels.get("facebook")
    if facebook is not None:
        out.extend(agency_token_diagnoses(db, settings, facebook))
    settle = settle_window_diagnosis(settings)
    if settle is not None:
        out.append(settle)
    return out


def status_warnings(settings: Settings, db: Database, now: datetime) -> list[str]:
    """``status`` warning lines: no network, what is known here and what was recorded."""
    lines = public_media_problems(settings)
    version = graph_version_diagnosis(settings, now.date())
    if version is not None and (version.warning or not version.ok):
        lines.append(version.message)
    settle = settle_window_diagnosis(settings)
    if settle is not None:
        lines.append(settle.message)
    units = install_unit_pages(settings)  # agencies read with another unit's own token
    with db.session() as session:
        current = {
            a.id
            for a in agency_infos(session)
            if a.active and a.fb_page_id and (a.token_setting or a.fb_page_id in units)
        }
        for item in unreadable_agencies(session):
            if item.get("agency") in current:
                lines.append(f"Không đọc được Trang đơn vị: {item.get('reason')}")
    return lines


def record_setup_block(
    db: Database, channel: str, exc: SetupError, *, now: datetime, actor: str
) -> None:
    """Block ``channel`` with the setup error's advice (as the publisher does), so ``status``
    says it even when the collection, not a publication, met the problem first."""
    with db.session() as session:
        health = session.get(ChannelHealth, unit_key(session, channel))
        if health is not None and health.state == SETUP_HEALTH and health.reason == exc.advice:
            return
        set_health(session, channel, SETUP_HEALTH, actor=actor, at=now, reason=exc.advice)
