"""A separate process that refreshes the Zalo token (run by test_token_processes.py).

Usage: ``python token_worker.py '<json config>'``. It prints ``ready``, waits for a
line on stdin (the start signal, so several workers race), runs its mode, and prints
one JSON line with the sha256 of the access token it ended with (never the token).

Modes: ``refresh`` (``iterations`` times: read the stored token, refresh it),
``crash-after-answer`` / ``crash-before-call`` (``os._exit`` at that stage of a refresh).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys

from social_publisher.channels.http import HttpClient
from social_publisher.channels.zalo import ZaloOAuthClient
from social_publisher.config import load_settings
from social_publisher.services.zalo_tokens import DbTokenStore
from social_publisher.store import Database


def main() -> int:
    config = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = load_settings(config["env"], dotenv_path=None)
    connect: dict[str, object] = {}
    if config.get("search_path"):
        connect["connect_args"] = {"options": f"-c search_path={config['search_path']}"}
    db = Database(settings.database_url, **connect)
    mode = config["mode"]

    def hook(stage: str) -> None:
        if mode == f"crash-{stage.replace('_', '-')}":
            os._exit(17)

    store = DbTokenStore(
        db,
        settings,
        ZaloOAuthClient(settings, HttpClient("zalo", read_retries=0)),
        hook=hook,
    )
    print("ready", flush=True)
    sys.stdin.readline()
    token = ""
    for _ in range(int(config.get("iterations", 1))):
        pair = store.load()
        assert pair is not None
        token = store.refresh(pair.access_token)
    print(json.dumps({"access_sha256": hashlib.sha256(token.encode()).hexdigest()}), flush=True)
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
