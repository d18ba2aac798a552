"""Zalo fetches article images itself, so renditions must sit at public URLs first.

A rendition is copied into ``PUBLIC_MEDIA_DIR`` (a folder a web server
publishes at ``PUBLIC_MEDIA_BASE_URL``) under an ASCII content-hash name:
Zalo refused URLs with spaces or Vietnamese letters, and a content name means
an edited photo never reuses a URL Zalo may have cached. The copy is atomic
(temp file + rename) so the web server never serves half a file, and every
URL is fetched back and compared byte for byte before an article names it:
an article whose cover Zalo cannot fetch fails late (-200 at verify) and
costs a quota slot, while a failed check here costs nothing.

A fetch-back from the office PC proves the web server serves the folder, not that
Zalo's servers can reach it: so the host of ``PUBLIC_MEDIA_BASE_URL`` is judged too
(:func:`judge_host`): a private, loopback, link-local or reserved address, a bare office
host name, a special-use name (``.local``, ``.lan``, ``.test``…) or a name that does not
resolve to public addresses is an error, plain http a warning. The rule is "reachable
from where the Zalo API runs": when ``ZALO_OPENAPI_URL`` itself points at this machine
(the sandbox), a loopback media URL is right. A bad host is a setup problem of the Zalo
channel (:class:`PublicMediaSetupError`), never a problem of the post.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import secrets
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from ..config import Settings
from ..errors import ChannelError, PublicMediaError, PublicMediaSetupError
from ..numbers import vn_megabytes
from .base import Diagnosis, OutgoingImage
from .http import HttpClient

log = logging.getLogger("social_publisher.public_media")

_ALLOWED_SUFFIXES = {".jpg": ".jpg", ".jpeg": ".jpg", ".png": ".png"}
#: Zalo refuses article images over 1 MB
MAX_BYTES = 1024 * 1024


#: host name -> its IP addresses; raises OSError when the name does not resolve
Resolver = Callable[[str], list[str]]
#: names that never resolve on the public Internet (RFC 6761/6762/8375 and office habits)
SPECIAL_SUFFIXES = (
    ".local",
    ".localhost",
    ".localdomain",
    ".lan",
    ".home",
    ".home.arpa",
    ".internal",
    ".intranet",
    ".corp",
    ".private",
    ".test",
    ".example",
    ".invalid",
)
_FIX = (
    "Sửa PUBLIC_MEDIA_BASE_URL trong .env thành địa chỉ công khai trên Internet của thư mục "
    "PUBLIC_MEDIA_DIR (tên miền có trong DNS công cộng, ví dụ "
    "https://ducpho.quangngai.gov.vn/cds-media, do máy chủ web của thị xã phục vụ), rồi chạy "
    "'social-publisher doctor' và 'social-publisher retry'."
)


def system_resolver(host: str) -> list[str]:
    """The addresses the system resolver gives for ``host`` (raises OSError if none)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class HostVerdict:
    """One finding about the public media host; ``level``: ok | warning | error."""

    level: str
    message: str


