"""Settings, from the environment and ``.env``.

Names are fixed (operators' scripts, the sandbox and tests set them; README.md
and config.example.env document each). A channel whose settings are missing is
simply off: that is a state ``status`` and ``doctor`` report, never an exception.
"""

from __future__ import annotations

import codecs
import io
import math
import os
import re
import stat
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from .errors import ConfigError, register_secret

SECRET_SETTINGS = frozenset(
    {
        "FB_PAGE_ACCESS_TOKEN",
        "FB_APP_SECRET",
        "ZALO_APP_SECRET",
        "ZALO_REFRESH_TOKEN",
        "ZALO_ACCESS_TOKEN",
        "WEB_SECRET_KEY",
    }
)

#: APPROVAL_MODE values: whether a ``Người duyệt`` header approves (see ``queue.scanner``)
APPROVAL_MODES = ("header", "listed", "console")


#: the largest whole number any setting takes (beyond it, times and sizes overflow)
_INT_CEILING = 10**9


class _BadSetting(ConfigError):
    """A setting's value is refused; :func:`load_settings` adds where it was written."""

    def __init__(self, name: str, message: str) -> None:
        self.setting = name
        super().__init__(message)


def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    minimum: int = 0,
    maximum: int = _INT_CEILING,
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadSetting(
            name, f"Cấu hình {name}={raw!r} không hợp lệ: cần một số nguyên (ví dụ {default})."
        ) from None
    if value < minimum:
        raise _BadSetting(name, f"Cấu hình {name}={value} phải lớn hơn hoặc bằng {minimum}.")
    if value > maximum:
        raise _BadSetting(
            name,
            f"Cấu hình {name}={raw} quá lớn: tối đa {maximum} (mặc định {default}).",
        )
    return value


def _float(
    env: Mapping[str, str],
    name: str,
    default: float,
    minimum: float = 0.0,
    maximum: float = float(_INT_CEILING),
) -> float:
    """A finite number in [minimum, maximum]: ``nan``, ``inf`` and huge values are refused
    here, not as an overflow deep inside a pass."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _BadSetting(
            name, f"Cấu hình {name}={raw!r} không hợp lệ: cần một số (ví dụ {_typed(default)})."
        ) from None
    if not math.isfinite(value):
        raise _BadSetting(
            name,
            f"Cấu hình {name}={raw!r} không hợp lệ: cần một số cụ thể (ví dụ {_typed(default)}), "
            "không dùng nan hay inf.",
        )
    if value < minimum:
        raise _BadSetting(
            name,
            f"Cấu hình {name}={raw} không được nhỏ hơn {_typed(minimum)} "
            + f"(ví dụ {_typed(default)}).",
        )
    if value > maximum:
        raise _BadSetting(
            name,
            f"Cấu hình {name}={raw} quá lớn: tối đa {_typed(maximum)} "
            + f"(mặc định {_typed(default)}).",
        )
    return value


def _typed(value: float) -> str:
    """A number as it is typed in ``.env`` (a point before decimals: that is what is read)."""
    return f"{value:g}"


def _str(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, "").strip() or default


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A list of names separated by commas or semicolons, each once, spaces tidied."""
    raw = env.get(name, "").replace(";", ",")
    names = (" ".join(part.split()) for part in raw.split(","))
    return tuple(dict.fromkeys(n for n in names if n))


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default), compared without case."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise ConfigError(
            f"Cấu hình {name}={raw!r} không hợp lệ: dùng một trong {', '.join(choices)}."
        )
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on", "co", "có"):
        return True
    if raw in ("0", "false", "no", "off", "khong", "không"):
        return False
    raise _BadSetting(name, f"Cấu hình {name}={raw!r} không hợp lệ: dùng true hoặc false.")


# ---------------------------------------------------------------- the .env file


