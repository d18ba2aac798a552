"""Real local alert targets: an SMTP server (aiosmtpd, with a login) and a JSON webhook.

Both listen on 127.0.0.1 over real sockets; nothing leaves the machine. The webhook
can be down (its port closed), and can hang (accept, never answer) to stand for a
send that a crash interrupts.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from social_publisher.config import Settings, load_settings
from social_publisher.services import alert_outbox
from social_publisher.store import Database, Post, Publication

SMTP_USER = "vhtt.ducpho"
SMTP_PASSWORD = "Mk-hop-thu-2026-bi-mat"
WEBHOOK_KEY = "khoa-webhook-0123456789abcdef"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 in Đức Phổ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@dataclass
class Mailbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def texts(self) -> list[str]:
        out = []
        for msg in self.messages:
            body = msg.get_body(preferencelist=("plain",))
            out.append(f"{msg['Subject']}\n{body.get_content() if body else ''}")
        return out


class _Smtp:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        self.box.raw.append(data)
        self.box.messages.append(
            email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[arg-type]
        )
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    yield from start_mailbox()


def start_mailbox() -> Iterator[Mailbox]:
    """A real SMTP server with a login on a free port, until the generator is closed."""
    box = Mailbox(free_port())

    def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == SMTP_PASSWORD.encode()
        if ok:
            box.logins.append(data.login.decode())
        return AuthResult(success=ok)

    controller = Controller(
        _Smtp(box),
        hostname="127.0.0.1",
        port=box.port,
        authenticator=auth,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield box
    controller.stop()


class Webhook:
    """A JSON webhook on a fixed port that can be started, stopped and made to hang."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.hang = threading.Event()
        self.hung = threading.Event()
        self.release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if hook.hang.is_set():
                    hook.hung.set()  # the sender is inside its send: nothing is read
                    hook.release.wait(30)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                hook.paths.append(self.path)
                hook.received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/canh-bao/{WEBHOOK_KEY}"

    def texts(self) -> list[str]:
        return [f"{m.get('title')}\n{m.get('message')}" for m in self.received]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    hook.start()
    yield hook
    hook.stop()


def mail_url(box: Mailbox) -> str:
    return (
        f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{box.port}?mode=insecure"
        "&from=vhtt@ducpho.gov.vn&to=lanh.dao@ducpho.gov.vn"
    )


@pytest.fixture
def alert_env(env: dict[str, str], mailbox: Mailbox, webhook: Webhook) -> dict[str, str]:
    return {
        **env,
        "ALERT_URLS": f"{mail_url(mailbox)} {webhook.url}",
        "WEB_BASE_URL": "https://cds.ducpho.gov.vn",
        "ALERT_QUIET_HOURS": "21:00-06:00",
    }


@pytest.fixture
def alert_settings(alert_env: dict[str, str]) -> Settings:
    return load_settings(alert_env, dotenv_path=None)


@pytest.fixture
def listening(alert_settings: Settings) -> Iterator[None]:
    """The lifecycle listener, removed afterwards (it is process-wide)."""
    alert_outbox.install(tz=alert_settings.tz)
    yield
    alert_outbox.uninstall()


def make_post(
    db: Database, *, title: str = "Ngày hội chuyển đổi số", due: datetime = T0, state: str = "due"
) -> tuple[int, int]:
    """A post with one Facebook publication; (post id, publication id)."""
    with db.session() as s:
        post = Post(folder=f"2026-03-02-{title[:10]}", title=title, publish_at=due)
        s.add(post)
        s.flush()
        pub = Publication(post_id=post.id, channel="facebook", state=state, due_at=due)
        s.add(pub)
        s.commit()
        return post.id, pub.id


def secrets_absent(*texts: str | bytes) -> None:
    for text in texts:
        data = text if isinstance(text, str) else text.decode("utf-8", "replace")
        assert SMTP_PASSWORD not in data
        assert WEBHOOK_KEY not in data


def dump_tables(db: Database) -> str:
    with db.engine.connect() as conn:
        rows = []
        for table in ("alerts", "alert_deliveries", "audit_log", "meta"):
            rows += [repr(tuple(r)) for r in conn.exec_driver_sql(f"SELECT * FROM {table}")]
    return "\n".join(rows)


@pytest.fixture(autouse=True)
def _no_apprise_threads() -> Iterator[None]:
    """Apprise keeps a shared thread pool; the daemon only runs Apprise in a child process,
    but these tests call it here: shut the pool so no thread outlives the test."""
    yield
    import apprise.apprise as core

    for name in ("_shared_executor", "_coordinator_executor"):
        executor = getattr(core, name, None)
        if executor is not None:
            executor.shutdown(wait=True)
            setattr(core, name, None)