def _address_kind(address: str) -> str | None:
    """Why ``address`` is not reachable from the Internet, or None when it is public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "địa chỉ loopback (chỉ chính máy này gọi được)"
    if ip.is_link_local:
        return "địa chỉ link-local (169.254.x.x / fe80::, chỉ trong một đoạn mạng)"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "địa chỉ dành riêng, không dùng được trên Internet"
    if ip.is_private:
        return "địa chỉ mạng nội bộ (10.x, 172.16–31.x, 192.168.x…)"
    if not ip.is_global:
        return "địa chỉ dành riêng, không dùng được trên Internet"
    return None


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def zalo_runs_here(settings: Settings) -> bool:
    """True when ``ZALO_OPENAPI_URL`` points at this machine (the sandbox)."""
    return is_loopback_host(urlsplit(settings.zalo_openapi_url).hostname or "")


def judge_host(settings: Settings, resolver: Resolver | None) -> list[HostVerdict]:
    """Can the servers behind ``ZALO_OPENAPI_URL`` fetch from ``PUBLIC_MEDIA_BASE_URL``?

    ``resolver`` None skips the DNS look-up (``status`` judges without the network).
    """
    base = settings.public_media_base_url
    shown = f"PUBLIC_MEDIA_BASE_URL={base}"
    parts = urlsplit(base)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return [
            HostVerdict(
                "error",
                f"{shown} không phải địa chỉ web (cần dạng https://tên-miền/thư-mục). {_FIX}",
            )
        ]
    out: list[HostVerdict] = []
    local_zalo = zalo_runs_here(settings)
    problem: str | None = None
    if local_zalo and is_loopback_host(host):
        out.append(
            HostVerdict(
                "ok",
                f"{shown}: địa chỉ trên chính máy này, đúng vì Zalo API (ZALO_OPENAPI_URL) cũng "
                "chạy trên máy này (sandbox).",
            )
        )
        return out
    kind = _address_kind(host)
    if kind is not None:
        problem = f"máy chủ {host} là {kind}"
    elif host == "localhost" or host.endswith(".localhost"):
        problem = f"máy chủ {host} là tên của chính máy này"
    elif "." not in host and ":" not in host:
        problem = f"“{host}” là tên máy trong mạng văn phòng, không phải tên miền trên Internet"
    elif host.endswith(SPECIAL_SUFFIXES):
        problem = f"tên miền {host} là tên dành riêng cho mạng nội bộ hoặc thử nghiệm"
    elif resolver is not None and _address_kind(host) is None and not _is_ip(host):
        try:
            addresses = resolver(host)
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            problem = f"tên miền {host} không phân giải được trong DNS công cộng"
        else:
            inner = [a for a in addresses if _address_kind(a) is not None]
            if inner:
                problem = f"tên miền {host} trỏ về {', '.join(inner)}: {_address_kind(inner[0])}"
    if problem is not None:
        out.append(
            HostVerdict(
                "error",
                f"{shown}: {problem}, nên máy chủ của Zalo không tải được ảnh bài viết (bài sẽ "
                f"lỗi -200 khi Zalo xử lý, dù máy văn phòng tải được). {_FIX}",
            )
        )
    if parts.scheme == "http":
        out.append(
            HostVerdict(
                "warning",
                f"{shown} dùng http: nên dùng https (Zalo và trình duyệt tin cậy hơn); cài "
                "chứng chỉ cho máy chủ web rồi đổi thành https://.",
            )
        )
    if not out:
        out.append(
            HostVerdict(
                "ok", f"{shown}: tên miền công khai, máy chủ của Zalo truy cập được qua Internet."
            )
        )
    return out


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def public_name(data: bytes, suffix: str) -> str:
    """The ASCII, content-addressed file name a rendition is published under."""
    return f"{_sha256(data)[:32]}{_ALLOWED_SUFFIXES.get(suffix.lower(), '.jpg')}"


def ascii_url(url: str) -> str:
    """``url`` with its path percent-encoded, so only ASCII leaves the office."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii() and parts.hostname:
        host = parts.hostname.encode("idna").decode("ascii")
        netloc = f"{host}:{parts.port}" if parts.port else host
    path = quote(parts.path, safe="/%:@!$&'()*+,;=")
    return urlunsplit((parts.scheme, netloc, path, quote(parts.query, safe="=&%"), ""))


