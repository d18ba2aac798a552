"""The command line in a child process, with a hook on schema creation, for kill tests.

``python migration_worker.py MODE MARKER [GO] -- ARGV...``:

* ``pause``: once ``CREATE TABLE agencies`` has run, write MARKER and sleep (the test then
  SIGKILLs this process: the first table exists, the migration is half done);
* ``slow``: wait until the file GO exists (processes start together), then sleep a little
  after every ``CREATE TABLE`` so concurrent migrations overlap.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def main() -> int:
    mode, marker, *rest = sys.argv[1:]
    split = rest.index("--")
    go, argv = rest[:split], rest[split + 1 :]

    @event.listens_for(Engine, "after_cursor_execute")
    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        head = statement.lstrip()[:60].upper()
        if not head.startswith("CREATE TABLE"):
            return
        if mode == "pause" and "AGENCIES" in head:
            Path(marker).write_text("created", encoding="utf-8")
            time.sleep(120)
        elif mode == "slow":
            time.sleep(0.05)

    if go:
        deadline = time.monotonic() + 30
        while not Path(go[0]).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    from social_publisher.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