def _decode_env(data: bytes, path: Path) -> str:
    """The ``.env`` text, read the way the queue reads a post (``queue.decode``): strict
    UTF-8 (BOM dropped), then UTF-16 with a BOM, then Windows-1258, as Notepad saves it.

    Kept here rather than imported: settings sit below the queue in the import order.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            try:
                text = data.decode("utf-16")
            except UnicodeDecodeError:
                raise ConfigError(_unreadable_env(path)) from None
        else:
            try:
                text = data.decode("cp1258")
            except UnicodeDecodeError:
                raise ConfigError(_unreadable_env(path)) from None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise ConfigError(_unreadable_env(path))
    return unicodedata.normalize("NFC", text)


def _unreadable_env(path: Path) -> str:
    return (
        f"Không đọc được tệp cấu hình {path}: tệp không phải văn bản thuần (mã hóa lạ hoặc "
        "có ký tự nhị phân). Mở tệp bằng Notepad, chọn Lưu thành (Save As) với mã hóa UTF-8, "
        "rồi chạy lại."
    )


def read_env_file(path: Path) -> tuple[dict[str, str], dict[str, int]]:
    """The settings written in ``path`` and the line each one is on.

    A missing file (or anything that is not a regular file: a folder, a pipe) is no
    settings; one that cannot be read or decoded is a Vietnamese :class:`ConfigError`
    naming it, never a traceback.
    """
    try:
        info = path.stat()
    except OSError:
        return {}, {}
    if not stat.S_ISREG(info.st_mode):
        return {}, {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"Không đọc được tệp cấu hình {path} ({exc.strerror or type(exc).__name__}): "
            "kiểm tra quyền đọc tệp, rồi chạy lại."
        ) from None
    text = _decode_env(data, path)
    values = {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ENV_LINE.match(line)
        if match:
            lines.setdefault(match.group(1), number)
    return values, lines


_ENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
#: whitespace anywhere in a secret (a token pasted across two lines, a quoted ``\n``)
_WHITESPACE = re.compile(r"\s")


def _check_secret(name: str, value: str) -> None:
    """Refuse a token or secret with whitespace inside: no platform issues one, and sent
    in a header it would make the HTTP library quote it back in its error."""
    if _WHITESPACE.search(value):
        raise _BadSetting(
            name,
            f"Cấu hình {name} có khoảng trắng hoặc ký tự xuống dòng ở giữa giá trị: mã truy "
            "cập (token) và khóa bí mật không bao giờ chứa khoảng trắng. Dán lại giá trị trên "
            "một dòng, không có dấu cách hay dấu xuống dòng, rồi chạy lại.",
        )


@dataclass(frozen=True)
class Settings:
    """Every setting the tool reads; see ``config.example.env`` for each one's meaning."""

    database_url: str = "sqlite:///data/social_publisher.db"
    queue_dir: Path = Path("content_queue")
    timezone: str = "Asia/Ho_Chi_Minh"
    overdue_grace_hours: float = 24.0
    #: a post folder must be unchanged this long before its post may go out (a copy in
    #: progress, a text still being saved)
    queue_settle_seconds: float = 60.0

    fb_graph_url: str = "https://graph.facebook.com"
    fb_graph_version: str = "v27.0"
    #: Graph's video host: feed video uploads go there (Reels use the upload_url Graph gives)
    fb_graph_video_url: str = "https://graph-video.facebook.com"
    fb_page_id: str = ""
    fb_page_access_token: str = field(default="", repr=False)
    fb_app_id: str = ""
    fb_app_secret: str = field(default="", repr=False)

    zalo_oauth_url: str = "https://oauth.zaloapp.com"
    zalo_openapi_url: str = "https://openapi.zalo.me"
    zalo_app_id: str = ""
    zalo_app_secret: str = field(default="", repr=False)
    zalo_refresh_token: str = field(default="", repr=False)
    zalo_access_token: str = field(default="", repr=False)
    zalo_monthly_article_quota: int = 0  # 0: unknown, rely on Zalo's -223
    zalo_broadcast_monthly_budget: int = 4
    #: seconds an unanswered Zalo create may still be processing (not listed yet): the
    #: sheet says seconds to about a minute; ten times that, as long as verify polls a
    #: token before giving up (a late retry costs minutes, a duplicate costs an article)
    zalo_settle_seconds: float = 600.0

    #: cover for Zalo articles of posts without a photo (None: the packaged default)
    zalo_default_cover: Path | None = None

    public_media_dir: Path | None = None
    public_media_base_url: str = ""

    agencies_file: Path = Path("agencies.csv")
    #: the units file (``units.toml``); None: the install is one unit built from these settings
    units_file: Path | None = None
    default_share_with: str = "tat-ca"
    default_author: str = "Phòng VHTT thị xã Đức Phổ"
    #: who may approve posts (``Người duyệt``), as staff write the names; empty: anyone
    approvers: tuple[str, ...] = ()
    #: ``header``: the header approves as before; ``listed``: only names on APPROVERS;
    #: ``console``: only an approval given in the web console counts
    approval_mode: str = "header"

    #: the staff web console (``social-publisher web``, ``run --web``)
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    #: the console's address as staff open it (links in alerts, the calendar feed URL)
    web_base_url: str = ""
    #: signs the console's session cookies; unset: a key kept in the database
    web_secret_key: str = field(default="", repr=False)
    #: largest photo the console accepts in one upload, in MB
    web_upload_max_mb: int = 30

    tick_seconds: int = 30
    retry_base_seconds: int = 60
    retry_max_seconds: int = 3600
    retry_max_attempts: int = 5
    lease_seconds: int = 300
    #: PostgreSQL: a worker whose lock is free and heartbeat this old is dead; its claims
    #: are taken over at once (the lease stays the fallback for a hung-but-alive worker)
    worker_takeover_seconds: int = 6
    #: many units: how many units one daemon publishes for at the same time
    unit_threads: int = 4
    log_dir: Path = Path("logs")

    media_cache_dir: Path = Path("data/media_cache")
    media_max_pixels: int = 80_000_000
    #: rendition cache entries unused this many days are removed (0: kept for ever)
    media_cache_days: int = 60

    #: the tool's own caps on a clip (well inside Facebook's; see docs/api/video.md)
    video_max_seconds: int = 1200
    video_max_mb: int = 1000
    #: Zalo's limit on an uploaded video (unconfirmed: community reports say 50 MB)
    zalo_video_max_mb: int = 50
    #: a transcode is killed past this many seconds or this much memory (address space)
    video_transcode_timeout_seconds: int = 3600
    video_transcode_memory_mb: int = 3072

    report_dir: Path = Path("reports")
    plan_posts_per_month_facebook: int = 8
    plan_posts_per_month_zalo: int = 4
    plan_share_rate_percent: int = 80
    #: a share within this many hours of the post counts as on time
    share_on_time_hours: float = 24.0
    #: the formal report's heading and signature (Nghị định 30/2020/NĐ-CP); one unit's own texts
    report_unit_name: str = "Phòng Văn hóa và Thông tin"
    report_parent_body: str = "UBND thị xã Đức Phổ"
    report_place: str = "Đức Phổ"
    report_number_code: str = "BC-VHTT"
    report_subject: str = "Kết quả truyền thông chuyển đổi số trên mạng xã hội"
    report_basis: str = ""
    report_signer_authority: str = ""
    report_signer_title: str = "Trưởng phòng"
    report_signer_name: str = ""
    report_recipients: str = (
        "Sở Thông tin và Truyền thông tỉnh Quảng Ngãi; UBND thị xã Đức Phổ; Lưu: VT, VHTT"
    )

    #: alerts (services.alert_*): Apprise URLs, each a target (mailto://, json://, tgram://…);
    #: they may hold a password, so they never reach a log or a report
    alert_urls: tuple[str, ...] = field(default=(), repr=False)
    #: non-urgent alerts (recoveries, late posts, token age, the digest) wait out these
    #: hours ("21:00-06:00"; empty: never wait); urgent ones always go at once
    alert_quiet_hours: str = "21:00-06:00"
    #: the daily digest's local hour (-1: no digest)
    alert_digest_hour: int = 16
    #: ``doctor --alert`` says the daemon is down once its heartbeat is this old
    alert_heartbeat_minutes: int = 5
    #: a post confirmed live later than this after its time is reported as late
    alert_late_minutes: int = 10

    #: the raw environment the settings were read from (agency page tokens live here)
    extra: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------ derived

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def facebook_enabled(self) -> bool:
        return bool(self.fb_page_id and self.fb_page_access_token)

    @property
    def zalo_enabled(self) -> bool:
        return bool(self.zalo_app_id and self.zalo_app_secret)

    @property
    def public_media_enabled(self) -> bool:
        return bool(self.public_media_dir and self.public_media_base_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def channel_enabled(self, channel: str) -> bool:
        return {"facebook": self.facebook_enabled, "zalo": self.zalo_enabled}.get(channel, False)

    def missing_for(self, channel: str) -> list[str]:
        """Names of the settings a channel still lacks (empty when it is on)."""
        need = {
            "facebook": {
                "FB_PAGE_ID": self.fb_page_id,
                "FB_PAGE_ACCESS_TOKEN": self.fb_page_access_token,
            },
            "zalo": {"ZALO_APP_ID": self.zalo_app_id, "ZALO_APP_SECRET": self.zalo_app_secret},
            "public_media": {
                "PUBLIC_MEDIA_DIR": str(self.public_media_dir or ""),
                "PUBLIC_MEDIA_BASE_URL": self.public_media_base_url,
            },
        }[channel]
        return [name for name, value in need.items() if not value]

    def secret(self, name: str) -> str:
        """A token named by an agency row (``token_setting``), from the environment."""
        value = self.extra.get(name, "").strip()
        register_secret(value)
        try:
            _check_secret(name, value)
        except _BadSetting as exc:
            raise ConfigError(exc.message) from None
        return value


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    dotenv_path: str | Path | None = ".env",
) -> Settings:
    """Read settings: explicit ``env`` wins, else ``os.environ`` over ``.env``."""
    merged: dict[str, str] = {}
    file_lines: dict[str, int] = {}
    env_path = Path(dotenv_path) if dotenv_path is not None else None
    if env_path is not None:
        file_values, file_lines = read_env_file(env_path)
        merged.update(file_values)
    given = os.environ if env is None else env
    merged.update(given)

    for name in SECRET_SETTINGS:
        register_secret(merged.get(name, ""))
        register_secret(merged.get(name, "").strip())
    try:
        return _build(merged)
    except _BadSetting as exc:
        where = ""
        if env_path is not None and exc.setting in file_lines and exc.setting not in given:
            where = f" Giá trị này ở dòng {file_lines[exc.setting]} của tệp {env_path}."
        elif exc.setting in given:
            where = " Giá trị này đến từ biến môi trường cùng tên."
        raise ConfigError(exc.message + where) from None