class PublicMedia:
    """Places renditions at public URLs and proves they are served."""

    def __init__(
        self,
        settings: Settings,
        http: HttpClient | None = None,
        *,
        resolver: Resolver | None = system_resolver,
    ) -> None:
        self.settings = settings
        self.http = http or HttpClient("public_media", read_retries=1)
        #: how host names are resolved for :func:`judge_host` (tests inject one)
        self.resolver = resolver

    def require_reachable_host(self) -> None:
        """Raise :class:`PublicMediaSetupError` when Zalo cannot reach the public media host."""
        for verdict in judge_host(self.settings, self.resolver):
            if verdict.level == "error":
                raise PublicMediaSetupError(verdict.message, platform="zalo")

    @property
    def directory(self) -> Path:
        if not self.settings.public_media_enabled or self.settings.public_media_dir is None:
            missing = ", ".join(self.settings.missing_for("public_media"))
            raise PublicMediaError(
                "Chưa cấu hình thư mục ảnh công khai cho Zalo (thiếu "
                f"{missing}). Zalo tự tải ảnh bài viết từ địa chỉ công khai: đặt PUBLIC_MEDIA_DIR "
                "là thư mục một máy chủ web đang phục vụ, và PUBLIC_MEDIA_BASE_URL là địa chỉ "
                "của thư mục đó, trong tệp .env."
            )
        return self.settings.public_media_dir

    def url_for(self, name: str) -> str:
        return ascii_url(f"{self.settings.public_media_base_url.rstrip('/')}/{quote(name)}")

    # ------------------------------------------------------------ publishing

    def publish(self, image: OutgoingImage) -> str:
        """Copy one rendition to the public folder; return its checked public URL."""
        try:
            data = image.path.read_bytes()
        except OSError as exc:
            raise PublicMediaError(
                f"Không đọc được ảnh {image.path}: {exc.strerror or exc}. "
                "Chạy lại để tạo lại ảnh cho Zalo."
            ) from None
        if len(data) > MAX_BYTES:
            raise PublicMediaError(
                f"Ảnh {image.path.name} nặng {vn_megabytes(len(data), binary=True)}, Zalo chỉ "
                "nhận ảnh tối đa 1 MB: ảnh cho Zalo phải được tạo lại."
            )
        name = public_name(data, image.path.suffix)
        target = self.directory / name
        self._place(target, data)
        url = self.url_for(name)
        self.check(url, _sha256(data))
        return url

    def publish_all(self, images: list[OutgoingImage]) -> dict[Path, str]:
        """Public URL of each rendition that has none yet, keyed by its local path.

        The host is judged first: an unreachable one stops the channel before anything is
        copied or sent (:class:`PublicMediaSetupError`).
        """
        _ = self.directory  # a missing configuration is reported first
        self.require_reachable_host()
        urls: dict[Path, str] = {}
        for image in images:
            if image.public_url is None and image.path not in urls:
                urls[image.path] = self.publish(image)
        return urls

    def _place(self, target: Path, data: bytes) -> None:
        try:
            if target.is_file() and _sha256(target.read_bytes()) == _sha256(data):
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=target.suffix, dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                # mkstemp makes 0600 files; the web server must be able to read them.
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise PublicMediaError(
                f"Không chép được ảnh vào thư mục công khai {target.parent}: "
                f"{exc.strerror or exc}. Kiểm tra PUBLIC_MEDIA_DIR và quyền ghi thư mục."
            ) from None

    def check(self, url: str, sha256: str) -> None:
        """Fetch ``url`` back and compare its bytes; a clear error when it is not served."""
        hint = (
            "kiểm tra máy chủ web phục vụ thư mục PUBLIC_MEDIA_DIR "
            f"({self.settings.public_media_dir}) tại PUBLIC_MEDIA_BASE_URL "
            f"({self.settings.public_media_base_url})"
        )
        try:
            response = self.http.request("GET", url)
        except ChannelError as exc:
            raise PublicMediaError(
                f"Không tải được ảnh từ địa chỉ công khai {url}: {exc.platform_message}. "
                f"Zalo sẽ không lấy được ảnh này: {hint}."
            ) from None
        if response.status_code != 200:
            raise PublicMediaError(
                f"Không tải được ảnh từ địa chỉ công khai {url}: máy chủ trả lỗi HTTP "
                f"{response.status_code}. Zalo sẽ không lấy được ảnh này: {hint}."
            )
        if _sha256(response.content) != sha256:
            raise PublicMediaError(
                f"Ảnh tải về từ địa chỉ công khai {url} khác với ảnh đã chép "
                f"({len(response.content)} byte): {hint} (đúng thư mục, không nén hay đổi ảnh)."
            )

    # ------------------------------------------------------------ doctor

    def diagnose(self) -> list[Diagnosis]:
        """Write a probe file into the public folder and fetch it back over HTTP."""
        name = "zalo.public_media"
        if not self.settings.public_media_enabled:
            missing = ", ".join(self.settings.missing_for("public_media"))
            return [
                Diagnosis(
                    name,
                    False,
                    f"Chưa cấu hình ảnh công khai cho Zalo (thiếu {missing}): không đăng được "
                    "bài Zalo có ảnh.",
                )
            ]
        host = [
            Diagnosis(
                "zalo.public_media.host",
                verdict.level != "error",
                verdict.message,
                warning=verdict.level == "warning",
            )
            for verdict in judge_host(self.settings, self.resolver)
        ]
        if any(not d.ok for d in host):
            # Zalo cannot reach it: a fetch-back from here would prove nothing (and would
            # send the office PC to a host of the office network)
            return host
        payload = f"social-publisher probe {secrets.token_hex(16)}\n".encode("ascii")
        probe = f"sp-probe-{secrets.token_hex(8)}.txt"
        try:
            self._place(self.directory / probe, payload)
            url = self.url_for(probe)
            self.check(url, _sha256(payload))
        except PublicMediaError as exc:
            return [*host, Diagnosis(name, False, exc.message)]
        finally:
            with contextlib.suppress(OSError):
                (self.directory / probe).unlink()
        return [
            *host,
            Diagnosis(
                name,
                True,
                "Thư mục ảnh công khai được phục vụ đúng tại "
                f"{self.settings.public_media_base_url}.",
            ),
        ]
