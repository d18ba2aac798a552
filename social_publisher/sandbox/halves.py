"""What a sandbox half sees: the request, the response it answers, the context it shares.

Both halves (:mod:`.graph`, :mod:`.zalo`) and the server (:mod:`.server`) import
these; the halves never import the server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from .faults import Faults


class DropConnection(Exception):
    """Raised by a half after it processed a request: close the socket, answer nothing."""


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {k.lower(): (k, v) for k, v in (items or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart body."""

    filename: str
    content_type: str
    data: bytes


class Form(dict[str, str]):
    """Form fields (first value of each) with the multipart file parts in ``files``."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, UploadedFile] = {}


@dataclass
class SandboxRequest:
    """One HTTP request as the halves see it. A half sets ``route`` (e.g.
    ``"/{version}/{page}/feed"``) so requests are counted per endpoint, not per id."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes = b""
    route: str | None = None
    _form: Form | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        method: str,
        target: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> SandboxRequest:
        """From a method and a request target (``/path?query``): also used for batch entries."""
        parts = urlsplit(target)
        return cls(
            method=method.upper(),
            path=unquote(parts.path) or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=Headers(headers),
            body=body,
        )

    def arg(self, name: str) -> str | None:
        """First query value of ``name``."""
        values = self.query.get(name)
        return values[0] if values else None

    def param(self, name: str) -> str | None:
        """A parameter from the query or the body (Graph accepts either)."""
        value = self.arg(name)
        if value is None and self.method in ("POST", "PUT", "DELETE"):
            value = self.form().get(name)
        return value

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> Form:
        """Fields of an urlencoded or multipart body (parsed once)."""
        if self._form is not None:
            return self._form
        form = Form()
        ctype = self.headers.get("Content-Type", "")
        if ctype.lower().startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + self.body
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not isinstance(name, str):
                    continue
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                filename = part.get_filename()
                if filename is not None:
                    form.files[name] = UploadedFile(filename, part.get_content_type(), data)
                else:
                    charset = part.get_content_charset() or "utf-8"
                    form.setdefault(name, data.decode(charset, errors="replace"))
        elif self.body and not ctype.lower().startswith("application/json"):
            for key, values in parse_qs(
                self.body.decode("utf-8", errors="replace"), keep_blank_values=True
            ).items():
                form[key] = values[0]
        self._form = form
        return form


@dataclass
class SandboxResponse:
    """What a half answers; ``drop=True`` closes the socket without answering."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> SandboxResponse:
        merged = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        return cls(status, merged, body)

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"
    ) -> SandboxResponse:
        return cls(status, {"Content-Type": content_type}, text.encode("utf-8"))

    @classmethod
    def dropped(cls) -> SandboxResponse:
        """'Created, then the connection dropped'."""
        return cls(drop=True)

    def data(self) -> Any:
        """The JSON body, decoded (tests and batch entries use it)."""
        return json.loads(self.body.decode("utf-8")) if self.body else None


class Half(Protocol):
    name: str

    def handle(self, req: SandboxRequest) -> SandboxResponse | None: ...

    def state(self) -> dict[str, Any]: ...


@dataclass
class HalfContext:
    """What the sandbox shares with its halves."""

    faults: Faults
    clock: Callable[[], datetime]
    public_dir: Path | None
    base_url: Callable[[], str]

    def public_file(self, name: str) -> Path | None:
        """The file of ``public_dir`` served at ``/media/<name>``; None if absent or outside."""
        if self.public_dir is None:
            return None
        root = self.public_dir.resolve()
        candidate = (root / unquote(name)).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate

    def read_public(self, url: str) -> bytes | None:
        """Bytes behind a URL this sandbox serves under ``/media/`` (halves fetch no network)."""
        prefix = self.base_url().rstrip("/") + "/media/"
        if not url.startswith(prefix):
            return None
        path = self.public_file(urlsplit(url).path[len("/media/") :])
        return path.read_bytes() if path else None