def settings_from(values: Mapping[str, str]) -> Settings:
    """Settings from values already merged (a unit's over the install's, ``units``).

    A refused value raises :class:`ConfigError` with ``.setting``: its name, so the caller
    can say where it was written.
    """
    for name in SECRET_SETTINGS:
        register_secret(values.get(name, "").strip())
    return _build(values)


def _build(merged: Mapping[str, str]) -> Settings:
    for name in sorted(SECRET_SETTINGS):
        _check_secret(name, merged.get(name, "").strip())

    timezone = _str(merged, "TIMEZONE", "Asia/Ho_Chi_Minh")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _BadSetting(
            "TIMEZONE",
            f"Cấu hình TIMEZONE={timezone!r} không phải múi giờ hợp lệ (ví dụ Asia/Ho_Chi_Minh).",
        ) from None

    day, week, year = 86_400, 7 * 86_400, 8_760
    public_dir = _str(merged, "PUBLIC_MEDIA_DIR")
    settings = Settings(
        database_url=_str(merged, "DATABASE_URL", Settings.database_url),
        queue_dir=Path(_str(merged, "QUEUE_DIR", "content_queue")),
        timezone=timezone,
        overdue_grace_hours=_float(merged, "OVERDUE_GRACE_HOURS", 24.0, maximum=year),
        queue_settle_seconds=_float(merged, "QUEUE_SETTLE_SECONDS", 60.0, maximum=3600),
        fb_graph_url=_str(merged, "FB_GRAPH_URL", Settings.fb_graph_url).rstrip("/"),
        fb_graph_version=_str(merged, "FB_GRAPH_VERSION", Settings.fb_graph_version),
        fb_graph_video_url=_str(merged, "FB_GRAPH_VIDEO_URL", Settings.fb_graph_video_url).rstrip(
            "/"
        ),
        fb_page_id=_str(merged, "FB_PAGE_ID"),
        fb_page_access_token=_str(merged, "FB_PAGE_ACCESS_TOKEN"),
        fb_app_id=_str(merged, "FB_APP_ID"),
        fb_app_secret=_str(merged, "FB_APP_SECRET"),
        zalo_oauth_url=_str(merged, "ZALO_OAUTH_URL", Settings.zalo_oauth_url).rstrip("/"),
        zalo_openapi_url=_str(merged, "ZALO_OPENAPI_URL", Settings.zalo_openapi_url).rstrip("/"),
        zalo_app_id=_str(merged, "ZALO_APP_ID"),
        zalo_app_secret=_str(merged, "ZALO_APP_SECRET"),
        zalo_refresh_token=_str(merged, "ZALO_REFRESH_TOKEN"),
        zalo_access_token=_str(merged, "ZALO_ACCESS_TOKEN"),
        zalo_monthly_article_quota=_int(merged, "ZALO_MONTHLY_ARTICLE_QUOTA", 0, maximum=100_000),
        zalo_broadcast_monthly_budget=_int(
            merged, "ZALO_BROADCAST_MONTHLY_BUDGET", 4, maximum=1_000
        ),
        zalo_settle_seconds=_float(
            merged, "ZALO_SETTLE_SECONDS", Settings.zalo_settle_seconds, maximum=3600
        ),
        zalo_default_cover=Path(cover) if (cover := _str(merged, "ZALO_DEFAULT_COVER")) else None,
        public_media_dir=Path(public_dir) if public_dir else None,
        public_media_base_url=_str(merged, "PUBLIC_MEDIA_BASE_URL").rstrip("/"),
        agencies_file=Path(_str(merged, "AGENCIES_FILE", "agencies.csv")),
        units_file=Path(units) if (units := _str(merged, "UNITS_FILE")) else None,
        default_share_with=_str(merged, "DEFAULT_SHARE_WITH", "tat-ca"),
        default_author=_str(merged, "DEFAULT_AUTHOR", Settings.default_author),
        approvers=_names(merged, "APPROVERS"),
        approval_mode=_choice(merged, "APPROVAL_MODE", APPROVAL_MODES),
        web_host=_str(merged, "WEB_HOST", Settings.web_host),
        web_port=_int(merged, "WEB_PORT", Settings.web_port, minimum=1, maximum=65535),
        web_base_url=_str(merged, "WEB_BASE_URL").rstrip("/"),
        web_secret_key=_str(merged, "WEB_SECRET_KEY"),
        web_upload_max_mb=_int(merged, "WEB_UPLOAD_MAX_MB", 30, minimum=1, maximum=10_000),
        tick_seconds=_int(merged, "TICK_SECONDS", 30, minimum=1, maximum=day),
        retry_base_seconds=_int(merged, "RETRY_BASE_SECONDS", 60, minimum=0, maximum=week),
        retry_max_seconds=_int(merged, "RETRY_MAX_SECONDS", 3600, minimum=0, maximum=week),
        retry_max_attempts=_int(merged, "RETRY_MAX_ATTEMPTS", 5, minimum=1, maximum=1_000),
        lease_seconds=_int(merged, "LEASE_SECONDS", 300, minimum=10, maximum=day),
        worker_takeover_seconds=_int(merged, "WORKER_TAKEOVER_SECONDS", 6, minimum=2, maximum=3600),
        unit_threads=_int(merged, "UNIT_THREADS", 4, minimum=1, maximum=32),
        log_dir=Path(_str(merged, "LOG_DIR", "logs")),
        media_cache_dir=Path(_str(merged, "MEDIA_CACHE_DIR", "data/media_cache")),
        media_max_pixels=_int(merged, "MEDIA_MAX_PIXELS", 80_000_000, minimum=1_000_000),
        media_cache_days=_int(merged, "MEDIA_CACHE_DAYS", 60, maximum=36_500),
        video_max_seconds=_int(merged, "VIDEO_MAX_SECONDS", 1200, minimum=3, maximum=day),
        video_max_mb=_int(merged, "VIDEO_MAX_MB", 1000, minimum=1, maximum=1_000_000),
        zalo_video_max_mb=_int(merged, "ZALO_VIDEO_MAX_MB", 50, minimum=1, maximum=1_000_000),
        video_transcode_timeout_seconds=_int(
            merged, "VIDEO_TRANSCODE_TIMEOUT_SECONDS", 3600, minimum=10, maximum=day
        ),
        video_transcode_memory_mb=_int(
            merged, "VIDEO_TRANSCODE_MEMORY_MB", 3072, minimum=256, maximum=1_000_000
        ),
        report_dir=Path(_str(merged, "REPORT_DIR", "reports")),
        plan_posts_per_month_facebook=_int(
            merged, "PLAN_POSTS_PER_MONTH_FACEBOOK", 8, maximum=10_000
        ),
        plan_posts_per_month_zalo=_int(merged, "PLAN_POSTS_PER_MONTH_ZALO", 4, maximum=10_000),
        plan_share_rate_percent=_int(merged, "PLAN_SHARE_RATE_PERCENT", 80, maximum=100),
        share_on_time_hours=_float(merged, "SHARE_ON_TIME_HOURS", 24.0, maximum=year),
        report_unit_name=_str(merged, "REPORT_UNIT_NAME", Settings.report_unit_name),
        report_parent_body=_str(merged, "REPORT_PARENT_BODY", Settings.report_parent_body),
        report_place=_str(merged, "REPORT_PLACE", Settings.report_place),
        report_number_code=_str(merged, "REPORT_NUMBER_CODE", Settings.report_number_code),
        report_subject=_str(merged, "REPORT_SUBJECT", Settings.report_subject),
        report_basis=_str(merged, "REPORT_BASIS"),
        report_signer_authority=_str(merged, "REPORT_SIGNER_AUTHORITY"),
        report_signer_title=_str(merged, "REPORT_SIGNER_TITLE", Settings.report_signer_title),
        report_signer_name=_str(merged, "REPORT_SIGNER_NAME"),
        report_recipients=_str(merged, "REPORT_RECIPIENTS", Settings.report_recipients),
        alert_urls=_alert_urls(merged),
        alert_quiet_hours=_quiet_hours(merged),
        alert_digest_hour=_int(merged, "ALERT_DIGEST_HOUR", 16, minimum=-1, maximum=23),
        alert_heartbeat_minutes=_int(
            merged, "ALERT_HEARTBEAT_MINUTES", 5, minimum=1, maximum=24 * 60
        ),
        alert_late_minutes=_int(merged, "ALERT_LATE_MINUTES", 10, minimum=1, maximum=24 * 60),
        extra=dict(merged),
    )
    if settings.retry_max_seconds < settings.retry_base_seconds:
        raise _BadSetting(
            "RETRY_MAX_SECONDS",
            "Cấu hình RETRY_MAX_SECONDS phải lớn hơn hoặc bằng RETRY_BASE_SECONDS.",
        )
    return settings


