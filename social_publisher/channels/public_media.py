"""Zalo fetches article images itself, so renditions must sit at public URLs first.

A rendition is copied into ``PUBLIC_MEDIA_DIR`` (a folder a web server
publishes at ``PUBLIC_MEDIA_BASE_URL``) under an ASCII content-hash name:
Zalo refused URLs with spaces or Vietnamese letters, and a content name means
an edited photo never reuses a URL Zalo may have cached. The copy is atomic
(temp file + rename) so the web server never serves half a file, and every
URL is fetched back and compared byte for byte before an article names it:
an article whose cover Zalo cannot fetch fails late (-200 at verify) and
costs a quota slot, while a failed check here costs nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from ..config import Settings
from ..errors import ChannelError, PublicMediaError
from .base import Diagnosis, OutgoingImage
from .http import HttpClient

log = logging.getLogger("social_publisher.public_media")

_ALLOWED_SUFFIXES = {".jpg": ".jpg", ".jpeg": ".jpg", ".png": ".png"}
#: Zalo refuses article images over 1 MB
MAX_BYTES = 1024 * 1024


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

    def __init__(self, settings: Settings, http: HttpClient | None = None) -> None:
        self.settings = settings
        self.http = http or HttpClient("public_media", read_retries=1)

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
                f"Ảnh {image.path.name} nặng {len(data) / 1024 / 1024:.1f} MB, Zalo chỉ nhận ảnh "
                "tối đa 1 MB: ảnh cho Zalo phải được tạo lại."
            )
        name = public_name(data, image.path.suffix)
        target = self.directory / name
        self._place(target, data)
        url = self.url_for(name)
        self.check(url, _sha256(data))
        return url

    def publish_all(self, images: list[OutgoingImage]) -> dict[Path, str]:
        """Public URL of each rendition that has none yet, keyed by its local path."""
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
        payload = f"social-publisher probe {secrets.token_hex(16)}\n".encode("ascii")
        probe = f"sp-probe-{secrets.token_hex(8)}.txt"
        try:
            self._place(self.directory / probe, payload)
            url = self.url_for(probe)
            self.check(url, _sha256(payload))
        except PublicMediaError as exc:
            return [Diagnosis(name, False, exc.message)]
        finally:
            with contextlib.suppress(OSError):
                (self.directory / probe).unlink()
        return [
            Diagnosis(
                name,
                True,
                "Thư mục ảnh công khai được phục vụ đúng tại "
                f"{self.settings.public_media_base_url}.",
            )
        ]
