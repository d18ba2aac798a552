"""Serving the console with uvicorn: on its own (``web``) or beside the daemon (``run --web``)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..config import Settings
from ..services.console_actions import Runner
from ..store import Database
from ..units import Unit
from .app import create_app

log = logging.getLogger("social_publisher.web")


def _config(app: Any, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # ours (security.AccessLog) never writes a feed URL's secret
        log_config=None,  # the package's logging (services.logs) with its redaction filter
        lifespan="off",
        server_header=False,
        proxy_headers=False,
    )


class BackgroundServer:
    """uvicorn in a thread of this process (the daemon's, or a test's)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(_config(app, host, port))
        self.thread = threading.Thread(target=self.server.run, name="web-console", daemon=True)

    def start(self, timeout: float = 15.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise OSError("the web console did not start (is the port already used?)")
            time.sleep(0.02)
        return self

    @property
    def port(self) -> int:
        sockets = self.server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve(
    settings: Settings,
    db: Database,
    *,
    host: str,
    port: int,
    runner: Runner | None = None,
    units: list[Unit] | None = None,
) -> int:
    """``social-publisher web``: serve ``units`` of the install ``db`` until Ctrl+C."""
    import uvicorn

    from ..services.console_actions import PassWhenFree

    runners: dict[str, Runner] = {}
    if runner is None:  # each unit's pass runs with its own settings and handle
        for unit in units or []:
            runners[unit.id] = PassWhenFree(unit.settings, db.for_unit(unit.id))
        runner = PassWhenFree(settings, db)
    app = create_app(settings, db, units=units, runner=runner, runners=runners)
    log.info("Trang quản trị: http://%s:%s/", host, port)
    uvicorn.Server(_config(app, host, port)).run()
    return 0


def start_beside(
    settings: Settings, db: Database, runner: Runner, *, units: list[Unit] | None = None
) -> BackgroundServer:
    """``run --web``: the console of ``units`` in a thread of the daemon's process."""
    app = create_app(settings, db, units=units, runner=runner)
    server = BackgroundServer(app, settings.web_host, settings.web_port).start()
    log.info("Trang quản trị: http://%s:%s/", settings.web_host, server.port)
    return server