#: a new target starts where a scheme ("mailto://") follows whitespace or a comma
_URL_SPLIT = re.compile(r"[\s,;]+(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _alert_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    """ALERT_URLS: Apprise URLs separated by spaces, commas or new lines; each is a secret."""
    raw = env.get("ALERT_URLS", "").strip()
    if not raw:
        return ()
    urls = tuple(dict.fromkeys(u.strip(" ,;") for u in _URL_SPLIT.split(raw) if u.strip(" ,;")))
    for number, url in enumerate(urls, 1):
        register_secret(url)
        if "://" not in url:
            raise _BadSetting(
                "ALERT_URLS",
                f"Cấu hình ALERT_URLS: địa chỉ thứ {number} không có dạng dịch vụ://… (ví dụ "
                "mailtos://tai-khoan:mat-khau@mail.quangngai.gov.vn?to=nguoi-nhan@quangngai.gov.vn"
                "). Viết mỗi địa chỉ Apprise cách nhau bằng dấu cách hoặc dấu phẩy.",
            )
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        host = parts.netloc.rpartition("@")[2]
        # the password, path pieces (a webhook's key) and a "host" that is no host name
        # (Telegram's bot token) are secrets
        token_host = host if "." not in host else ""
        for piece in (
            userinfo,
            userinfo.partition(":")[2],
            token_host,
            *_long(parts.path.split("/")),
        ):
            register_secret(piece)
    return urls


def _long(pieces: list[str]) -> list[str]:
    """Path pieces long enough to be keys (not words such as "hooks" a log must keep)."""
    return [piece for piece in pieces if len(piece) >= 16]


def _quiet_hours(env: Mapping[str, str]) -> str:
    """ALERT_QUIET_HOURS: "HH:MM-HH:MM" (may wrap past midnight), or empty for none."""
    if "ALERT_QUIET_HOURS" not in env:
        return Settings.alert_quiet_hours
    raw = env["ALERT_QUIET_HOURS"].strip()
    if not raw:
        return ""
    match = _QUIET.match(raw)
    if (
        not match
        or int(match[1]) > 23
        or int(match[3]) > 23
        or max(int(match[2]), int(match[4])) > 59
    ):
        raise _BadSetting(
            "ALERT_QUIET_HOURS",
            f"Cấu hình ALERT_QUIET_HOURS={raw!r} không hợp lệ: viết giờ bắt đầu và giờ kết "
            "thúc dạng 21:00-06:00, hoặc để trống nếu không cần giờ yên lặng.",
        )
    return f"{int(match[1]):02d}:{match[2]}-{int(match[3]):02d}:{match[4]}"


def setting_names() -> list[str]:
    """Every environment variable name the tool reads (documentation tests use it)."""
    names = [f.name.upper() for f in fields(Settings) if f.name != "extra"]
    return names
