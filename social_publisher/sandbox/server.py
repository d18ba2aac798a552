"""The sandbox server: one local HTTP/1.1 port that hosts the platform emulators ("halves").

Why: the demo, staff training and the end-to-end tests run the real clients over real
sockets with no credentials, and benchmarks count the calls a client makes.

A half is any object with ``name: str``, ``handle(req) -> SandboxResponse | None``
(None: "not mine") and ``state() -> dict``; optional ``reset()`` and ``env() -> dict``
(the settings a client needs to talk to it). Halves are built as ``Half(ctx, **options)``
with a :class:`HalfContext` (shared faults, the sandbox clock, the public media folder and
the base URL); ``Sandbox(graph_budget=10, zalo_quota=3)`` routes options by prefix
(``graph_`` → the Graph half, ``zalo_`` → the Zalo half, prefix stripped). The Zalo half is
optional: it is loaded from ``social_publisher.sandbox.zalo.ZaloHalf`` when that exists.

Each half handles one request at a time (a lock per half: the half's own ``lock`` attribute
when it has one, so its test helpers can share it), and halves never block each other.

Framework endpoints (never counted, never faulted):

- ``GET /__sandbox/state``: every half's state, request counts, faults, clock.
- ``POST /__sandbox/reset``: clears every half's state and the request counts
  (fault rules and the clock offset stay: they are the run's configuration).
- ``GET /__sandbox/requests``: ``{"total": N, "routes": {"POST /{version}/{page}/feed": 2, ...},
  "halves": {"graph": N}}``: what benchmarks count.
- ``GET|POST /__sandbox/faults``: read / replace the fault spec (body: the spec text, or
  JSON ``{"spec": "...", "seed": N}``). See :mod:`social_publisher.sandbox.faults`.
- ``GET|POST /__sandbox/clock``: read the sandbox time / move it
  (JSON ``{"advance_seconds": N}`` or ``{"now": "<ISO 8601>"}``): scheduled posts go live.
- ``GET|HEAD /media/<name>``: files of ``public_dir`` (path traversal refused).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import mimetypes
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .faults import Faults
from .graph import GraphHalf
from .halves import DropConnection, HalfContext, SandboxRequest, SandboxResponse

log = logging.getLogger("social_publisher.sandbox")

HALF_PREFIXES = ("graph", "zalo", "graphvideo", "zalovideo")


def _load_zalo(ctx: HalfContext, options: dict[str, Any]) -> Any:
    """The Zalo half when its module exists (it is written separately)."""
    name = f"{__package__}.zalo"
    try:
        zalo = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        if options:
            raise TypeError(
                f"zalo_* options given but the Zalo half is missing: {options}"
            ) from None
        return None
    return zalo.ZaloHalf(ctx, **options)


class Sandbox:
    """The emulator: Graph half + Zalo half behind one local port, with fault injection."""

    def __init__(
        self,
        *,
        faults: str | None = None,
        seed: int | None = None,
        public_dir: Path | None = None,
        clock: Callable[[], datetime] | None = None,
        **half_options: Any,
    ) -> None:
        self.faults = Faults(faults, seed=seed)
        #: seconds every request waits before it is handled (a platform's round trip, for
        #: benchmarks); requests still overlap
        self.latency = 0.0
        self.public_dir = Path(public_dir) if public_dir else None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._offset = timedelta(0)
        self._lock = threading.RLock()
        #: tests: called with each request a half has processed, before it is answered
        #: (a crash test kills the client there: the platform did it, the answer is lost)
        self.after_processing: Callable[[SandboxRequest], None] | None = None
        self._counts: Counter[str] = Counter()
        self._half_counts: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = "http://127.0.0.1"

        per_half: dict[str, dict[str, Any]] = {p: {} for p in HALF_PREFIXES}
        for key, value in half_options.items():
            prefix, _, rest = key.partition("_")
            if prefix not in per_half or not rest:
                raise TypeError(
                    f"unknown sandbox option {key!r} "
                    "(use graph_*, zalo_*, graphvideo_* or zalovideo_*)"
                )
            per_half[prefix][rest] = value
        self.ctx = HalfContext(self.faults, self.now, self.public_dir, lambda: self.url)
        self.graph = GraphHalf(self.ctx, **per_half["graph"])
        self.zalo = _load_zalo(self.ctx, per_half["zalo"])
        # the video halves answer their own routes first and share their parent's state
        from .graph_video import GraphVideoHalf
        from .zalo_video import ZaloVideoHalf

        self.graph_video = GraphVideoHalf(self.ctx, self.graph, **per_half["graphvideo"])
        self.zalo_video = (
            ZaloVideoHalf(self.ctx, self.zalo, **per_half["zalovideo"]) if self.zalo else None
        )
        self.halves: list[Any] = [
            h for h in (self.graph_video, self.graph, self.zalo_video, self.zalo) if h is not None
        ]
        # One lock per half (its own ``lock`` if it has one): a half may call another over
        # HTTP while handling a request (the Zalo half fetches photo URLs) without deadlock.
        self._half_locks: dict[str, Any] = {
            h.name: getattr(h, "lock", None) or threading.RLock() for h in self.halves
        }

    # ------------------------------------------------------------ clock

    def now(self) -> datetime:
        """The sandbox time: the injected clock plus any advance."""
        current = self._clock()
        if current.tzinfo is None:
            raise ValueError("the sandbox clock must return aware datetimes")
        return current + self._offset

    def advance(self, seconds: float) -> None:
        """Move the sandbox time forward (e.g. so a scheduled post goes live)."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    # ------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL (``http://127.0.0.1:54321``)."""
        if self._server is not None:
            return self.url
        handler = type("BoundHandler", (_Handler,), {"sandbox": self})
        server = ThreadingHTTPServer((host, port), handler)
        server.daemon_threads = True
        self._server = server
        shown = host if ":" not in host else f"[{host}]"
        self.url = f"http://{shown}:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, name="sandbox", kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ introspection

    def env(self) -> dict[str, str]:
        """Settings (environment variables) that point the tool's clients at this sandbox."""
        merged: dict[str, str] = {}
        for half in self.halves:
            if hasattr(half, "env"):
                merged.update(half.env())
        return merged

    def request_counts(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._counts.values()),
                "routes": dict(sorted(self._counts.items())),
                "halves": dict(self._half_counts),
            }

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = {"now": self.now().isoformat(), "url": self.url}
        for half in self.halves:
            with self._half_locks[half.name]:
                result[half.name] = half.state()
        result["requests"] = self.request_counts()
        result["faults"] = self.faults.describe()
        return result

    def reset(self) -> None:
        for half in self.halves:
            if hasattr(half, "reset"):
                with self._half_locks[half.name]:
                    half.reset()
        with self._lock:
            self._counts.clear()
            self._half_counts.clear()

    # ------------------------------------------------------------ dispatch

    def dispatch(self, req: SandboxRequest) -> SandboxResponse:
        """Answer one request (raises :class:`DropConnection` to drop it)."""
        if req.path.startswith("/__sandbox/"):
            return self._internal(req)
        if req.path.startswith("/media/") and req.method in ("GET", "HEAD"):
            return self._media(req)
        for half in self.halves:
            with self._half_locks[half.name]:
                try:
                    response = half.handle(req)
                except DropConnection:
                    self._count(half, req)
                    raise
            if response is not None:
                self._count(half, req)
                hook = self.after_processing
                if hook is not None:
                    hook(req)
                if response.drop:
                    raise DropConnection()
                answer: SandboxResponse = response
                return answer
        return SandboxResponse.json(
            {"error": {"message": f"sandbox: no emulator serves {req.method} {req.path}"}}, 404
        )

    def _count(self, half: Any, req: SandboxRequest) -> None:
        with self._lock:
            self._counts[f"{req.method} {req.route or req.path}"] += 1
            self._half_counts[half.name] += 1

    def _internal(self, req: SandboxRequest) -> SandboxResponse:
        what = req.path[len("/__sandbox/") :].strip("/")
        if what == "state" and req.method == "GET":
            return SandboxResponse.json(self.state())
        if what == "reset" and req.method == "POST":
            self.reset()
            return SandboxResponse.json({"success": True})
        if what == "requests" and req.method == "GET":
            return SandboxResponse.json(self.request_counts())
        if what == "faults":
            if req.method == "POST":
                try:
                    self._set_faults(req)
                except ValueError as exc:
                    return SandboxResponse.json({"error": {"message": str(exc)}}, 400)
            return SandboxResponse.json(self.faults.describe())
        if what == "clock":
            if req.method == "POST":
                payload = req.json() or {}
                with self._lock:
                    if "now" in payload:
                        target = datetime.fromisoformat(str(payload["now"]))
                        self._offset = target - self._clock()
                    self._offset += timedelta(seconds=float(payload.get("advance_seconds", 0)))
            return SandboxResponse.json({"now": self.now().isoformat()})
        return SandboxResponse.json({"error": {"message": f"unknown: {req.path}"}}, 404)

    def _set_faults(self, req: SandboxRequest) -> None:
        text = req.body.decode("utf-8").strip()
        if text.startswith("{"):
            payload = json.loads(text)
            self.faults.set(payload.get("spec"), seed=payload.get("seed"))
        else:
            self.faults.set(text)

    def _media(self, req: SandboxRequest) -> SandboxResponse:
        path = self.ctx.public_file(req.path[len("/media/") :])
        if path is None:
            return SandboxResponse.text("not found", 404)
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return SandboxResponse(200, {"Content-Type": ctype}, path.read_bytes())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    sandbox: Sandbox

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox %s", format % args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        req = SandboxRequest.build(
            self.command, self.path, headers=dict(self.headers.items()), body=body
        )
        if self.sandbox.latency > 0:
            time.sleep(self.sandbox.latency)
        try:
            response = self.sandbox.dispatch(req)
        except DropConnection:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception as exc:  # a sandbox bug must show, not hang the client
            log.error("sandbox error on %s %s\n%s", req.method, req.path, traceback.format_exc())
            response = SandboxResponse.json(
                {"error": {"message": f"sandbox internal error: {exc!r}", "code": 1}}, 500
            )
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # the client went away (a worker killed mid-call, as the crash tests do): what the
            # platform did stands; there is nobody to answer
            log.debug("sandbox: client of %s %s gone before the answer", req.method, req.path)


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    faults: str | None = None,
    seed: int | None = None,
    public_dir: Path | None = None,
    on_ready: Callable[[Sandbox], None] | None = None,
    **half_options: Any,
) -> None:
    """Run a sandbox in the foreground until interrupted (the ``sandbox`` command)."""
    sandbox = Sandbox(faults=faults, seed=seed, public_dir=public_dir, **half_options)
    sandbox.start(host, port)
    if on_ready is not None:
        on_ready(sandbox)
    try:
        while True:
            time.sleep(1)  # interruptible by Ctrl+C on Windows too
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
